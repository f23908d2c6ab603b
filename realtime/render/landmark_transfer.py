"""Training-free landmark transform, used with the mesh-warp fallback when no trained LT ships.

The paper's LT predicts lt = ls + dls from (ls, AUd). Without it, the driver's motion is carried over
directly, in three steps:

1. Expression. Each driver frame is rigidly fitted (rotation, scale, shift; Umeyama) to the driver's own
   neutral face expressed in its canonical frontal frame (`realtime.face.pose.canonical_frame`: eye line
   along x, forehead-to-chin along y, unit inter-ocular distance). In that frame the head's rotation and size
   are gone and what is left of (frame - neutral) is expression, in units of the driver's inter-ocular
   distance: `driver_expression()`.
2. Identity. The source's landmarks are fitted the same way to their own canonical frame. The expression is
   added there, scaled by the source's inter-ocular distance (the inter-ocular ratio driver -> source), so a
   wide-eyed driver does not stretch a narrow-eyed source.
3. Pose. The result is rotated by the source's own rotation, then by the pose difference (driver pose minus
   its neutral, after the user's edits; about the camera's axes, or with `in_head` about the head's own, as
   relative motion does in both renderers; about a point HEAD_PIVOT_DEPTH behind the face's middle, as a head
   turns on its neck), put back at the source's place and scale, and mapped into the aligned crop with the
   source's alignment transform M.

With zero expression and zero pose difference, lt equals ls exactly (up to float rounding).

Eyelids are carried as a share of each eye's opening, not as a distance (`fit_lids`): a blink that shuts the
driver's eyes shuts the photo's, however wide the photo's eyes are. As a distance, the anchor clip's blinks
(the driver's eyes 78 % shut) left a wide-eyed photo's half open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from realtime.face.align import apply_transform
from realtime.face.pose import canonical_frame, rigid_fit, undo_fit
from realtime.render.eyes import EYE_LOOPS


def rotation_from_angles(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) rotation in the camera frame (x right, y down, z away) for angles in degrees, with the signs of
    `realtime.face.types.HeadPose`: roll about the view axis first, then pitch, then yaw, so that
    `pose_from_rotation` returns yaw and pitch exactly and roll closely for moderate angles."""
    y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, -math.sin(y)], [0, 1, 0], [math.sin(y), 0, math.cos(y)]])
    rp = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    rr = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return ry @ rp @ rr


# fmt: off
RIGID_POINTS = np.array((
    1, 2, 3, 4, 5, 6, 8, 9, 10, 19, 21, 31, 34, 35, 36, 44, 45, 47, 48, 49, 50, 51, 54, 64, 67, 69, 93,
    94, 97, 98, 100, 101, 102, 103, 104, 108, 109, 111, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123,
    126, 127, 129, 131, 134, 137, 139, 142, 143, 151, 156, 162, 168, 174, 188, 193, 195, 196, 197, 198,
    209, 217, 218, 220, 227, 228, 229, 234, 236, 237, 248, 251, 261, 264, 265, 266, 274, 275, 277, 278,
    279, 280, 281, 284, 294, 297, 299, 326, 327, 329, 330, 331, 332, 333, 337, 338, 340, 343, 344, 345,
    346, 347, 348, 349, 350, 351, 352, 355, 356, 358, 360, 363, 366, 368, 371, 372, 383, 389, 399, 412,
    417, 419, 420, 429, 437, 438, 440, 447, 448, 449, 454, 456, 457,
))
# fmt: on
"""Mesh points that expressions hardly move: above the nose's tip, at least 0.1 inter-ocular distance from the
eyes and brows, and the nose (forehead, temples, upper cheeks). The fit over all 468 points took a jaw drop for
a head tilted and grown: a shout's lower lip moved 0.25 of the eye distance and its chin 0.03 (with these
points 0.32 and 0.10), and the photo's mouth opened far less than the driver's."""


