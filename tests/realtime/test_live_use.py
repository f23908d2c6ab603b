"""Live use without surprises (issue 12): a new source photo of any size keeps every sink running at the
sink's size; any way a run ends leaves a finished recording; outputs never overwrite inputs; file drivers
play in real time into live sinks."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Self

import av
import cv2
import numpy as np
import pytest
from _rt_helpers import PHOTO, FixedAnalyzer, synthetic_face
from test_sinks import FakeCam  # importing it registers the "facegan_fake" pyvirtualcam backend

from realtime.config import BackgroundMode, DropPolicy
from realtime.controls import Controls
from realtime.frames import Frame, now_ns
from realtime.pipeline import Parts, Pipeline
from realtime.render.renderers import MeshFlowFrame, MeshWarpCrop
from realtime.sinks.file import FileSink
from realtime.sinks.virtualcam import VirtualCamSink
from realtime.stages.driving import DrivingStage
from realtime.stages.render import RenderStage, prepare_source
from realtime.weights import weights_dir


class ScriptedSource:
    """n still frames at 25 fps; `at[i]()` runs just before frame i is yielded (a user acting mid-run)."""

    fps = 25.0

    def __init__(self, n: int, at: dict[int, Callable[[], None]] | None = None) -> None:
        self.n, self.at = n, at or {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __iter__(self) -> Iterator[Frame]:
        img = np.zeros((120, 160, 3), np.uint8)
        for i in range(self.n):
            if i in self.at:
                self.at[i]()
            yield Frame(img, i, now_ns(), i, Fraction(1, 25))


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.standard_normal((h, w, 3)).astype(np.float32), (0, 0), 4)
    return np.clip(128 + noise / noise.std() * 60, 0, 255).astype(np.uint8)


def _prepared(h: int, w: int, seed: int = 0):
    face = synthetic_face(center=(w / 2, h / 2), iod=min(h, w) / 5)
    return prepare_source(_photo(h, w, seed), FixedAnalyzer(face)), face


@pytest.mark.parametrize("renderer", ["meshwarp", "meshflow"])
@pytest.mark.parametrize("new_size", [(300, 200), (96, 64), (240, 320), (241, 321)])
@pytest.mark.parametrize("background", [BackgroundMode.SOURCE, BackgroundMode.IMAGE])
def test_new_source_of_another_size_keeps_every_sink_at_its_size(
    tmp_path: Path, renderer: str, new_size: tuple[int, int], background: BackgroundMode
) -> None:
    first, face = _prepared(240, 320)
    second, _ = _prepared(*new_size, seed=1)
    controls = Controls()
    if background is BackgroundMode.IMAGE:  # the person mask runs MediaPipe: only this case pays for it
        controls.set_background(BackgroundMode.IMAGE, _photo(90, 70, seed=2))
    crop = MeshWarpCrop() if renderer == "meshwarp" else MeshFlowFrame(weights_dir(), "onnxruntime")
    render = RenderStage(crop, first)
    w, h = render.size
    out = tmp_path / "o.mp4"
    with (
        FileSink(out, width=w, height=h, fps=25) as file_sink,
        VirtualCamSink(width=w, height=h, fps=25, backend="facegan_fake") as cam,
    ):
        source = ScriptedSource(12, {4: lambda: controls.set_source(second)})
        parts = Parts(source, FixedAnalyzer(face), DrivingStage(), render, [file_sink, cam], controls)
        snap = Pipeline(parts, policy=DropPolicy.EVERY).run()
    assert snap.frames == 12 and len(FakeCam.sent) == 12
    assert all(f.shape == (240, 320, 3) for f in FakeCam.sent)
    assert render.src is second
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 12 and frames[-1].shape == (240, 320, 3)


# --- helpers: tiny clips made here ---


def _pattern(i: int, h: int = 48, w: int = 64) -> np.ndarray:
    """A frame whose top-left block says which way is up and whose brightness says which frame it is."""
    img = np.full((h, w, 3), 10 + 8 * (i % 25), np.uint8)
    img[:10, :20] = 255
    return img


def _clip(
    path: Path,
    n: int = 20,
    *,
    fps: int = 25,
    rotation: int | None = None,
    faststart: bool = False,
    audio: str | None = None,
) -> Path:
    """n frames of _pattern at fps; optional display rotation and audio: "aac" or "pcm_s16le", a 440 Hz
    tone that is silent before t = 0.4 s (so alignment can be measured)."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        if rotation is not None:
            v.set_display_rotation(rotation)
        a = None
        if audio:
            a = out.add_stream(audio, rate=16000)
            a.layout = "mono"
        for i in range(n):
            out.mux(v.encode(av.VideoFrame.from_ndarray(_pattern(i), format="rgb24")))
        out.mux(v.encode(None))
        if a is not None:
            sr, fmt = 16000, "fltp" if audio == "aac" else "s16"
            t = np.arange(int(sr * n / fps)) / sr
            tone = np.sin(2 * np.pi * 440 * t) * (t >= 0.4) * 0.5
            sig = tone.astype(np.float32) if fmt == "fltp" else (tone * 32767).astype(np.int16)
            for i in range(0, len(sig), 1024):
                fr = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(sig[None, i : i + 1024]), format=fmt, layout="mono"
                )
                fr.sample_rate, fr.pts = sr, i
                out.mux(a.encode(fr))
            out.mux(a.encode(None))
    return path


