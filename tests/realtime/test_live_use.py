"""Live use without surprises (issue 12): a new source photo of any size keeps every sink running at the
sink's size; any way a run ends leaves a finished recording; outputs never overwrite inputs; file drivers
play in real time into live sinks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Self

import av
import cv2
import numpy as np
import pytest
from _rt_helpers import FixedAnalyzer, synthetic_face
from test_sinks import FakeCam  # importing it registers the "facegan_fake" pyvirtualcam backend

from realtime.config import BackgroundMode, DropPolicy
from realtime.pipeline import Parts, Pipeline
from realtime.sinks.file import FileSink
from realtime.sinks.virtualcam import VirtualCamSink
from realtime.sources.base import Frame, now_ns
from realtime.stages.controls import Controls
from realtime.stages.driving import DrivingStage
from realtime.stages.render import MeshFlowFrame, MeshWarpCrop, RenderStage, prepare_source
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
