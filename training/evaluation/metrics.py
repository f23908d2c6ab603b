"""The metrics of the paper's Tables 1 and 2, with estimators independent of the run-time face analysis.

- Self-reenactment: MSE (pixels in [0, 1]), PSNR (dB), SSIM (Wang et al. 2004, Gaussian 11x11, sigma 1.5,
  per channel, averaged).
- Cross-reenactment:
  - CSIM: cosine similarity of dlib face-recognition ResNet embeddings (`face_recognition_models`) of the
    source and the output;
  - PSIM: cosine similarity of the driving and output head-pose angle vectors (yaw, pitch, roll);
  - ED: Euclidean distance of the driving and output AU vectors (17 intensities in AU_ORDER);
  - LSIM: landmark MSE of the output against a second photo of the source person (normalised crop
    coordinates, see `landmark_mse`).
  Pose, AUs and landmarks come from the Face Landmarker teacher (`training.data.teacher`), never from the
  run-time estimator, so a method is not judged by the estimator it was trained on.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import cv2
import numpy as np

from realtime.face.types import AU_ORDER

AU_NAMES: tuple[str, ...] = tuple(a.value for a in AU_ORDER)
"""The 17 AUs' names in AU_ORDER (the columns of `au_gap`)."""

log = logging.getLogger(__name__)

_SSIM_C1 = 0.01**2  # (K1 * L)^2 with L = 1 (pixels in [0, 1])
_SSIM_C2 = 0.03**2


