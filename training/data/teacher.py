"""The teacher and independent estimator: MediaPipe Face Landmarker with its 52 blendshapes.

Used to distil the AU head (training/au/distill.py) and to score AUs and pose in evaluation. Never used at
run time, never committed: the .task file lives in ../shared/models/.

Blendshapes -> the 17 OpenFace AUs: BLENDSHAPE_TO_AU below, the one documented table. Each AU is the mean
of the listed blendshapes (left/right pairs averaged), except AU25 (lips part), for which no blendshape
exists: it is the jaw opening minus MediaPipe's "mouthClose" (lips held together while the jaw opens),
plus the upper lip raise, clipped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from realtime.face.mesh import check_image
from realtime.face.pose import pose_from_rotation
from realtime.face.types import AU, AU_ORDER, HeadPose

DEFAULT_TEACHER = Path(__file__).resolve().parents[3] / "shared" / "models" / "face_landmarker.task"

BLENDSHAPE_TO_AU: dict[AU, tuple[str, ...]] = {
    AU.AU01: ("browInnerUp",),
    AU.AU02: ("browOuterUpLeft", "browOuterUpRight"),
    AU.AU04: ("browDownLeft", "browDownRight"),
    AU.AU05: ("eyeWideLeft", "eyeWideRight"),
    AU.AU06: ("cheekSquintLeft", "cheekSquintRight"),
    AU.AU07: ("eyeSquintLeft", "eyeSquintRight"),
    AU.AU09: ("noseSneerLeft", "noseSneerRight"),
    AU.AU10: ("mouthUpperUpLeft", "mouthUpperUpRight"),
    AU.AU12: ("mouthSmileLeft", "mouthSmileRight"),
    AU.AU14: ("mouthDimpleLeft", "mouthDimpleRight"),
    AU.AU15: ("mouthFrownLeft", "mouthFrownRight"),
    AU.AU17: ("mouthShrugLower",),
    AU.AU20: ("mouthStretchLeft", "mouthStretchRight"),
    AU.AU23: ("mouthPressLeft", "mouthPressRight"),
    AU.AU25: ("jawOpen", "mouthClose", "mouthUpperUpLeft", "mouthUpperUpRight"),  # special rule, see above
    AU.AU26: ("jawOpen",),
    AU.AU45: ("eyeBlinkLeft", "eyeBlinkRight"),
}

# MediaPipe's face-geometry frame is x right, y up, z towards the viewer; ours is x right, y down, z away.
_FLIP = np.diag([1.0, -1.0, -1.0])


def blendshapes_to_aus(scores: dict[str, float]) -> np.ndarray:
    """52 named blendshape scores -> (17,) float32 AUs in AU_ORDER."""
    out = np.zeros(len(AU_ORDER), np.float32)
    for i, au in enumerate(AU_ORDER):
        if au is AU.AU25:
            lips = scores["jawOpen"] - scores["mouthClose"]
            lips += 0.5 * (scores["mouthUpperUpLeft"] + scores["mouthUpperUpRight"])
            out[i] = lips
        else:
            out[i] = np.mean([scores[name] for name in BLENDSHAPE_TO_AU[au]])
    return np.clip(out, 0.0, 1.0)


@dataclass(frozen=True)
class TeacherResult:
    landmarks: np.ndarray
    """(478, 3) float32 in pixels (z in the same scale)."""
    blendshapes: dict[str, float]
    aus: np.ndarray
    """(17,) float32 in AU_ORDER."""
    pose: HeadPose
    num_faces: int


class Teacher:
    """Context manager over the Face Landmarker task (image mode); `analyze(rgb)` -> largest face or None."""

    def __init__(self, model_path: Path = DEFAULT_TEACHER, max_faces: int = 4) -> None:
        if not Path(model_path).is_file():
            raise FileNotFoundError(
                f"teacher model {model_path} not found (expected ../shared/models/face_landmarker.task)"
            )
        self.model_path = Path(model_path)
        self.max_faces = max_faces
        self._landmarker = None

    def __enter__(self) -> Self:
        from mediapipe.tasks import python as mp_tasks
        from mediapipe.tasks.python import vision

        options = vision.FaceLandmarkerOptions(
            base_options=mp_tasks.BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=self.max_faces,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self._landmarker = vision.FaceLandmarker.create_from_options(options)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def analyze(self, rgb: np.ndarray) -> TeacherResult | None:
        import mediapipe as mp

        check_image(rgb)
        if self._landmarker is None:
            raise RuntimeError("Teacher is closed: use it as a context manager")
        h, w = rgb.shape[:2]
        if min(h, w) < 32:
            return None
        res = self._landmarker.detect(
            mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        )
        if not res.face_landmarks:
            return None
        faces = [np.array([(p.x * w, p.y * h, p.z * w) for p in f], np.float32) for f in res.face_landmarks]
        areas = [float(np.prod(f[:, :2].max(0) - f[:, :2].min(0))) for f in faces]
        k = int(np.argmax(areas))
        scores = {c.category_name: float(c.score) for c in res.face_blendshapes[k]}
        rot = _FLIP @ np.asarray(res.facial_transformation_matrixes[k])[:3, :3] @ _FLIP
        rot /= np.cbrt(np.linalg.det(rot))  # the matrix may carry scale
        return TeacherResult(
            faces[k], scores, blendshapes_to_aus(scores), pose_from_rotation(rot), len(faces)
        )
