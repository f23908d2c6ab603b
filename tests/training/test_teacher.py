"""The Face Landmarker teacher: the blendshape -> AU table, and a real detection."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.face.types import AU, AU_ORDER
from training.data.teacher import BLENDSHAPE_TO_AU, Teacher, blendshapes_to_aus

DATA = Path(__file__).parents[1].parent.parent / "shared" / "data" / "dev"
TEACHER = DATA.parent.parent / "models" / "face_landmarker.task"
PHOTO = DATA / "LivePortrait" / "assets" / "examples" / "source" / "s42.jpg"

NAMES = sorted({n for names in BLENDSHAPE_TO_AU.values() for n in names} | {"mouthClose", "_neutral"})


def _scores(**values: float) -> dict[str, float]:
    s = dict.fromkeys(NAMES, 0.0)
    s.update(values)
    return s


def test_table_covers_every_au() -> None:
    assert set(BLENDSHAPE_TO_AU) == set(AU_ORDER)
    assert blendshapes_to_aus(_scores()).shape == (17,)


def test_mapping_rules() -> None:
    aus = blendshapes_to_aus(_scores(eyeBlinkLeft=1.0, eyeBlinkRight=0.5, jawOpen=0.6, mouthClose=0.2))
    by = dict(zip(AU_ORDER, aus, strict=True))
    assert by[AU.AU45] == pytest.approx(0.75)  # left/right mean
    assert by[AU.AU26] == pytest.approx(0.6)
    assert by[AU.AU25] == pytest.approx(0.4)  # jaw open minus lips held closed
    assert by[AU.AU12] == 0.0
    clipped = blendshapes_to_aus(_scores(jawOpen=1.0, mouthUpperUpLeft=1.0, mouthUpperUpRight=1.0))
    assert clipped.max() <= 1.0 and clipped.min() >= 0.0


@pytest.mark.skipif(not (TEACHER.is_file() and PHOTO.is_file()), reason="teacher model or dev data not found")
def test_teacher_on_real_photo() -> None:
    rgb = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    with Teacher(TEACHER) as t:
        res = t.analyze(rgb)
        assert t.analyze(np.zeros((8, 8, 3), np.uint8)) is None
        with pytest.raises(ValueError, match="uint8"):
            t.analyze(rgb.astype(np.float32))
    assert res is not None and res.num_faces == 1
    assert res.landmarks.shape == (478, 3) and len(res.blendshapes) == 52
    assert np.all((res.aus >= 0) & (res.aus <= 1))
    assert abs(res.pose.yaw) < 30 and abs(res.pose.roll) < 30
    h, w = rgb.shape[:2]
    assert 0 < res.landmarks[:, 0].mean() < w and 0 < res.landmarks[:, 1].mean() < h


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="teacher model"):
        Teacher(tmp_path / "nope.task")
