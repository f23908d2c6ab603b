"""Neutral capture from a frame source (fake analyzer, then the real CLI on a real clip)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calibrate.capture import capture_neutral
from calibrate.cli import main
from calibrate.profile import CalibrationError, load_profile
from realtime.face.types import FaceAnalysis, HeadPose

DATA = Path(__file__).parents[1].parent.parent / "shared" / "data" / "dev"
CLIP = DATA / "CVPR2022-DaGAN" / "assets" / "driving.mp4"  # 256x256, 25 fps, one talking face
WEIGHTS = Path(__file__).parents[2] / "realtime" / "weights" / "au_head.onnx"


class FakeAnalyzer:
    """Reads a face from the frame's first pixel: 0 means no face; otherwise AUs = value / 255."""

    def __init__(self) -> None:
        self.calls = 0

    def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> FaceAnalysis | None:
        self.calls += 1
        v = int(rgb[0, 0, 0])
        if v == 0:
            return None
        return FaceAnalysis(
            np.zeros((478, 3), np.float32), np.full(17, v / 255, np.float32), HeadPose(v, -v, 0), 1
        )


def _frames(values: list[int]) -> list[np.ndarray]:
    return [np.full((4, 4, 3), v, np.uint8) for v in values]


def test_capture_takes_seconds_times_fps_after_skip() -> None:
    fake = FakeAnalyzer()
    values = [0] * 5 + [10, 20, 30, 40, 50, 0, 60] + [200] * 50
    res = capture_neutral(iter(_frames(values)), fake, seconds=7, fps=1, skip_seconds=5)
    assert fake.calls == 7 and res.frames_seen == 7 and res.frames_with_face == 6
    assert res.profile.au_baseline["AU01"] == pytest.approx(35 / 255)
    assert res.profile.pose_zero["yaw"] == pytest.approx(35)
    assert res.profile.pose_zero["pitch"] == pytest.approx(-35)


def test_capture_accepts_frame_objects() -> None:
    class F:
        def __init__(self, image: np.ndarray) -> None:
            self.image = image

    res = capture_neutral([F(f) for f in _frames([9] * 8)], FakeAnalyzer(), seconds=1, fps=8)
    assert res.frames_with_face == 8


def test_capture_without_faces_or_frames_is_a_clear_error() -> None:
    with pytest.raises(CalibrationError, match="had a face"):
        capture_neutral(_frames([0] * 20), FakeAnalyzer(), seconds=1, fps=20)
    with pytest.raises(CalibrationError, match="no frames"):
        capture_neutral([], FakeAnalyzer(), seconds=1, fps=20)
    with pytest.raises(CalibrationError, match="positive"):
        capture_neutral(_frames([1]), FakeAnalyzer(), seconds=0, fps=20)


@pytest.mark.skipif(not CLIP.is_file(), reason=f"real dev data not found at {DATA}")
@pytest.mark.skipif(not WEIGHTS.is_file(), reason="realtime/weights/au_head.onnx not trained yet")
def test_cli_on_real_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "profile.json"
    assert main([str(CLIP), "--out", str(out), "--seconds", "2"]) == 0
    prof = load_profile(out)
    assert prof.frames == 50  # 2 s at 25 fps, a face in every frame
    assert abs(prof.pose_zero["yaw"]) < 30 and abs(prof.pose_zero["roll"]) < 30
    assert all(0.0 <= v <= 1.0 for v in prof.au_baseline.values())
    assert "wrote" in capsys.readouterr().out


def test_cli_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "p.json")]) == 2
    assert "not a file" in capsys.readouterr().err
    junk = tmp_path / "junk.mp4"
    junk.write_text("this is not a video\n")
    if WEIGHTS.is_file():
        assert main([str(junk), "--out", str(tmp_path / "p.json")]) == 2
        err = capsys.readouterr().err
        assert "facegan-calibrate:" in err and "Traceback" not in err
    assert not (tmp_path / "p.json").exists()
