"""Shared helpers of the real-time tests (not a conftest: fixtures stay in the test files)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

import numpy as np

DATA = Path(__file__).parents[1].parent.parent / "shared" / "data" / "dev"
CLIP = DATA / "CVPR2022-DaGAN" / "assets" / "driving.mp4"  # 184 frames, 256x256, 25 fps, one talking face
PHOTO = DATA / "LivePortrait" / "assets" / "examples" / "source" / "s42.jpg"  # 512x512, one face


class MeshOnlyAnalyzer:
    """The real MediaPipe mesh and pose fit with AUs fixed at 0: stands in for realtime.face.FaceAnalyzer
    where its shipped AU head is not there yet (the mesh is what the fallback renderer uses)."""

    def __init__(self, mode: str = "image") -> None:
        from realtime.face.mesh import FaceMesh, MeshOptions

        self._mesh = FaceMesh(MeshOptions(mode=mode, max_faces=1))  # type: ignore[arg-type]

    def __enter__(self) -> Self:
        self._mesh.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._mesh.close()

    def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None):
        from realtime.face.pose import pose_from_rotation, rigid_fit
        from realtime.face.types import FaceAnalysis

        faces = self._mesh.detect(rgb)
        if not faces:
            return None
        lm = np.asarray(faces[0], np.float32)
        mean = np.load(Path(__file__).parents[2] / "realtime" / "weights" / "mean_face.npy")
        rot, _, _ = rigid_fit(lm, mean)
        return FaceAnalysis(lm, np.zeros(17, np.float32), pose_from_rotation(rot), len(faces))


def analyzer_factory(mode: str):
    """The real FaceAnalyzer when its weights ship, else MeshOnlyAnalyzer."""
    weights = Path(__file__).parents[2] / "realtime" / "weights"
    if (weights / "au_head.onnx").is_file():
        from realtime.face import AnalyzerOptions, FaceAnalyzer

        return FaceAnalyzer(AnalyzerOptions(mode=mode))  # type: ignore[arg-type]
    return MeshOnlyAnalyzer(mode)


def synthetic_face(center: tuple[float, float] = (128.0, 120.0), iod: float = 60.0, aus: float = 0.0):
    """A FaceAnalysis whose landmarks are the project's mean face, frontal, at `center` with eyes `iod` px
    apart: a plausible face for tests that need no picture."""
    from realtime.face.types import FaceAnalysis, HeadPose

    mean = np.load(Path(__file__).parents[2] / "realtime" / "weights" / "mean_face.npy").astype(np.float32)
    lm = mean * iod + np.array([center[0], center[1], 0.0], np.float32)
    return FaceAnalysis(lm, np.full(17, aus, np.float32), HeadPose(0.0, 0.0, 0.0), 1)


class FixedAnalyzer:
    """Returns the given analysis (or None) for every frame."""

    def __init__(self, face) -> None:
        self.face = face

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None):
        return self.face
