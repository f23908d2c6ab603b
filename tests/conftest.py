"""Shared test settings: where the real dev data is, and quiet logs from mediapipe."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEV_DATA = REPO.parent / "shared" / "data" / "dev"
TEACHER = REPO.parent / "shared" / "models" / "face_landmarker.task"

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def dev_data() -> Path:
    if not (DEV_DATA / "MANIFEST.csv").is_file():
        pytest.skip(f"real dev data not found at {DEV_DATA}")
    return DEV_DATA


@pytest.fixture(scope="session")
def teacher_model() -> Path:
    if not TEACHER.is_file():
        pytest.skip(f"teacher model not found at {TEACHER}")
    return TEACHER
