"""MediaPipe Face Mesh (478 refined points) from the mediapipe 0.10.21 wheel: nothing is downloaded."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Self

import cv2
import numpy as np

log = logging.getLogger(__name__)

MAX_SIDE = 1920
"""Larger images are shrunk to this longest side before the mesh runs (landmarks are mapped back)."""
MIN_SIDE = 32
"""Smaller images cannot hold a face the mesh can find; they are reported as faceless."""


@dataclass(frozen=True)
class MeshOptions:
    mode: Literal["image", "video"] = "image"
    """image: every frame on its own; video: track from frame to frame (faster, steadier)."""
    max_faces: int = 4
    """Faces looked for; the largest is kept."""
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5


def check_image(rgb: np.ndarray) -> None:
    """Refuse what is not an (H, W, 3) uint8 image, with a message that says what was given."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        desc = f"{type(rgb).__name__} {getattr(rgb, 'shape', '')} {getattr(rgb, 'dtype', '')}"
        raise ValueError(f"expected an RGB image as a (H, W, 3) uint8 array, got {desc}")


class FaceMesh:
    """Context manager over mp.solutions.face_mesh; `detect` returns every face's (478, 3) pixel landmarks."""

    def __init__(self, options: MeshOptions = MeshOptions()) -> None:
        self.options = options
        self._mesh = None

    def __enter__(self) -> Self:
        import mediapipe as mp  # heavy import, deferred to first use

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=self.options.mode == "image",
            max_num_faces=self.options.max_faces,
            refine_landmarks=True,
            min_detection_confidence=self.options.min_detection_confidence,
            min_tracking_confidence=self.options.min_tracking_confidence,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def detect(self, rgb: np.ndarray) -> list[np.ndarray]:
        """All faces found, largest first, each (478, 3) float32 in the input's pixels."""
        check_image(rgb)
        if self._mesh is None:
            raise RuntimeError("FaceMesh is closed: use it as a context manager")
        h, w = rgb.shape[:2]
        if min(h, w) < MIN_SIDE:
            return []
        scale = min(1.0, MAX_SIDE / max(h, w))
        img = (
            rgb
            if scale == 1.0
            else cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        ih, iw = img.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(img))
        if not result.multi_face_landmarks:
            return []
        faces = []
        for face in result.multi_face_landmarks:
            pts = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32)  # (478, 3) normalised
            pts *= np.array([iw, ih, iw], np.float32) / scale
            faces.append(pts)
        faces.sort(key=_bbox_area, reverse=True)
        return faces


def _bbox_area(pts: np.ndarray) -> float:
    span = pts[:, :2].max(axis=0) - pts[:, :2].min(axis=0)
    return float(span[0] * span[1])
