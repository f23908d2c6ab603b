"""FaceAnalyzer: mesh -> head pose -> AUs, the one implementation used by run time, data preparation and
evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

import numpy as np

from realtime.face.au_head import au_features, load_au_reader
from realtime.face.mesh import FaceMesh, MeshOptions
from realtime.face.pose import pose_from_rotation, rigid_fit
from realtime.face.types import FaceAnalysis


@dataclass(frozen=True)
class AnalyzerOptions:
    mode: Literal["image", "video"] = "image"
    """image: frames are unrelated (photos); video: consecutive frames of one stream (tracking)."""
    max_faces: int = 4
    """Faces looked for in a frame; the largest one is analysed."""
    weights_dir: Path | None = None
    """Folder holding au_head.onnx and mean_face.npy; None: the weights shipped in the package."""


class FaceAnalyzer:
    """Context manager. `analyze(rgb) -> FaceAnalysis | None` (None: no face in the frame)."""

    def __init__(self, options: AnalyzerOptions = AnalyzerOptions()) -> None:
        from realtime.weights import weights_dir

        folder = options.weights_dir or weights_dir()
        self.options = options
        self._mesh = FaceMesh(MeshOptions(mode=options.mode, max_faces=options.max_faces))
        self._au_head, self.mean_face = load_au_reader(folder)

    def __enter__(self) -> Self:
        self._mesh.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._mesh.close()

    def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> FaceAnalysis | None:
        """Analyse the largest face of an (H, W, 3) uint8 RGB frame. timestamp_ms is accepted for
        the video mode's API symmetry; the legacy mesh keeps its own clock."""
        faces = self._mesh.detect(rgb)
        if not faces:
            return None
        return self.describe(faces[0], num_faces=len(faces))

    def analyze_all(self, rgb: np.ndarray) -> list[FaceAnalysis]:
        """Every face of an (H, W, 3) uint8 RGB frame, largest first (a photo's faces, to choose among)."""
        faces = self._mesh.detect(rgb)
        return [self.describe(f, num_faces=len(faces)) for f in faces]

    def describe(self, landmarks: np.ndarray, num_faces: int = 1) -> FaceAnalysis:
        """Pose and AUs of landmarks found elsewhere (one code path for every caller)."""
        fit = rigid_fit(landmarks, self.mean_face)  # one fit serves pose and the AU features
        aus = self._au_head.predict(au_features(landmarks, self.mean_face, fit)[None])[0]
        return FaceAnalysis(
            landmarks=np.asarray(landmarks, np.float32),
            aus=aus,
            pose=pose_from_rotation(fit[0]),
            num_faces=num_faces,
        )
