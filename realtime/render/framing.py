"""Where the photo lands in the user's output frame (`--size`), and what shows where the photo does not reach.

A video call shows a head and shoulders. The output frame is filled by the photo scaled so its face (forehead to
chin) is FACE_SHARE of the frame's height, within what the photo allows:

- a close-up (a 512-px face crop, a passport photo) is shown whole, never enlarged past the frame's height: cut to
  16:9 by covering the frame, its face filled the frame from brows to lips, the top of the head cut off;
- a small face in a large photo (a stage, a group, a full-length shot) is brought up to FACE_SHARE's lower end;
- a photo already framed like a call (its face within FACE_SHARE once it covers the frame) is shown as it is.

Where the photo does not cover the frame (a square or portrait photo in a 16:9 frame), the frame is filled with
the photo's edge pixels carried out and blurred the more the further from it (`extend`): the edge continues without
a seam, and the fill a few dozen pixels out is soft colour (a mirrored fill, tried first, put a blurred second face
beside every close-up).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from realtime.face.topology import CHIN, FOREHEAD
from realtime.render.draw import wide_blur

FACE_SHARE = (0.3, 0.45)
"""The face's height (mesh point 10, the forehead's top, to 152, the chin) as a share of the output frame's
height: below the first, the photo is enlarged to it; above the second, shrunk to it (no further than the whole
photo fitting the frame)."""
MAX_ZOOM = 4.0
"""The most a photo is enlarged to bring a small face up to FACE_SHARE (a photo smaller than the frame is still
enlarged to fit it whole): a 20-px face in a 2048-px group photo, enlarged 11 times, was a blur filling the
frame."""
FACE_AT = 0.45
"""Where the face's middle (half-way from forehead to chin) sits, as a share of the frame's height from its top:
a little above the middle leaves room for the chest and puts the eyes near the upper third."""
FILL_BLUR = 0.22
"""The fill's blur at FILL_RAMP from the photo (Gaussian sigma), as a share of the frame's longer side: about 1.5
times the distance from the photo. The edge carried out is constant along its column, so only a blur as wide as
what lies at the edge spreads it: at 0.08 the hair of a photo cut by its top (deepface img61 in a 512x512 frame, 95
px of fill over it) rose to the frame's top as a dark plume, 0.69 of its darkness 100 px out (0.26 now)."""
FILL_RAMP = 0.15
"""The distance from the photo's edge at which the fill reaches FILL_BLUR, as a share of the frame's longer side;
nearer, it is blurred less (FILL_LEVELS)."""
FILL_LEVELS = (0.05, 0.2, 0.5, 1.0, 3.0)
"""Shares of FILL_BLUR blended by the distance from the photo (a pixel at a share x of FILL_RAMP out takes the
blur of x): a continuous edge near the photo, a smooth one further out, and far out (3 ramps: the fill above a
photo in a portrait frame) soft enough that hair at the photo's edge is no dark column carried up the frame."""


@dataclass(frozen=True)
class OutputLayout:
    """Where the photo lands in the output frame: photo pixels -> output pixels, and the frame's size."""

    transform: np.ndarray
    """(2, 3) float64 affine, photo -> output."""
    size: tuple[int, int]
    """(width, height) of the output frame."""

    @staticmethod
    def identity(shape: tuple[int, ...]) -> OutputLayout:
        return OutputLayout(np.eye(2, 3), (int(shape[1]), int(shape[0])))

    @staticmethod
    def fit(shape: tuple[int, ...], size: tuple[int, int], landmarks: np.ndarray) -> OutputLayout:
        """The photo (`shape`) placed in a (width, height) frame to show the face of `landmarks` ((478, 2+),
        photo pixels) as a video call does (the module's rules), the face centred across the frame and at
        FACE_AT down it, as near as the photo's edges allow."""
        h, w = shape[:2]
        ow, oh = size
        lm = np.asarray(landmarks, np.float64)[:, :2]
        face = max(float(np.linalg.norm(lm[CHIN] - lm[FOREHEAD])), 1.0)
        cover, whole = max(ow / w, oh / h), min(ow / w, oh / h)
        s = float(np.clip(cover, FACE_SHARE[0] * oh / face, FACE_SHARE[1] * oh / face))
        s = max(min(s, MAX_ZOOM), whole)
        middle = (lm[CHIN] + lm[FOREHEAD]) / 2.0
        t = np.array([ow / 2.0, FACE_AT * oh]) - s * middle
        # Where the photo covers an axis, no fill shows on it; where it does not, it stays whole across the frame
        # and reaches the frame's bottom (a body cut by the frame's edge, not one standing on fill).
        sw, sh = s * w, s * h
        t[0] = np.clip(t[0], min(0.0, ow - sw), max(0.0, ow - sw))
        t[1] = np.clip(t[1], oh - sh, 0.0) if sh >= oh else oh - sh
        return OutputLayout(np.array([[s, 0.0, t[0]], [0.0, s, t[1]]]), (int(ow), int(oh)))

    @property
    def scale(self) -> float:
        return float(np.hypot(self.transform[0, 0], self.transform[1, 0]))


