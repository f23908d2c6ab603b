"""Face / hair / background targets for the reenactor's segmentation head (eq. 8).

The paper uses a face-parsing network that cannot be fetched here (DESIGN.md 5), so the targets come from
MediaPipe instead: selfie segmentation (mediapipe 0.10.21 wheel, nothing downloaded) separates the person
from the background, the convex hull of the mesh's face oval is the face, and hair is what remains of the
person above the jaw line. The neck and body below the jaw count as background, as Gb redraws them from Ib.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Self

import cv2
import numpy as np

from realtime.face import topology as topo

PERSON_THRESHOLD = 0.5
"""Selfie-segmentation probability above which a pixel belongs to the person."""


class SegClass(IntEnum):
    """Values of masks.npz `seg` (docs/CONTRACTS.md 3) and channels of Gr's `seg` output."""

    BACKGROUND = 0
    HAIR = 1
    FACE = 2


class PersonSegmenter:
    """Context manager over mp.solutions.selfie_segmentation; `person_probability(rgb) -> (H, W) float32`."""

    def __init__(self, model_selection: int = 0) -> None:
        self.model_selection = model_selection
        """0: the general model (256x256 input), right for aligned face crops; 1: the landscape model."""
        self._seg = None

    def __enter__(self) -> Self:
        import mediapipe as mp  # heavy import, deferred to first use

        self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=self.model_selection)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._seg is not None:
            self._seg.close()
            self._seg = None

    def person_probability(self, rgb: np.ndarray) -> np.ndarray:
        if self._seg is None:
            raise RuntimeError("PersonSegmenter is closed: use it as a context manager")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB image as a (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
        result = self._seg.process(np.ascontiguousarray(rgb))
        return np.asarray(result.segmentation_mask, np.float32)  # (H, W) in [0, 1]


def face_hull_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size) bool: inside the convex hull of the face-oval points (landmarks in crop pixels)."""
    pts = np.asarray(landmarks, np.float64)[list(topo.FACE_OVAL), :2]
    hull = cv2.convexHull(np.round(pts * 16).astype(np.int32))  # 4 fractional bits: sub-pixel edge
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def above_jaw_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size) bool: pixels above the jaw line. The jaw line is the lower half of the face oval
    (as a function of x); beside the face it continues level with the oval's outermost lower points, so
    hair beside the temples counts and the neck and shoulders do not."""
    oval = np.asarray(landmarks, np.float64)[list(topo.FACE_OVAL), :2]
    centre_y = oval[:, 1].mean()
    lower = oval[oval[:, 1] >= centre_y]
    if len(lower) < 2:  # degenerate landmarks: no jaw to speak of, keep everything above the centre
        jaw_x, jaw_y = np.array([0.0, size - 1.0]), np.array([centre_y, centre_y])
    else:
        order = np.argsort(lower[:, 0])
        jaw_x, jaw_y = lower[order, 0], lower[order, 1]
    xs = np.arange(size, dtype=np.float64)
    jaw_at_x = np.interp(xs, jaw_x, jaw_y)  # (size,) beyond the ends: the end values
    return np.arange(size, dtype=np.float64)[:, None] < jaw_at_x[None, :]


def compose_segmentation(person: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Person probability or mask (S, S) and crop-pixel landmarks -> seg (S, S) uint8 of SegClass."""
    size = person.shape[0]
    if person.shape != (size, size):
        raise ValueError(f"expected a square person mask, got {person.shape}")
    is_person = person > PERSON_THRESHOLD if person.dtype != bool else person
    face = face_hull_mask(landmarks, size)
    hair = is_person & ~face & above_jaw_mask(landmarks, size)
    seg = np.full((size, size), SegClass.BACKGROUND, np.uint8)
    seg[hair] = SegClass.HAIR
    seg[face] = SegClass.FACE  # the face is the face even where selfie segmentation missed it
    return seg


class CropSegmenter:
    """Segmentation of aligned crops: PersonSegmenter + the mesh rules above. Context manager."""

    def __init__(self) -> None:
        self._person = PersonSegmenter(model_selection=0)

    def __enter__(self) -> Self:
        self._person.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._person.__exit__(*exc)

    def segment(self, crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(S, S, 3) uint8 crop, (478, 2+) crop-pixel landmarks -> (S, S) uint8 seg."""
        return compose_segmentation(self._person.person_probability(crop), landmarks)
