"""Calibration profile: JSON round trip, refusal of wrong files, profile from neutral frames, apply."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from calibrate.profile import (
    DEFAULT_RANGE,
    FORMAT,
    MAX_RANGE,
    MIN_RANGE,
    VERSION,
    CalibrationError,
    apply_profile,
    load_profile,
    neutral_profile,
    profile_from_frames,
    save_profile,
)
from realtime.face.types import AU_ORDER, HeadPose


def _neutral_frames(n: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.0, 0.3, 17)
    aus = np.clip(base + rng.normal(0, 0.01, (n, 17)), 0, 1)
    aus[::30, AU_ORDER.index("AU45")] = 0.9  # a few blinks: not noise
    poses = np.array([4.0, -3.0, 1.5]) + rng.normal(0, 0.5, (n, 3))
    return aus, poses


def test_round_trip(tmp_path: Path) -> None:
    prof = profile_from_frames(*_neutral_frames())
    path = save_profile(prof, tmp_path / "sub" / "p.json")
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT and data["version"] == VERSION and data["frames"] == 90
    assert list(data["au_baseline"]) == [a.value for a in AU_ORDER]
    assert set(data["pose_zero"]) == {"yaw", "pitch", "roll"}
    back = load_profile(path)
    assert dict(back.au_baseline) == pytest.approx(dict(prof.au_baseline))
    assert dict(back.au_range) == pytest.approx(dict(prof.au_range))
    assert dict(back.pose_zero) == pytest.approx(dict(prof.pose_zero))
    assert back.frames == prof.frames and back.created == prof.created


def test_profile_statistics() -> None:
    aus, poses = _neutral_frames()
    prof = profile_from_frames(aus, poses)
    np.testing.assert_allclose(prof.baseline_array(), np.median(aus, 0), atol=1e-6)
    rng = prof.range_array()
    assert np.all(rng >= MIN_RANGE) and np.all(rng <= MAX_RANGE)
    assert prof.au_range["AU45"] < 0.1, "three blinks in 90 frames are not taken for noise"
    np.testing.assert_allclose(prof.pose_zero_array(), np.median(poses, 0), atol=1e-5)


def test_still_clip_gets_default_range() -> None:
    aus = np.full((10, 17), 0.2)
    prof = profile_from_frames(aus, np.zeros((10, 3)))
    np.testing.assert_allclose(prof.range_array(), DEFAULT_RANGE)


def test_too_few_frames_is_a_clear_error() -> None:
    with pytest.raises(CalibrationError, match="neutral frames had a face"):
        profile_from_frames(np.zeros((2, 17)), np.zeros((2, 3)))
    with pytest.raises(CalibrationError, match="expected"):
        profile_from_frames(np.zeros((10, 16)), np.zeros((10, 3)))


def test_apply() -> None:
    aus, poses = _neutral_frames()
    prof = profile_from_frames(aus, poses)
    rel, pose = apply_profile(prof, prof.baseline_array(), HeadPose(*prof.pose_zero_array()))
    assert rel.shape == (17,) and rel.dtype == np.float32
    np.testing.assert_allclose(rel, 0.0)
    assert abs(pose.yaw) < 1e-5 and abs(pose.pitch) < 1e-5 and abs(pose.roll) < 1e-5
    full, _ = apply_profile(prof, np.ones(17, np.float32), HeadPose(0, 0, 0))
    np.testing.assert_allclose(full, 1.0, atol=1e-6)
    mid, turned = apply_profile(prof, prof.baseline_array() + 0.4, HeadPose(10, 0, 0))
    assert np.all((mid > 0) & (mid < 1))
    assert turned.yaw == pytest.approx(10 - prof.pose_zero["yaw"])
    same, _ = apply_profile(neutral_profile(), np.linspace(0, 1, 17, dtype=np.float32), HeadPose(0, 0, 0))
    np.testing.assert_allclose(same, np.linspace(0, 1, 17), atol=1e-6)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="facegan-dataset"), "not a calibration profile"),
        (lambda d: d.update(version=2), "version 2 is not supported"),
        (lambda d: d["au_baseline"].pop("AU45"), "lacks"),
        (lambda d: d["pose_zero"].update(yaw="left"), "finite number"),
        (lambda d: d.update(frames=-1), "non-negative"),
        (lambda d: d.pop("au_range"), "au_range"),
    ],
)
def test_load_refuses_bad_files(tmp_path: Path, edit, message: str) -> None:
    data = json.loads(save_profile(profile_from_frames(*_neutral_frames()), tmp_path / "p.json").read_text())
    edit(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(CalibrationError, match=message):
        load_profile(bad)


def test_load_refuses_non_json_and_missing(tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"\x89PNG not json")
    with pytest.raises(CalibrationError, match="not readable JSON"):
        load_profile(junk)
    with pytest.raises(CalibrationError, match="not found"):
        load_profile(tmp_path / "missing.json")
    lst = tmp_path / "list.json"
    lst.write_text("[1, 2]")
    with pytest.raises(CalibrationError, match="not a calibration profile"):
        load_profile(lst)


def test_run_time_reads_the_profile_through_its_config(tmp_path: Path) -> None:
    """realtime.config.PipelineConfig.calibration_profile is how run time gets the profile: the saved file
    comes back, no file gives None, and a bad file is a SetupError that names it."""
    from realtime.config import PipelineConfig
    from realtime.errors import SetupError

    prof = profile_from_frames(*_neutral_frames())
    path = save_profile(prof, tmp_path / "p.json")
    assert PipelineConfig(source=tmp_path / "s.jpg").calibration_profile() is None
    back = PipelineConfig(source=tmp_path / "s.jpg", calibration=path).calibration_profile()
    assert back is not None and dict(back.pose_zero) == pytest.approx(dict(prof.pose_zero))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SetupError, match="cannot read the calibration profile .*bad.json"):
        PipelineConfig(source=tmp_path / "s.jpg", calibration=tmp_path / "bad.json").calibration_profile()