# --- any way a run ends leaves a finished recording with every processed frame ---


class _ListSink:
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def send(self, frame: Frame) -> None:
        self.frames.append(frame)


@pytest.mark.parametrize("k", [1, 5, 17])
def test_stop_delivers_every_captured_frame(k: int) -> None:
    prepared, face = _prepared(120, 160)
    sink, controls = _ListSink(), Controls()
    holder: list[Pipeline] = []
    source = ScriptedSource(40, {k: lambda: holder[0].stop()})
    parts = Parts(
        source, FixedAnalyzer(face), DrivingStage(), RenderStage(MeshWarpCrop(), prepared), [sink], controls
    )
    holder.append(Pipeline(parts, policy=DropPolicy.EVERY))
    snap = holder[0].run()
    assert snap.frames == k and [f.index for f in sink.frames] == list(range(k))


REPO = Path(__file__).parents[2]


def _run_cam(*args: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(REPO / "run_cam.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        **kw,  # type: ignore[call-overload]
    )


@pytest.mark.data
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_finalises_the_mp4_with_every_frame(tmp_path: Path, sig: signal.Signals) -> None:
    if not PHOTO.is_file():
        pytest.skip(f"real dev data not found at {PHOTO.parent}")
    clip = _clip(tmp_path / "in.mp4", 10, audio="aac")
    out = tmp_path / "out.mp4"
    p = _run_cam(
        "--source",
        str(PHOTO),
        "--driving",
        str(clip),
        "--loop",
        "--sink",
        f"file:{out}",
        "--renderer",
        "meshwarp",
    )
    try:
        deadline = time.monotonic() + 90
        while (
            (not out.exists() or out.stat().st_size < 20_000)
            and p.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)  # until frames are being written
        assert p.poll() is None, p.communicate()
        p.send_signal(sig)
        stdout, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 128 + sig, err
    wrote = int(re.search(r"wrote (\d+) frames", err).group(1))  # type: ignore[union-attr]
    assert f"out={wrote} " in stdout  # every frame the loop output is in the file
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
        assert c.streams.audio, "the clip's audio was dropped"
    assert len(frames) == wrote > 10  # it played on past the first pass through the clip
    times = [float(f.time) for f in frames]
    assert times == sorted(times) and len(set(times)) == len(times)


# --- outputs never overwrite inputs; bad output arguments are a usage error ---


@pytest.mark.parametrize(
    "args,message",
    [
        (["--sink", "file:out.txt"], "must end in .mp4"),
        (["--sink", "file:out"], "must end in .mp4"),
        (["--sink", "file:{tmp}"], "is a folder"),
        (["--sink", "file:"], "needs a path"),
        (["--port", "99999"], "from 1 to 65535"),
        (["--port", "0"], "from 1 to 65535"),
        (["--port", "-1"], "from 1 to 65535"),
        (["--port", "http"], "from 1 to 65535"),
        (["--loop"], "--loop repeats a --driving file"),
    ],
)
def test_bad_output_arguments_exit_2_with_one_line(
    tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    from realtime.config import config_from_args

    with pytest.raises(SystemExit) as e:
        config_from_args(["--source", "p.jpg", *[a.format(tmp=tmp_path) for a in args]])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "".join(err)


def _collision_cases(tmp: Path) -> list[tuple[list[str], str]]:
    clip, photo, bg, prof = (tmp / n for n in ("c.mp4", "p.jpg", "bg.mov", "prof.mkv"))
    for f in (clip, photo, bg, prof):
        f.write_bytes(b"x")
    (tmp / "sub").mkdir()
    (tmp / "link.mp4").symlink_to(clip)
    os.link(clip, tmp / "hard.mp4")
    base = ["--source", str(photo), "--driving", str(clip)]
    return [
        ([*base, "--sink", f"file:{clip}"], "is the driving video"),
        ([*base, "--sink", f"file:{tmp}/sub/../c.mp4"], "is the driving video"),
        ([*base, "--sink", f"file:{tmp / 'link.mp4'}"], "is the driving video"),
        ([*base, "--sink", f"file:{tmp / 'hard.mp4'}"], "is the driving video"),
        (
            ["--source", str(tmp / "face.mp4"), "--driving", str(clip), "--sink", f"file:{tmp / 'face.mp4'}"],
            "is the source photo",
        ),
        ([*base, "--background", str(bg), "--sink", f"file:{bg}"], "is the background picture"),
        ([*base, "--calibration", str(prof), "--sink", f"file:{prof}"], "is the calibration profile"),
        ([*base, "--sink", f"file:{tmp}/o.mp4", "--sink", f"file:{tmp}/sub/../o.mp4"], "given twice"),
    ]


def test_an_output_that_is_an_input_is_refused(tmp_path: Path) -> None:
    from realtime.config import config_from_args
    from realtime.errors import SetupError
    from realtime.sinks import check_outputs

    for args, message in _collision_cases(tmp_path):
        with pytest.raises(SetupError, match=message):
            check_outputs(config_from_args(args))
    check_outputs(
        config_from_args(["--source", "p.jpg", "--driving", "c.mp4", "--sink", f"file:{tmp_path}/new.mp4"])
    )


@pytest.mark.data
def test_run_cam_refuses_to_overwrite_its_driving_clip(tmp_path: Path) -> None:
    if not PHOTO.is_file():
        pytest.skip(f"real dev data not found at {PHOTO.parent}")
    clip = _clip(tmp_path / "c.mp4")
    before = clip.read_bytes()
    p = _run_cam("--source", str(PHOTO), "--driving", str(clip), "--sink", f"file:{clip}")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2 and "is the driving video" in err.strip().splitlines()[-1], err
    assert clip.read_bytes() == before


# --- driving files: what could not be read is said; rotation honoured; loop and real-time pacing ---


def test_truncated_clip_says_how_many_frames_were_lost(tmp_path: Path, caplog) -> None:
    from realtime.sources.video import VideoFileSource

    full = _clip(tmp_path / "full.mp4", 60, faststart=True)  # the index at the front, as phones write it
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    mdat = data.index(b"mdat")
    cut.write_bytes(data[: mdat + (len(data) - mdat) * 2 // 5])
    with caplog.at_level(logging.WARNING), VideoFileSource(cut) as src:
        n = sum(1 for _ in src)
    assert 0 < n < 60
    assert f"read {n} of its 60 frames; {60 - n} lost" in caplog.text


@pytest.mark.parametrize("keep", ["index-only", "half-index", "garbage"])
def test_clip_with_no_decodable_frame_is_a_setup_error(tmp_path: Path, keep: str) -> None:
    from realtime.errors import SetupError
    from realtime.sources.video import VideoFileSource

    full = _clip(tmp_path / "full.mp4", 30, faststart=True)
    data = full.read_bytes()
    mdat = data.index(b"mdat")
    bad = tmp_path / "bad.mp4"
    if keep == "index-only":
        bad.write_bytes(data[: mdat + 4])
    elif keep == "half-index":
        bad.write_bytes(data[: mdat // 2])
    else:  # the index intact, every picture byte replaced
        bad.write_bytes(data[: mdat + 4] + bytes(len(data) - mdat - 4))
    with (
        pytest.raises(
            SetupError, match="no frame of the driving video .* could be decoded|cannot read driving"
        ),
        VideoFileSource(bad) as src,
    ):
        list(src)


@pytest.mark.parametrize("rotation,k", [(-90, -1), (90, 1), (180, 2), (0, 0)])
def test_display_rotation_is_honoured(tmp_path: Path, rotation: int, k: int) -> None:
    from realtime.sources.video import VideoFileSource

    with VideoFileSource(_clip(tmp_path / "r.mp4", 3, rotation=rotation)) as src:
        img = next(iter(src)).image
    want = np.rot90(_pattern(0), k)
    assert img.shape == want.shape
    assert np.abs(img.astype(int) - want).mean() < 8


def test_loop_repeats_with_rising_timestamps(tmp_path: Path) -> None:
    import itertools

    from realtime.sources.folder import FolderSource
    from realtime.sources.video import VideoFileSource

    with VideoFileSource(_clip(tmp_path / "l.mp4", 10), loop=True) as src:
        frames = list(itertools.islice(src, 35))
    times = [f.time_s for f in frames]
    assert len(frames) == 35 and all(b > a for a, b in itertools.pairwise(times))
    np.testing.assert_allclose(np.diff(times), 1 / 25, atol=1e-3)
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"{i}.png"), _pattern(i))
    frames = list(itertools.islice(FolderSource(tmp_path, loop=True), 10))
    assert [f.pts for f in frames] == list(range(10))


@pytest.mark.parametrize(
    "sinks,paced,policy",
    [
        (["webrtc"], True, DropPolicy.LATEST),
        (["virtualcam"], True, DropPolicy.LATEST),
        (["window"], True, DropPolicy.LATEST),
        (["file:o.mp4"], False, DropPolicy.EVERY),
        (["file:o.mp4", "webrtc"], True, DropPolicy.EVERY),  # shown live, and recorded whole
    ],
)
def test_file_driver_plays_at_its_own_rate_into_live_sinks(
    tmp_path: Path, sinks: list[str], paced: bool, policy
) -> None:
    from realtime.config import config_from_args
    from realtime.sources import open_source

    clip = _clip(tmp_path / "c.mp4", 5, fps=15)
    args = ["--source", "p.jpg", "--driving", str(clip)] + [a for s in sinks for a in ("--sink", s)]
    cfg = config_from_args(args)
    assert cfg.driving.paced is paced and cfg.drop_policy is policy
    with open_source(cfg.driving) as src:
        assert src.pace_fps == (15.0 if paced else None) and src.fps == 15.0
    assert config_from_args(["--source", "p.jpg"]).drop_policy is DropPolicy.LATEST  # the webcam


# --- the file sink keeps the driving clip's audio, aligned ---


def _audio_onset(path: Path) -> tuple[float, float]:
    """(time the tone starts, end of the audio) in seconds."""
    with av.open(str(path)) as c:
        chunks = [(float(f.time), f.to_ndarray().reshape(-1), f.sample_rate) for f in c.decode(audio=0)]
    t0, sr = chunks[0][0], chunks[0][2]
    sig = np.concatenate([np.abs(x.astype(np.float32)) for _, x, _ in chunks])
    loud = np.flatnonzero(sig > 0.2 * sig.max())
    return t0 + loud[0] / sr, t0 + len(sig) / sr


@pytest.mark.parametrize(
    "codec,suffix", [("aac", ".mp4"), ("pcm_s16le", ".mkv"), ("pcm_s16le", ".mp4"), ("aac", ".mov")]
)
@pytest.mark.parametrize("n", [25, 12])  # the whole clip; a run ended early (--max-frames, a signal)
def test_file_sink_keeps_the_clip_audio_aligned(tmp_path: Path, codec: str, suffix: str, n: int) -> None:
    from realtime.sources.video import VideoFileSource

    clip = _clip(tmp_path / ("in.mkv" if codec.startswith("pcm") else "in.mp4"), 25, audio=codec)
    out = tmp_path / f"out{suffix}"
    with VideoFileSource(clip) as src, FileSink(out, width=64, height=48, fps=25, audio_from=clip) as sink:
        for f, _ in zip(src, range(n)):
            sink.send(f)
    onset, end = _audio_onset(out)
    src_onset, _ = _audio_onset(clip)
    assert abs(onset - src_onset) < 0.03 and abs(src_onset - 0.4) < 0.03
    assert abs(end - n / 25) < 0.08  # cut at the last frame


def test_file_sink_without_frames_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    with FileSink(out, width=64, height=48, fps=25):
        pass
    assert not out.exists()


# --- start-up: MediaPipe's chatter filtered from stderr, everything else kept ---


def test_native_startup_lines_are_filtered() -> None:
    code = (
        "import os, sys\n"
        "from realtime.quiet import quiet_native_logs\n"
        "quiet_native_logs()\n"
        "os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'W0000 00:00:1796231144.217114    2015 inference_feedback_manager.cc:114] Feedback\\n')\n"
        "os.write(2, b'I0000 00:00:1796231144.217114    2015 gl_context.cc:357] GL version\\n')\n"
        "os.write(2, b'E0000 00:00:1796231144.217114    2015 graph.cc:1] a real error\\n')\n"
        "print('run_cam.py: error: kept', file=sys.stderr)\n"
        "sys.exit(2)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60, check=False
    )
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "E0000 00:00:1796231144.217114    2015 graph.cc:1] a real error",
        "run_cam.py: error: kept",
    ]


def test_help_describes_every_option() -> None:
    from realtime.config import build_parser

    text = " ".join(build_parser().format_help().split())
    for opt in ("--backend", "--model", "--port", "--loop", "--verbose"):
        block = text.split(opt, 2)[-1][:200]
        assert len(block.split("}")[-1].strip()) > 20, (opt, block)
    assert "default: the webcam" in text and "None: the webcam" not in text
    assert "training.evaluation.live --decide" in text


@pytest.mark.parametrize("what", ["source photo", "background picture"])
def test_oversized_or_broken_picture_files_are_setup_errors(tmp_path: Path, what: str) -> None:
    from test_webrtc_server import _jpeg_claiming, _png_header_only

    from realtime.errors import SetupError
    from realtime.pipeline import read_image

    cases = {
        "huge.png": (_png_header_only(16000, 16000), r"megapixels\)?; the limit is 120"),
        "huge.jpg": (_jpeg_claiming(12000, 10100), r"megapixels\)?; the limit is 120"),
        "stub.png": (_png_header_only(64, 64), "is damaged"),
        "text.jpg": (b"not a picture", "is not a picture"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(SetupError, match=message) as e:
            read_image(tmp_path / name, what)
        assert str(e.value).startswith(f"cannot read the {what} {tmp_path / name}: ") and "\n" not in str(
            e.value
        )
    with pytest.raises(SetupError, match="No such file"):
        read_image(tmp_path / "absent.jpg", what)


def test_a_live_output_is_a_calls_720p_unless_told_and_a_file_keeps_the_photos_size() -> None:
    from realtime.config import CALL_SIZE, config_from_args

    assert config_from_args(["--source", "p.jpg"]).size == CALL_SIZE == (1280, 720)  # the virtual camera
    assert config_from_args(["--source", "p.jpg", "--sink", "webrtc"]).size == CALL_SIZE
    assert config_from_args(["--source", "p.jpg", "--driving", "c.mp4", "--sink", "file:o.mp4"]).size is None
    told = ["--source", "p.jpg", "--size", "640x480", "--sink", "virtualcam"]
    assert config_from_args(told).size == (640, 480)


def test_a_transparent_picture_is_shown_over_a_light_backdrop_not_black(tmp_path: Path) -> None:
    """A cut-out portrait (PNG or WebP with its background taken away) stores black in its transparent pixels:
    decoded as they are, the face sat on black and the call's fill carried the black out. Opaque pixels are kept,
    half-transparent ones mixed."""
    from PIL import Image

    from realtime.pipeline import read_image
    from realtime.sources.picture import BACKDROP

    rgba = np.zeros((60, 80, 4), np.uint8)
    rgba[20:40, 30:50] = (200, 150, 120, 255)
    rgba[20:40, 50:60] = (200, 150, 120, 128)
    for name in ("cut.png", "cut.webp"):
        Image.fromarray(rgba, "RGBA").save(tmp_path / name, lossless=True)
        rgb = read_image(tmp_path / name, "source photo")
        assert tuple(rgb[0, 0]) == BACKDROP
        assert tuple(rgb[30, 40]) == (200, 150, 120)
        assert np.abs(rgb[30, 55].astype(int) - (np.array(BACKDROP) + (200, 150, 120)) / 2).max() <= 2
    Image.fromarray(rgba[..., :3]).save(tmp_path / "opaque.png")
    assert tuple(read_image(tmp_path / "opaque.png", "source photo")[0, 0]) == (0, 0, 0)  # black stays black