def frontalize(
    landmarks: np.ndarray, reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Fit landmarks (478, 3) ~ s * R @ reference + t over RIGID_POINTS; return (landmarks in the reference
    frame, R, s, t)."""
    rot, scale, shift = fit = rigid_fit(landmarks, reference, RIGID_POINTS)
    return undo_fit(landmarks, fit).astype(np.float32), rot, scale, shift


LID_PAIRS: tuple[tuple[tuple[int, int], ...], ...] = tuple(
    tuple(zip(loop[1:8], loop[15:8:-1], strict=True)) for loop in EYE_LOOPS
)
"""Per eye, (upper lid, lower lid) mesh points facing each other across the eye, corner to corner (from the
lid loops of `realtime.render.eyes`)."""
EYE_SIZE_RATIO = (0.5, 2.0)
"""Bounds of the photo's eye opening over the driver's (a squint or a stare in either face is not a blink)."""
EYE_PAIRING = (0.25, 0.5, 0.8)
"""Where the driver's eyes both narrow (the more open one's lost share of its opening past the first number, in
full from the second), the photo's are drawn together by the third share of the gap between the shares each
eye lost (`pair_lids`). The face mesh reads two narrowed eyes unevenly: a driver looking down with both eyes
the same slit (LivePortrait's d11 clip, frames 147-157) read 45 % and 3 % open, and the Acosta photo showed
one eye shut, like a black eye, beside one half open. A wink (the other eye open, or narrowed by under the
first number) is kept; one eye only half narrowed beside an open one is EYE_HALF's."""
EYE_HALF = (0.3, 0.45, 0.7, 0.85, 0.5)
"""One eye half narrowed (its lost share of its opening past the first number, in full from the second, less
again from the third and none past the fourth, a wink) beside the other open: the two are drawn together by
the fifth share of the gap. A driver looking down with its head turned (the PC-AVS 681600002 clip, frames
95-112) read one eye open and the other 0.5-0.67 shut, and the MEAD photo stared with one eye beside a
drooping one."""


def lid_gaps(face: np.ndarray) -> np.ndarray:
    """(2, 7) float64: each eye's opening (lower lid y - upper lid y) at LID_PAIRS, of a face in a canonical
    frame (y down)."""
    pts = np.asarray(face, np.float64)
    return np.array([[pts[lo, 1] - pts[up, 1] for up, lo in eye] for eye in LID_PAIRS])


def fit_lids(
    expression: np.ndarray,
    source: np.ndarray,
    driver_neutral: np.ndarray | None,
    blink: tuple[float, float] | None = None,
) -> np.ndarray:
    """(478, 3) the driver's expression with each eye's lid motion scaled from the driver's eye to the
    photo's (the opening the photo's eye loses is the share the driver's lost), and lids that never cross.

    `source`, `driver_neutral`: canonical frames (driver_neutral None: no scaling). `blink` (AU45 before,
    after the user's edit) moves the lids by the edit: up, the opening left is shut by the share the edit
    takes of what AU45 had left to go (1: shut); down, the lid motion is cut by the same share (0: the
    photo's own opening, whatever the driver's eyes do)."""
    out = np.array(expression, np.float64)
    src = np.asarray(source, np.float64)
    lid_points = [[i for pair in eye for i in pair] for eye in LID_PAIRS]
    if driver_neutral is not None:
        ratio = lid_gaps(src).mean(1) / np.maximum(lid_gaps(driver_neutral).mean(1), 1e-4)
        for points, r in zip(lid_points, np.clip(ratio, *EYE_SIZE_RATIO), strict=True):
            out[points] *= r
        out = pair_lids(src, out)
    shut = 1.0
    if blink is not None:
        before, after = (float(np.clip(v, 0.0, 1.0)) for v in blink)
        if after < before:
            for points in lid_points:
                out[points] *= after / before
        elif after > before:
            shut = (1.0 - after) / max(1.0 - before, 1e-3)
    gaps = lid_gaps(src + out)  # (2, 7)
    target = np.maximum(gaps, 0.0) * shut
    for eye, g, t in zip(LID_PAIRS, gaps, target, strict=True):
        out[[up for up, _ in eye], 1] += g - t  # the upper lid comes down (or up) to the opening wanted
    return out.astype(np.float32)


def pair_lids(source: np.ndarray, expression: np.ndarray) -> np.ndarray:
    """(478, 3) float64: `expression` (on `source`, both canonical) with the two eyes' lost shares of their
    opening drawn together where both narrow (EYE_PAIRING), or one half narrows beside the other open (EYE_HALF):
    each upper lid moved by its change of share times
    the eye's own opening at rest."""
    rest = lid_gaps(source)  # (2, 7)
    lost = 1.0 - lid_gaps(source + expression).mean(1) / np.maximum(rest.mean(1), 1e-4)
    lost = np.clip(lost, 0.0, 1.0)
    lo, hi, most = EYE_PAIRING
    k = most * float(np.clip((lost.min() - lo) / (hi - lo), 0.0, 1.0))
    # One eye half narrowed beside an open one: the mesh misreading a turned head's look down, not a wink.
    start, full, fade, wink, share = EYE_HALF
    half = min((lost.max() - start) / (full - start), (wink - lost.max()) / (wink - fade))
    k = max(k, share * float(np.clip(half, 0.0, 1.0)))
    out = np.array(expression, np.float64)
    if k <= 0.0:
        return out
    for eye, change, gaps in zip(LID_PAIRS, k * (lost.mean() - lost), rest, strict=True):
        out[[up for up, _ in eye], 1] += change * gaps  # y down: a lid lost more of its opening comes down
    return out


def driver_expression(landmarks: np.ndarray, neutral_canonical: np.ndarray) -> np.ndarray:
    """(478, 3) expression of a driver frame relative to its neutral, in driver inter-ocular units."""
    frontal, _, _, _ = frontalize(landmarks, neutral_canonical)
    return (frontal - neutral_canonical).astype(np.float32)


HEAD_PIVOT_DEPTH = 0.75
"""How far behind the face's middle (the canonical frame's origin, the mean of RIGID_POINTS) the head turns, in
inter-ocular distances: about where the sides of the face oval sit (mean face: 0.72), near the neck's axis. Turned
about the origin, the face's sides swung outwards as the nose went the other way: a frontal photo turned 19
degrees moved its near cheek 0.23 inter-ocular distances out over its ear (the d8 photo under the DaGAN clip,
frames 65-73), a balloon with a hard edge. About this point the oval's sides stay about where they are and the
nose goes with the turn, as a head's do."""


@dataclass(frozen=True)
class SourceGeometry:
    """What the transform needs of the source, computed once per source photo."""

    canonical: np.ndarray
    """(478, 3) float32 source in its own frontal frame, unit inter-ocular distance."""
    rotation: np.ndarray
    scale: float
    shift: np.ndarray
    crop_transform: np.ndarray
    """M (2, 3): source image pixels -> aligned crop pixels."""

    @staticmethod
    def from_landmarks(landmarks: np.ndarray, crop_transform: np.ndarray) -> SourceGeometry:
        canonical = canonical_frame(landmarks)
        _, rot, scale, shift = frontalize(landmarks, canonical)
        return SourceGeometry(canonical, rot, scale, shift, np.asarray(crop_transform, np.float64))


def transfer(
    src: SourceGeometry, expression: np.ndarray, delta_pose_deg: np.ndarray, in_head: bool = False
) -> np.ndarray:
    """lt (478, 2) float32 in aligned-crop pixels, from the source geometry, a driver expression (478, 3)
    in inter-ocular units and the pose difference (yaw, pitch, roll) in degrees.

    `in_head`: the difference turns the head about its own axes (relative motion: the photo's head does what the
    driver's did to its own), not about the camera's (absolute motion: the pose reached is the driver's). They
    differ on a turned photo: the driver's nod, about the camera's axis, rolled the smirk/dafoe photo (turned 31
    degrees) by a third of the nod, its far eye dropped below the near one and bulged (the DaGAN clip's frame 73,
    a 9-degree nod), and the teacher read the photo's head following the driver's with r 0.50 and 0.84 on its
    two live pairs; turned about its own axes it nods level, r 0.80 and 0.92 (9-pair live pose r 0.835 -> 0.882)."""
    face = src.canonical.astype(np.float64) + expression  # (478, 3), source inter-ocular units
    delta = rotation_from_angles(*[float(v) for v in delta_pose_deg])
    pivot = np.array([0.0, 0.0, HEAD_PIVOT_DEPTH])  # canonical frame: z away from the camera
    if in_head:
        turned = ((face - pivot) @ delta.T + pivot) @ src.rotation.T
    else:
        at = pivot @ src.rotation.T
        turned = (face @ src.rotation.T - at) @ delta.T + at
    image_pts = src.scale * turned + src.shift  # (478, 3) source image pixels
    return apply_transform(src.crop_transform, image_pts)[:, :2].astype(np.float32)
