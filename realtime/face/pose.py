"""Head pose from a rigid fit of the 3-D mesh to the project's mean face.

Camera frame: x right, y down, z away from the camera (MediaPipe's depth sign), right-handed. The mean face
(realtime/weights/mean_face.npy, made from real faces by training/data/mean_face.py) is stored in its own frontal
frame: subject's right-to-left eye corners along +x, forehead-to-chin along +y, nose towards -z.
"""

from __future__ import annotations

import math

import numpy as np

from realtime.face.types import HeadPose

# Rigid points for the fit: everything but the lips, jaw line below the mouth and eyelids moves little with
# expression; the irises (468+) are left out too. Using all 468 mesh points was measured stable enough, and
# the mean face's own expression is neutral-ish, so a plain unweighted Kabsch fit is used.
FIT_POINTS = slice(0, 468)


def rigid_fit(
    points: np.ndarray, mean_face: np.ndarray, subset: slice | np.ndarray = FIT_POINTS
) -> tuple[np.ndarray, float, np.ndarray]:
    """Least-squares similarity fit points ~ s * R @ mean + t (Umeyama) over `subset` of the points. Returns
    (R (3,3), s, t (3,))."""
    p = np.asarray(points, np.float64)[subset]
    q = np.asarray(mean_face, np.float64)[subset]
    p_mean, q_mean = p.mean(axis=0), q.mean(axis=0)
    pc, qc = p - p_mean, q - q_mean
    cov = pc.T @ qc / len(p)  # (3, 3)
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    scale = float(np.trace(np.diag(sig) @ fix) / max((qc**2).sum() / len(q), 1e-12))
    shift = p_mean - scale * rot @ q_mean
    return rot, scale, shift


def undo_fit(points: np.ndarray, fit: tuple[np.ndarray, float, np.ndarray]) -> np.ndarray:
    """Points (N, 3) mapped back into the reference's frame by the inverse of a `rigid_fit`:
    R^T (p - t) / s, row-wise. This is how a face is seen frontal, at the reference's scale."""
    rot, scale, shift = fit
    return (np.asarray(points, np.float64) - shift) @ rot / max(scale, 1e-9)


def pose_from_rotation(rot: np.ndarray) -> HeadPose:
    """Rotation of the mean face into the camera frame -> yaw, pitch, roll in degrees."""
    forward = rot @ np.array([0.0, 0.0, -1.0])  # where the nose points
    right = rot @ np.array([1.0, 0.0, 0.0])  # the face's own x axis in the image
    yaw = math.degrees(math.atan2(forward[0], -forward[2]))
    pitch = math.degrees(math.atan2(-forward[1], math.hypot(forward[0], forward[2])))
    roll = math.degrees(math.atan2(right[1], right[0]))
    return HeadPose(yaw=yaw, pitch=pitch, roll=roll)


def estimate_pose(landmarks: np.ndarray, mean_face: np.ndarray) -> HeadPose:
    rot, _, _ = rigid_fit(landmarks, mean_face)
    return pose_from_rotation(rot)


def canonical_frame(face: np.ndarray) -> np.ndarray:
    """Express a (478, 3) face in its own frontal frame (see module doc); used to build the mean face."""
    pts = np.asarray(face, np.float64)
    x_axis = pts[263] - pts[33]  # subject's right eye outer corner -> left eye outer corner
    y_axis = pts[152] - pts[10]  # forehead -> chin
    x_axis /= np.linalg.norm(x_axis)
    y_axis -= (y_axis @ x_axis) * x_axis
    y_axis /= np.linalg.norm(y_axis)
    z_axis = np.cross(x_axis, y_axis)
    basis = np.stack([x_axis, y_axis, z_axis])  # rows: the face's axes in camera coordinates
    centered = pts - pts[FIT_POINTS].mean(axis=0)
    scale = np.linalg.norm(pts[263] - pts[33])
    return (centered @ basis.T / scale).astype(np.float32)
