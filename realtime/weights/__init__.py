"""The weights the product runs on: fp16 ONNX files, their I/O specs and model cards (package data)."""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path

import numpy as np


def weights_dir() -> Path:
    """The folder of the shipped weights, wherever the package is installed."""
    return Path(str(files("realtime.weights")))


@functools.lru_cache(maxsize=4)
def load_au_basis(folder: Path) -> np.ndarray | None:
    """(17, 478, 3) float32 read-only: how each AU moves the face (au_basis.npy, training.au.basis), read once
    per folder and process; None when the folder has none."""
    path = Path(folder) / "au_basis.npy"
    if not path.is_file():
        return None
    basis = np.load(path).astype(np.float32)
    basis.setflags(write=False)
    return basis


def weight_path(name: str) -> Path:
    """Path of one shipped file, e.g. 'au_head.onnx'; a missing file is an error that says how to make it."""
    path = weights_dir() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"shipped weight file {path} is missing; it is made by this project's training commands "
            "(see docs/TRAINING.md) and committed under realtime/weights/"
        )
    return path
