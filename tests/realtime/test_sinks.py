"""Virtual camera sink through a fake pyvirtualcam backend; its refusal of wrong frames; its one-line error
where no virtual camera exists; the window sink's hotkeys; the file sink's timing."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import av
import numpy as np
import pytest
import pyvirtualcam

from realtime.config import BackgroundMode
from realtime.controls import Controls
from realtime.errors import SetupError
from realtime.frames import Frame, now_ns
from realtime.sinks.file import FileSink
from realtime.sinks.virtualcam import VirtualCamSink
from realtime.sinks.window import WindowSink


class FakeCam:
    """A user-space pyvirtualcam backend that keeps what it is sent."""

    sent: ClassVar[list[np.ndarray]] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any):
        self.width, self.height = width, height
        FakeCam.sent = []

    def close(self) -> None:
        pass

    def send(self, frame: np.ndarray) -> None:
        FakeCam.sent.append(frame.reshape(self.height, self.width, 3).copy())

    def device(self) -> str:
        return "fake0"

    def native_fourcc(self) -> int | None:
        return None


pyvirtualcam.register_backend("facegan_fake", FakeCam)


def _frame(img: np.ndarray, i: int = 0) -> Frame:
    return Frame(img, i, now_ns(), i, Fraction(1, 30))


def test_virtualcam_sends_frames_to_backend() -> None:
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(5)]
    with VirtualCamSink(width=64, height=48, fps=30, backend="facegan_fake") as cam:
        for i, img in enumerate(imgs):
            cam.send(_frame(img, i))
    assert len(FakeCam.sent) == 5
    np.testing.assert_array_equal(FakeCam.sent[3], imgs[3])


def test_virtualcam_refuses_wrong_shape_or_dtype() -> None:
    with VirtualCamSink(width=64, height=48, fps=30, backend="facegan_fake") as cam:
        with pytest.raises(ValueError, match=r"does not match the sink's \(48, 64, 3\)"):
            cam.send(_frame(np.zeros((48, 64, 4), np.uint8)))
        with pytest.raises(TypeError, match="uint8"):
            cam.send(_frame(np.zeros((48, 64, 3), np.float32)))
    assert FakeCam.sent == []


def test_virtualcam_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        VirtualCamSink(64, 48, 30)  # type: ignore[misc]


@pytest.mark.skipif(sys.platform != "linux", reason="checks the Linux message where no v4l2loopback exists")
def test_missing_virtual_camera_says_what_to_install() -> None:
    import glob

    if glob.glob("/dev/video*"):
        pytest.skip("this machine has /dev/video devices; the no-camera path is not reachable")
    with pytest.raises(SetupError) as e:
        VirtualCamSink(width=64, height=48, fps=30, backend="v4l2loopback").__enter__()
    msg = str(e.value)
    assert "\n" not in msg and "v4l2loopback" in msg and "macOS: OBS" in msg and "Windows: OBS" in msg


def test_file_sink_keeps_count_and_timing(tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    tb = Fraction(1, 12800)
    pts = [0, 512, 1024, 2048, 2560]  # a gap, as after a dropped camera frame
    with FileSink(out, width=65, height=49, fps=25) as sink:  # odd sides are cropped to even
        for i, p in enumerate(pts):
            sink.send(Frame(np.full((49, 65, 3), 40 * i, np.uint8), i, now_ns(), p, tb))
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        frames = list(c.decode(video=0))
    assert [round(float(f.time), 4) for f in frames] == [round(p * float(tb), 4) for p in pts]
    assert (frames[0].width, frames[0].height) == (64, 48)


def test_window_hotkeys_change_controls() -> None:
    c = Controls()
    w = WindowSink(c)
    c.set_edit("AU12", gain=2.0)
    w.on_key(ord("r"))
    assert c.edits.get("AU12").gain == 1.0
    w.on_key(ord("b"))
    assert c.background[0] is BackgroundMode.BLUR
    w.on_key(ord("b"))  # no picture given: image is skipped
    assert c.background[0] is BackgroundMode.SOURCE
    w.on_key(ord("c"))
    assert c.take_calibration_request()
    w.on_key(ord("q"))
    assert c.quit.is_set()


def test_window_without_display_is_setup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SetupError, match="no display"):
        WindowSink(Controls()).__enter__()
