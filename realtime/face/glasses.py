"""Does the face in a photo wear glasses? A linear model (glasses.npz, trained by training.glasses on hand
labels of the dev photos) over the gradient histograms (HOG) of the eye band of the aligned face crop.

Used once per source photo, for a warning: the mesh flow moves a photo's glasses with the skin under them, so
their frame bends a little when the cheeks lift or the brows rise.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

BAND = (64, 160, 32, 224)
"""(top, bottom, left, right) of the eye band in the 256x256 aligned crop (`realtime.face.align`): from the
brows' lower edge to the cheekbones, temple to temple (the eyes lie on row 107, 88 px apart)."""
CELL = 16
"""HOG cell side, pixels; blocks of 2x2 cells at a one-cell stride, 9 unsigned orientation bins."""


def band_features(crop: np.ndarray) -> np.ndarray:
    """(D,) float32: the HOG of the eye band (BAND) of a 256x256 aligned face crop (H, W, 3) uint8 RGB."""
    top, bottom, left, right = BAND
    gray = cv2.cvtColor(np.ascontiguousarray(crop[top:bottom, left:right]), cv2.COLOR_RGB2GRAY)
    return _hog().compute(gray).reshape(-1).astype(np.float32)


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
        x = np.stack([band_features(crop), band_features(crop[:, ::-1])]).astype(np.float64)
        z = ((x - self.mean) / self.scale) @ self.weight + self.bias
        return float(np.mean(1.0 / (1.0 + np.exp(-z))))

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
