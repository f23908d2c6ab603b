"""Does the face in a photo wear glasses? A linear model (glasses.npz, trained by training.glasses on hand
labels of the dev photos) over the gradient histograms (HOG) of the eye band of the aligned face crop.

Read once per source photo: such a photo gets a warning, and the mesh flow holds the skin where a frame sits
(`frame_zone`) still on the face, so the frame moves with the head and keeps its shape: moved with the skin
under it, it bent when the cheeks lifted or the brows rose (the d8 photo's top rim pushed into a kink by a
raised brow).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.face import topology as topo

log = logging.getLogger(__name__)

BAND = (64, 160, 32, 224)
"""(top, bottom, left, right) of the eye band in the 256x256 aligned crop (`realtime.face.align`): from the
brows' lower edge to the cheekbones, temple to temple (the eyes lie on row 107, 88 px apart)."""
CELL = 16
"""HOG cell side, pixels; blocks of 2x2 cells at a one-cell stride, 9 unsigned orientation bins."""
FRAME_ZONE = (0.02, 0.32, 0.25, 0.08)
"""Where a glasses frame sits on a face in its frontal frame (unit distance between the outer eye corners, y
down): from this far under the brows' mean height to this far under the eye corners' (the top and bottom rims),
out to this far past the outer eye corners (the hinges), held in full inside and fading over the last distance
outside. The eyes' lids, the brows and the irises stay free: the eyes blink behind the lenses, the brows rise
over the frame."""


def band_features(crop: np.ndarray) -> np.ndarray:
    """(D,) float32: the HOG of the eye band (BAND) of a 256x256 aligned face crop (H, W, 3) uint8 RGB."""
    top, bottom, left, right = BAND
    gray = cv2.cvtColor(np.ascontiguousarray(crop[top:bottom, left:right]), cv2.COLOR_RGB2GRAY)
    return _hog().compute(gray).reshape(-1).astype(np.float32)


def mirrored_features(crop: np.ndarray) -> np.ndarray:
    """(2, D) float32: `band_features` of a 256x256 aligned face crop and of its mirror image."""
    return np.stack([band_features(crop), band_features(crop[:, ::-1])])


@functools.cache
def _hog() -> cv2.HOGDescriptor:
    top, bottom, left, right = BAND
    return cv2.HOGDescriptor(
        (right - left, bottom - top), (2 * CELL, 2 * CELL), (CELL, CELL), (CELL, CELL), 9
    )


@dataclass(frozen=True)
class GlassesModel:
    """Logistic regression on standardised band features: P(glasses) = sigmoid(w . (x - mean) / scale + b)."""

    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    bias: float
    threshold: float
    """The probability above which a photo is said to wear glasses (chosen in training for precision)."""

    def probability(self, crop: np.ndarray) -> float:
        """P(glasses) for a 256x256 aligned face crop, the mean of the crop's and its mirror image's."""
        return float(self.probabilities(mirrored_features(crop)[None])[0])

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(N,) P(glasses) of (N, 2, D) features (`mirrored_features`), the mean over the two mirror images."""
        z = ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.weight + self.bias
        return (1.0 / (1.0 + np.exp(-z))).mean(-1)

    def wears_glasses(self, crop: np.ndarray) -> bool:
        return self.probability(crop) > self.threshold

    def save(self, path: Path) -> None:
        np.savez(
            path,
            mean=self.mean.astype(np.float32),
            scale=self.scale.astype(np.float32),
            weight=self.weight.astype(np.float32),
            bias=np.float32(self.bias),
            threshold=np.float32(self.threshold),
        )


@functools.lru_cache(maxsize=2)
def load_glasses_model(folder: Path) -> GlassesModel | None:
    """The model in `folder`/glasses.npz, read once per folder and process; None when the folder has none."""
    path = Path(folder) / "glasses.npz"
    if not path.is_file():
        log.info("no %s: photos are not checked for glasses", path)
        return None
    with np.load(path) as z:
        return GlassesModel(
            z["mean"].astype(np.float64),
            z["scale"].astype(np.float64),
            z["weight"].astype(np.float64),
            float(z["bias"]),
            float(z["threshold"]),
        )


def frame_zone(face: np.ndarray) -> np.ndarray:
    """(478,) float32 in 0-1: how fully each point of `face` (478, 3+, frontal frame) lies where a glasses frame
    sits (FRAME_ZONE): the share of its expression motion that is held still."""
    top_gap, bottom_gap, side, fade = FRAME_ZONE
    p = np.asarray(face, np.float64)
    brows = list(topo.LEFT_EYEBROW + topo.RIGHT_EYEBROW)
    top = float(p[brows, 1].mean()) + top_gap
    bottom = float(p[[33, 133, 263, 362], 1].mean()) + bottom_gap
    centre = 0.5 * float(p[33, 0] + p[263, 0])
    half = 0.5 * abs(float(p[263, 0] - p[33, 0])) + side
    y, x = p[:, 1], np.abs(p[:, 0] - centre)
    out = np.clip(1.0 - np.maximum(top - y, y - bottom) / fade, 0.0, 1.0)
    out = np.minimum(out, np.clip(1.0 - (x - half) / fade, 0.0, 1.0))
    free = topo.LEFT_EYE + topo.RIGHT_EYE + topo.LEFT_EYEBROW + topo.RIGHT_EYEBROW
    out[list(free) + list(range(468, topo.NUM_LANDMARKS))] = 0.0  # lids, brows, irises (and their centres)
    return out.astype(np.float32)
