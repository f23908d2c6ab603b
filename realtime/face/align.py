"""Alignment of a face to the 256x256 crop the networks see, and back.

A similarity transform (rotation, uniform scale, shift) puts the eyes' midpoint at EYE_CENTER, removes the
roll of the eye line, and scales by the larger of the eye-to-eye and eye-to-mouth distances (as FFHQ
does), so a turned head (short eye line) still gets a sensible crop.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from realtime.face import topology as topo

CROP_SIZE = 256
EYE_CENTER = (0.5, 0.42)
"""Where the eyes' midpoint lands, as a fraction of the crop's width and height."""
EYE_DISTANCE = 0.25
"""Eye-to-eye distance as a fraction of the crop side (frontal face)."""
MOUTH_DISTANCE = 0.28
"""Eye-midpoint-to-mouth distance as a fraction of the crop side (frontal face)."""


def _eyes_mouth(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pts = np.asarray(landmarks, np.float64)[:, :2]
    eye_r = pts[list(topo.RIGHT_EYE)].mean(axis=0)  # subject's right: image left
    eye_l = pts[list(topo.LEFT_EYE)].mean(axis=0)
    mouth = 0.5 * (pts[topo.MOUTH_LEFT] + pts[topo.MOUTH_RIGHT])
    return eye_r, eye_l, mouth


def inter_ocular(landmarks: np.ndarray) -> float:
    """The project's length unit on a face: the distance between the outer eye corners of `landmarks` (478, 2+),
    in their pixels (x and y only)."""
    pts = np.asarray(landmarks)
    return float(np.linalg.norm(pts[topo.LEFT_EYE_OUTER, :2] - pts[topo.RIGHT_EYE_OUTER, :2]))


def alignment_transform(landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """(478, 2+) landmarks in image pixels -> M (2, 3) float64 mapping image pixels to crop pixels."""
    eye_r, eye_l, mouth = _eyes_mouth(landmarks)
    eye_mid = 0.5 * (eye_r + eye_l)
    eye_to_eye = eye_l - eye_r
    eye_to_mouth = mouth - eye_mid
    # Direction of the face's x axis from both vectors (FFHQ): robust to a single noisy pair.
    x_dir = eye_to_eye + np.array([eye_to_mouth[1], -eye_to_mouth[0]])
    angle = np.arctan2(x_dir[1], x_dir[0])
    scale_src = max(
        float(np.linalg.norm(eye_to_eye)) / EYE_DISTANCE, float(np.linalg.norm(eye_to_mouth)) / MOUTH_DISTANCE
    )
    scale = size / max(scale_src, 1e-6)
    return similarity_matrix(eye_mid, angle, scale, np.array(EYE_CENTER) * size)


def similarity_matrix(
    center_src: np.ndarray, angle: float, scale: float, center_dst: np.ndarray
) -> np.ndarray:
    """M (2, 3) that rotates by -angle and scales about center_src, then moves it to center_dst."""
    c, s = np.cos(-angle) * scale, np.sin(-angle) * scale
    rot = np.array([[c, -s], [s, c]])
    shift = np.asarray(center_dst, np.float64) - rot @ np.asarray(center_src, np.float64)
    return np.hstack([rot, shift[:, None]])


def transform_params(M: np.ndarray) -> tuple[float, float, np.ndarray]:
    """M -> (angle, scale, translation); the inverse of building it, for smoothing over time."""
    scale = float(np.hypot(M[0, 0], M[1, 0]))
    angle = float(-np.arctan2(M[1, 0], M[0, 0]))
    return angle, scale, M[:, 2].copy()


def invert_transform(M: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(M, np.float64))


def apply_transform(M: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 2+) points with M; a third column (depth) is scaled by M's scale and kept."""
    pts = np.asarray(points, np.float64)
    out = pts.copy()
    out[:, :2] = pts[:, :2] @ M[:, :2].T + M[:, 2]
    if pts.shape[1] > 2:
        out[:, 2:] = pts[:, 2:] * np.hypot(M[0, 0], M[1, 0])
    return out.astype(np.float32)


def warp_to_crop(image: np.ndarray, M: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """The aligned (size, size, C) crop; outside the image is filled by replicating the border."""
    return cv2.warpAffine(image, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class PasteBack:
    """Blends crops back into frames of one size through one fixed transform (a source photo's). The crop's
    box in the frame and its warped soft edge are computed once, so a frame costs one warp and one blend."""

    def __init__(self, M: np.ndarray, frame_shape: tuple[int, ...], size: int, feather: float = 0.06) -> None:
        h, w = frame_shape[:2]
        inv = invert_transform(M)
        corners = (
            np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inv[:, :2].T + inv[:, 2]
        )
        x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, [w, h])
        self._box = (int(x0), int(y0), int(x1), int(y1)) if x1 > x0 and y1 > y0 else None
        self._roi = inv.copy()
        self._roi[:, 2] -= (x0, y0)  # the same warp, into the bounding box's own pixels
        self._dsize = (int(x1 - x0), int(y1 - y0))
        if self._box is not None:
            self._alpha = cv2.warpAffine(
                crop_feather_mask(size, feather),
                self._roi,
                self._dsize,
                flags=cv2.INTER_LINEAR,
                borderValue=0.0,
            )
            self._alpha_inv = 1.0 - self._alpha

    def __call__(self, frame: np.ndarray, crop: np.ndarray) -> np.ndarray:
        out = frame.copy()
        if self._box is None:
            return out  # the crop lies wholly outside the frame
        x0, y0, x1, y1 = self._box
        warped = cv2.warpAffine(
            crop, self._roi, self._dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        out[y0:y1, x0:x1] = cv2.blendLinear(warped, frame[y0:y1, x0:x1], self._alpha, self._alpha_inv)
        return out


def paste_back(frame: np.ndarray, crop: np.ndarray, M: np.ndarray, feather: float = 0.06) -> np.ndarray:
    """Blend a crop back into the frame it was aligned from, with a soft square edge (fraction of the side).
    Only the crop's bounding box is warped and blended; for many frames through one transform, keep a
    `PasteBack`."""
    return PasteBack(M, frame.shape, crop.shape[0], feather)(frame, crop)


@functools.lru_cache(maxsize=8)
def crop_feather_mask(size: int, feather: float) -> np.ndarray:
    """(size, size) float32: 1 inside, falling linearly to 0 over `feather * size` pixels at the edge."""
    ramp = np.clip(
        (np.minimum(np.arange(size), np.arange(size)[::-1]) + 0.5) / max(feather * size, 1.0), 0, 1
    )
    return np.minimum(ramp[:, None], ramp[None, :]).astype(np.float32)


def to_normalized(points_px: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Crop pixels -> the networks' normalised coordinates in [-1, 1] (x and y only)."""
    return (np.asarray(points_px, np.float32)[..., :2] / size * 2.0 - 1.0).astype(np.float32)


def from_normalized(points: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    return ((np.asarray(points, np.float32) + 1.0) * 0.5 * size).astype(np.float32)
