"""A real clip drives a real photo through the whole loop into an mp4; exit status 2 on setup errors."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from _rt_helpers import CLIP, PHOTO, analyzer_factory

from realtime.config import config_from_args
from realtime.pipeline import build_pipeline

REPO = Path(__file__).parents[2]
N = 60  # frames of the clip used: enough motion, a few seconds on 2 cores


def _frames(path: Path) -> tuple[list[np.ndarray], list[float]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    return [f.to_ndarray(format="rgb24") for f in frames], [float(f.time) for f in frames]


@pytest.mark.data
def test_clip_drives_photo_into_mp4(tmp_path: Path) -> None:
    if not CLIP.is_file() or not PHOTO.is_file():
        pytest.skip(f"real dev data not found at {CLIP.parent}")
    # the input: the first N frames of the clip, re-encoded so its frame count and times are known
    clip_in = tmp_path / "in.mp4"
    src_frames, _ = _frames(CLIP)
    with av.open(str(clip_in), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 256, 256, "yuv420p"
        for img in src_frames[:N]:
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode(None))
    in_frames, in_times = _frames(clip_in)
    out = tmp_path / "out.mp4"
    cfg = config_from_args(["--source", str(PHOTO), "--driving", str(clip_in), "--sink", f"file:{out}"])
    with build_pipeline(cfg, analyzer_factory) as pipeline:
        snap = pipeline.run()
    frames, times = _frames(out)
    assert snap.frames == len(in_frames) == len(frames) == N  # every input frame, no drops
    np.testing.assert_allclose(times, in_times, atol=1e-3)  # the input's timing
    assert frames[0].shape == (512, 512, 3)  # the source photo's size
    diffs = [np.abs(a.astype(np.int16) - b).mean() for a, b in itertools.pairwise(frames)]
    assert np.median(diffs) > 0.05, "output is frozen"
    # the animated photo still holds a face: the analyzer finds one in (nearly) every output frame
    with analyzer_factory("image") as analyzer:
        found = [analyzer.analyze(f) is not None for f in frames[::6]]
    assert np.mean(found) >= 0.9, found


def _run_cam(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "run_cam.py"), *args],
        check=False,  # the tests read the exit code
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_unreadable_source_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "photo.jpg"
    bad.write_text("not a picture")
    r = _run_cam("--source", str(bad), "--driving", str(tmp_path), "--sink", f"file:{tmp_path / 'o.mp4'}")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("run_cam.py: error: cannot read the source photo")


def test_bad_sink_argument_exits_2(tmp_path: Path) -> None:
    r = _run_cam("--source", "x.jpg", "--sink", "printer")
    assert r.returncode == 2 and "unknown sink 'printer'" in r.stderr


def test_source_without_face_exits_2(tmp_path: Path) -> None:
    import cv2

    photo = tmp_path / "wall.png"
    cv2.imwrite(str(photo), np.full((200, 200, 3), 128, np.uint8))
    cfg = config_from_args(["--source", str(photo), "--driving", str(tmp_path), "--sink", "file:o.mp4"])
    from realtime.errors import SetupError

    with (
        pytest.raises(SetupError, match="no face found in the source photo"),
        build_pipeline(cfg, analyzer_factory),
    ):
        pass