def to_float(image: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 in [0, 255] or float in [0, 1] -> float64 in [0, 1]."""
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    return image.astype(np.float64)


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error of two images, pixels in [0, 1] (the paper's Table 1 MSE)."""
    _check_pair(a, b)
    return float(np.mean((to_float(a) - to_float(b)) ** 2))


REGIONS = ("mouth", "eyes", "face", "background")
"""The regions of the region errors (issue 10): inner mouth, both eyes, the face oval, outside the face."""


def region_masks(landmarks_px: np.ndarray, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """(H, W) bool masks of REGIONS drawn from the mesh polygons of (478, 2) landmarks in pixels: the inner
    lips' loop, the two eye loops, the face oval's hull; background is outside the oval's hull grown by 10 %."""
    import cv2

    from realtime.face import topology as topo
    from realtime.render.mouth import mesh_loops

    pts = np.asarray(landmarks_px, np.float32)[:, :2]
    mouth_loop, oval = mesh_loops()

    def fill(poly: np.ndarray, convex: bool = False) -> np.ndarray:
        m = np.zeros(shape[:2], np.uint8)
        p = np.round(cv2.convexHull(poly) if convex else poly).astype(np.int32)
        cv2.fillPoly(m, [p.reshape(-1, 2)], 1)
        return m.astype(bool)

    eyes = fill(cv2.convexHull(pts[list(topo.LEFT_EYE)]).reshape(-1, 2)) | fill(
        cv2.convexHull(pts[list(topo.RIGHT_EYE)]).reshape(-1, 2)
    )
    face = fill(pts[oval], convex=True)
    c = pts[oval].mean(0)
    grown = fill(c + 1.1 * (pts[oval] - c), convex=True)
    return {"mouth": fill(pts[mouth_loop]), "eyes": eyes, "face": face, "background": ~grown}


def masked_mse(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float | None:
    """MSE in [0, 1] units over the pixels of a mask (None where the mask is empty)."""
    _check_pair(a, b)
    if not mask.any():
        return None
    d = to_float(a)[mask] - to_float(b)[mask]
    return float(np.mean(d * d))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for pixels in [0, 1]; inf for identical images."""
    err = mse(a, b)
    return float("inf") if err == 0.0 else float(10.0 * np.log10(1.0 / err))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004): Gaussian window 11x11, sigma 1.5, channels averaged."""
    _check_pair(a, b)
    x, y = to_float(a), to_float(b)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    vals = []
    for c in range(x.shape[2]):
        xc, yc = x[..., c], y[..., c]
        mx, my = blur(xc), blur(yc)
        sxx = blur(xc * xc) - mx * mx
        syy = blur(yc * yc) - my * my
        sxy = blur(xc * yc) - mx * my
        num = (2 * mx * my + _SSIM_C1) * (2 * sxy + _SSIM_C2)
        den = (mx * mx + my * my + _SSIM_C1) * (sxx + syy + _SSIM_C2)
        vals.append(np.mean(num / den))
    return float(np.mean(vals))


def cosine_similarity(a: np.ndarray, b: np.ndarray, eps: float = 1e-8) -> float:
    """cos(a, b); 0 where either vector is (nearly) zero."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < eps or nb < eps:
        return 0.0
    return float(a @ b / (na * nb))


def pose_vector(pose: Any) -> np.ndarray:
    """(3,) yaw, pitch, roll in degrees from a HeadPose (anything with those attributes) or a (3,) array."""
    if hasattr(pose, "yaw"):
        return np.array([pose.yaw, pose.pitch, pose.roll], np.float64)
    return np.asarray(pose, np.float64).reshape(3)


def psim(driving_pose: Any, output_pose: Any) -> float:
    """PSIM: cosine similarity of the driving and output head-pose angle vectors."""
    return cosine_similarity(pose_vector(driving_pose), pose_vector(output_pose))


def au_gap(driving_aus: np.ndarray, output_aus: np.ndarray) -> np.ndarray:
    """(17,) output less driving AU intensities (AU_ORDER): what ED is the norm of, kept per AU so the report can
    say which AUs the distance comes from and which way they miss."""
    return np.asarray(output_aus, np.float64) - np.asarray(driving_aus, np.float64)


def au_distance(driving_aus: np.ndarray, output_aus: np.ndarray) -> float:
    """ED: Euclidean distance of the driving and output AU intensity vectors (17, AU_ORDER)."""
    return float(np.linalg.norm(np.asarray(driving_aus, np.float64) - np.asarray(output_aus, np.float64)))


def landmark_mse(a_px: np.ndarray, b_px: np.ndarray, size: int) -> float:
    """LSIM: mean squared error of (x, y) landmarks, each in its own aligned crop of side `size`, in the
    normalised crop coordinates the networks use (u = x / size * 2 - 1)."""
    if a_px.shape[0] != b_px.shape[0]:
        raise ValueError(f"landmark counts differ: {a_px.shape} vs {b_px.shape}")
    ua = np.asarray(a_px, np.float64)[:, :2] / size * 2.0 - 1.0
    ub = np.asarray(b_px, np.float64)[:, :2] / size * 2.0 - 1.0
    return float(np.mean((ua - ub) ** 2))


# -- identity embedder (CSIM) -----------------------------------------------------------------------------

RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"


class EmbedderUnavailableError(RuntimeError):
    """dlib or the face_recognition_models files are missing."""


def face_recognition_models_dir() -> Path:
    """The `models` folder of the face_recognition_models package, found without importing it: its
    __init__ imports pkg_resources, which setuptools >= 81 no longer has."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailableError(
            "face_recognition_models is not installed: pip install 'facegan-live[eval]' "
            "(dlib-bin face_recognition_models)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    for name in (RECOGNITION_MODEL, SHAPE_MODEL):
        if not (folder / name).is_file():
            raise EmbedderUnavailableError(f"face_recognition_models lacks {name} in {folder}")
    return folder


@dataclass(frozen=True)
class Embedding:
    vector: np.ndarray
    """(128,) float64 dlib face descriptor."""
    box: tuple[int, int, int, int]
    """(left, top, right, bottom) of the detected face."""


class IdentityEmbedder:
    """dlib's HOG face detector + 5-point shape model + face-recognition ResNet (CSIM's estimator).

    `embed(rgb)` returns None when dlib finds no face: callers count those ("faces the embedder cannot
    see") instead of dropping them silently."""

    def __init__(self, upsample: int = 1) -> None:
        try:
            import dlib  # deferred: only evaluation needs it
        except ImportError as exc:
            raise EmbedderUnavailableError("dlib is not installed: pip install dlib-bin") from exc
        folder = face_recognition_models_dir()
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(folder / SHAPE_MODEL))
        self._net = dlib.face_recognition_model_v1(str(folder / RECOGNITION_MODEL))
        self.upsample = upsample

    def embed(self, rgb: np.ndarray) -> Embedding | None:
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"embed expects an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        img = np.ascontiguousarray(rgb)
        dets = self._detector(img, 0) or self._detector(img, self.upsample)
        if not dets:
            return None
        det = max(dets, key=lambda r: r.width() * r.height())
        shape = self._shape(img, det)
        vec = np.asarray(self._net.compute_face_descriptor(img, shape, 0), np.float64)  # (128,)
        return Embedding(vec, (det.left(), det.top(), det.right(), det.bottom()))


def csim(source: Embedding, output: Embedding) -> float:
    """CSIM: cosine similarity of the source and output identity embeddings."""
    return cosine_similarity(source.vector, output.vector)


# -- teacher (pose, AUs, landmarks) ------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceMeasure:
    """What the teacher says about one image, reduced to what the metrics need."""

    aus: np.ndarray
    """(17,) float32 in AU_ORDER."""
    pose: np.ndarray
    """(3,) yaw, pitch, roll in degrees."""
    landmarks: np.ndarray
    """(478, 2) float32 pixels."""


class TeacherMeasurer:
    """Wraps `training.data.teacher.Teacher` (MediaPipe Face Landmarker, `face_landmarker.task`) as the
    independent estimator of pose, AUs and landmarks. Context manager."""

    def __init__(self, model_path: str | Path) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"teacher model not found: {path} (the Face Landmarker bundle face_landmarker.task; "
                "pass --teacher PATH)"
            )
        from training.data.teacher import Teacher  # deferred: it loads MediaPipe Tasks

        self._teacher = Teacher(path)
        self._entered: Any = None

    def __enter__(self) -> Self:
        self._entered = self._teacher.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._teacher.__exit__(exc_type, exc, tb)

    def measure(self, rgb: np.ndarray) -> FaceMeasure | None:
        teacher = self._entered if self._entered is not None else self._teacher
        res = teacher.analyze(np.ascontiguousarray(rgb))
        if res is None:
            return None
        return FaceMeasure(
            aus=np.asarray(res.aus, np.float32),
            pose=pose_vector(res.pose).astype(np.float32),
            landmarks=np.asarray(res.landmarks, np.float32)[:, :2],
        )