def scale(affine: np.ndarray) -> float:
    """The scale of a (2, 3) similarity."""
    return float(np.hypot(affine[0, 0], affine[1, 0]))


def covering(
    image: np.ndarray, to_out: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """(image extended so that `to_out` ((2, 3) image -> output) covers the (width, height) frame, its
    transform, the (x, y) offset of the original image in it). The image itself where it covers already."""
    ow, oh = size
    back = cv2.invertAffineTransform(np.asarray(to_out, np.float64))
    corners = np.array([[0, 0], [ow, 0], [0, oh], [ow, oh]], np.float64) @ back[:, :2].T + back[:, 2]
    h, w = image.shape[:2]
    # How far the frame's corners reach past each edge; more than a pixel past it is filled (2 more pixels for
    # the bilinear reads at the edge).
    left, top = (_pad(-v) for v in corners.min(0))
    right, bottom = _pad(corners[:, 0].max() - w), _pad(corners[:, 1].max() - h)
    if left == top == right == bottom == 0:
        return image, to_out, (0, 0)
    side = max(ow, oh) / float(np.hypot(to_out[0, 0], to_out[1, 0]))  # the frame's longer side, image pixels
    extended = extend(image, (top, bottom, left, right), FILL_BLUR * side, FILL_RAMP * side)
    moved = np.array(to_out, np.float64)
    moved[:, 2] -= moved[:, :2] @ np.array([left, top], np.float64)
    return extended, moved, (left, top)


def surround(image: np.ndarray, layout: OutputLayout) -> np.ndarray:
    """(H, W, 3) the output frame of `image` placed by `layout`, extended (`covering`) where it does not reach:
    what shows around a frame that is warped over it. Made at the output's scale (a 1024-px photo shrunk into
    1280x720 extended at its own size took 180-500 ms, at the output's 60-100)."""
    s = layout.scale
    to_out = np.asarray(layout.transform, np.float64)
    if s < 1.0:
        h, w = image.shape[:2]
        size = (max(1, round(w * s)), max(1, round(h * s)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        to_out = to_out @ np.array([[w / size[0], 0.0, 0.0], [0.0, h / size[1], 0.0], [0.0, 0.0, 1.0]])
    extended, to_out, _ = covering(image, to_out, layout.size)
    return cv2.warpAffine(extended, to_out, layout.size, flags=cv2.INTER_LINEAR)


def _pad(past: float) -> int:
    return int(np.ceil(past)) + 2 if past > 1.0 else 0


def extend(image: np.ndarray, pads: tuple[int, int, int, int], blur: float, ramp: float) -> np.ndarray:
    """`image` (h, w, 3) uint8 padded by (top, bottom, left, right) pixels: its edge pixels carried out and
    blurred the more the further out, reaching `blur` (sigma, pixels) `ramp` pixels from the image: the edge's
    colours carried out as streaks, smoothed into a soft continuation of the photo's background."""
    top, bottom, left, right = pads
    h, w = image.shape[:2]
    carried = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REPLICATE).astype(np.float32)
    big_h, big_w = carried.shape[:2]
    ys, xs = np.ogrid[:big_h, :big_w]
    dx = np.maximum(np.maximum(left - xs, xs - (left + w - 1)), 0).astype(np.float32)
    dy = np.maximum(np.maximum(top - ys, ys - (top + h - 1)), 0).astype(np.float32)
    # (H, W): 0 on the image, 1 at `ramp` out, up to FILL_LEVELS' last further out
    reach = np.clip(np.sqrt(dx * dx + dy * dy) / max(ramp, 1.0), 0.0, FILL_LEVELS[-1])
    # Blurs of FILL_LEVELS sigmas, blended by how far out a pixel is.
    out = carried.copy()
    below = 0.0
    for share in FILL_LEVELS:
        level = wide_blur(carried, share * blur)
        a = np.clip((reach - below) / (share - below), 0.0, 1.0)[..., None]  # 1 at and past this level
        out = out * (1.0 - a) + level * a
        below = share
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    out[top : top + h, left : left + w] = image
    return out
