"""The weights the product runs on: fp16 ONNX files, their I/O specs and model cards (package data)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def weights_dir() -> Path:
    """The folder of the shipped weights, wherever the package is installed."""
    return Path(str(files("realtime.weights")))


def weight_path(name: str) -> Path:
    """Path of one shipped file, e.g. 'au_head.onnx'; a missing file is an error that says how to make it."""
    path = weights_dir() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"shipped weight file {path} is missing; it is made by this project's training commands "
            "(see docs/TRAINING.md) and committed under realtime/weights/"
        )
    return path
