"""The project's own AU head: landmarks -> 17 action-unit intensities, a small MLP shipped as ONNX.

It was distilled from MediaPipe's Face Landmarker blendshapes (training/au/distill.py); at run time only the
mesh and this head run. `au_features` is the one definition of its input, shared by training and run time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from realtime.face.pose import rigid_fit, undo_fit
from realtime.face.types import AU_ORDER

NUM_FEATURES = 478 * 3


def au_features(
    landmarks: np.ndarray, mean_face: np.ndarray, fit: tuple[np.ndarray, float, np.ndarray] | None = None
) -> np.ndarray:
    """(478, 3) pixel landmarks -> (1434,) float32: the face rotated to frontal, in mean-face units,
    minus the mean face. Removing pose and scale leaves mostly expression for the head to read.
    `fit` is `rigid_fit(landmarks, mean_face)` when the caller has it already (the analyser does)."""
    frontal = undo_fit(landmarks, fit if fit is not None else rigid_fit(landmarks, mean_face))  # (478, 3)
    return (frontal - mean_face).astype(np.float32).reshape(-1)


def load_au_reader(folder: Path) -> tuple[AUHead, np.ndarray]:
    """The AU head (au_head.onnx) and the mean face (mean_face.npy, (478, 3) float64) its features are taken in,
    from one weights folder; FileNotFoundError / ValueError with the reason when either is missing or wrong."""
    face = np.load(_require(folder / "mean_face.npy"))
    if face.shape != (478, 3):
        raise ValueError(f"{folder / 'mean_face.npy'}: mean face has shape {face.shape}, expected (478, 3)")
    return AUHead(_require(folder / "au_head.onnx")), face.astype(np.float64)


def _require(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the AU head is trained by `facegan-distill-au` and shipped in realtime/weights/"
        )
    return path


class AUHead:
    """ONNX Runtime session over au_head.onnx; `predict((N, 1434)) -> (N, 17)` clipped to [0, 1]."""

    def __init__(self, onnx_path: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # a tiny MLP: one thread is fastest and leaves cores to the mesh
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        out_shape = self._session.get_outputs()[0].shape
        if out_shape[-1] != len(AU_ORDER):
            raise ValueError(f"{onnx_path}: AU head gives {out_shape[-1]} outputs, expected {len(AU_ORDER)}")

    def predict(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, np.float32).reshape(-1, NUM_FEATURES)
        (aus,) = self._session.run(None, {self._input: x})
        return np.clip(aus, 0.0, 1.0).astype(np.float32)
