"""The weights the product runs on: fp16 ONNX files, their I/O specs and model cards (package data)."""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from pathlib import Path

import numpy as np


def weights_dir() -> Path:
    """The folder of the shipped weights, wherever the package is installed."""
    return Path(str(files("realtime.weights")))


@functools.lru_cache(maxsize=4)
def load_au_basis(folder: Path, name: str = "au_basis.npy") -> np.ndarray | None:
    """(17, 478, 3) float32 read-only: how each AU moves the face (training.au.basis), read once per folder,
    name and process; None when the folder has none. `name`: au_basis.npy (the free fit: what shuts an open
    mouth or smile out of a neutral) or au_edit.npy (each AU on its own part of the face: the sliders)."""
    path = Path(folder) / name
    if not path.is_file():
        return None
    basis = np.load(path).astype(np.float32)
    basis.setflags(write=False)
    return basis


@functools.lru_cache(maxsize=4)
def load_au_gain(folder: Path) -> np.ndarray:
    """(17,) float32 read-only: the gain of each AU's edit along au_edit.npy (au_basis.json's "edit_gain",
    training.au.basis: the teacher sees the edit land in full), in AU_ORDER; ones where the folder has none."""
    from realtime.face.types import AU_ORDER

    gain = np.ones(len(AU_ORDER), np.float32)
    path = Path(folder) / "au_basis.json"
    if path.is_file():
        table = json.loads(path.read_text()).get("edit_gain", {})
        for k, au in enumerate(AU_ORDER):
            gain[k] = float(table.get(au.value, 1.0))
    gain.setflags(write=False)
    return gain


def weight_path(name: str) -> Path:
    """Path of one shipped file, e.g. 'au_head.onnx'; a missing file is an error that says how to make it."""
    path = weights_dir() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"shipped weight file {path} is missing; it is made by this project's training commands "
            "(see docs/TRAINING.md) and committed under realtime/weights/"
        )
    return path
