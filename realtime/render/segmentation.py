"""Person segmentation of the source photo (for the blurred and picture backgrounds): MediaPipe's selfie
segmentation, set up and run once per photo and background change."""

from __future__ import annotations

import cv2
import numpy as np


def person_mask(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1]: MediaPipe selfie segmentation, softened at the edge."""
    import mediapipe as mp

    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        mask = seg.process(rgb).segmentation_mask
    mask = cv2.GaussianBlur(np.clip(mask.astype(np.float32), 0, 1), (0, 0), 3)
    return mask
