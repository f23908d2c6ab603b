"""Bounded soak: a few thousand frames from a fake source at full speed through the whole loop (one-slot
queues, newest wins) with a tiny renderer. Memory and latency must stay flat: asserted on trends (growth
between the first and last part of the run, frames in flight), never on absolute times."""

from __future__ import annotations

import gc
import resource
import time
from fractions import Fraction
from typing import Self

import numpy as np
import pytest
from _rt_helpers import FixedAnalyzer, synthetic_face

from realtime.config import DropPolicy
from realtime.controls import Controls
from realtime.frames import Frame, now_ns
from realtime.pipeline import Parts, Pipeline
from realtime.stages.driving import DrivingStage
from realtime.stages.render import RenderStage, prepare_source

N = 2000


class FastSource:
    fps = 30.0

    def __init__(self, n: int, period_s: float = 0.0) -> None:
        self.n, self.produced, self.period_s = n, 0, period_s
        self.image = np.zeros((120, 160, 3), np.uint8)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __iter__(self):
        for i in range(self.n):
            self.produced = i + 1
            if self.period_s:
                time.sleep(self.period_s)
            yield Frame(self.image, i, now_ns(), i, Fraction(1, 30))


class FlakyAnalyzer(FixedAnalyzer):
    """A face, except for 20 frames in every 100 (face lost -> hold -> ease -> recover)."""

    def __init__(self) -> None:
        super().__init__(synthetic_face(center=(80, 60), iod=30))
        self.calls = 0

    def analyze(self, rgb, timestamp_ms=None):
        self.calls += 1
        return None if self.calls % 100 >= 80 else self.face


class TinyRenderer:
    name = "tiny"
    reads_driver_frame = False

    def set_source(self, src) -> None:
        pass

    def render(self, src, drive):
        return (src.crop * (0.5 + 0.5 * drive.weight)).astype(np.uint8)


class RecordingSink:
    def __init__(self, source: FastSource) -> None:
        self.source = source
        self.in_flight: list[int] = []  # frames captured but not yet out, seen at each output
        self.rss: list[int] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def send(self, frame: Frame) -> None:
        self.in_flight.append(self.source.produced - 1 - frame.index)
        if len(self.in_flight) % 100 == 0:
            self.rss.append(_rss_bytes())


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


@pytest.mark.parametrize("policy", [DropPolicy.EVERY, DropPolicy.LATEST])
def test_soak_memory_and_latency_stay_flat(policy: DropPolicy) -> None:
    """EVERY: all N frames go through every stage. LATEST: a source far faster than the loop; most frames
    are dropped, and those that come out must be recent ones."""
    gc.collect()
    source = FastSource(N, 0.0 if policy is DropPolicy.EVERY else 0.001)  # LATEST: ~1 kHz
    photo = np.full((120, 160, 3), 90, np.uint8)
    prepared = prepare_source(photo, FixedAnalyzer(synthetic_face(center=(80, 60), iod=30)))
    sink = RecordingSink(source)
    controls = Controls()
    parts = Parts(
        source, FlakyAnalyzer(), DrivingStage(), RenderStage(TinyRenderer(), prepared), [sink], controls
    )
    pipeline = Pipeline(parts, policy=policy)
    snap = pipeline.run()
    lat = np.array(pipeline.stats._latency)  # the recent window: the end of the run
    out = len(sink.in_flight)
    if policy is DropPolicy.EVERY:
        assert out == N and snap.dropped == 0
    else:
        assert out >= 2 and snap.frames == out and snap.frames + snap.dropped <= N
    # latency cannot build up. EVERY: never more frames in flight than the 3 slots and 4 stages can hold.
    # LATEST: frames captured meanwhile depend on thread scheduling; their count must not trend upwards.
    if policy is DropPolicy.EVERY:
        assert max(sink.in_flight) <= 8, max(sink.in_flight)
    third = len(sink.in_flight) // 3
    if third >= 10:
        first, last = np.mean(sink.in_flight[:third]), np.mean(sink.in_flight[-third:])
        assert last <= 1.5 * first + 2, (first, last)
    assert lat.size > 0 and np.isfinite(lat).all()
    # memory: after warm-up, the resident size must not keep growing (tolerance: allocator noise)
    rss = np.array(sink.rss[len(sink.rss) // 4 :], np.float64)
    if rss.size >= 4:
        slope_per_frame = np.polyfit(np.arange(rss.size) * 100.0, rss, 1)[0]
        assert slope_per_frame * N < 16 * 2**20, f"memory grows by {slope_per_frame:.0f} B per frame"


@pytest.mark.parametrize("reads", [False, True])
def test_the_driver_frame_is_cut_only_for_a_renderer_that_draws_from_it(reads: bool) -> None:
    """The driving stage is handed the driver's pixels (to cut its inner mouth and expression lines) only when
    the renderer draws from them (the mesh flow); the others never pay for the cut."""

    class Renderer(TinyRenderer):
        reads_driver_frame = reads

    class Recording(DrivingStage):
        def __call__(self, face, t_s, edits, image=None):
            handed.append(image is not None)
            return super().__call__(face, t_s, edits, image)

    handed: list[bool] = []
    face = synthetic_face(center=(80, 60), iod=30)
    prepared = prepare_source(np.full((120, 160, 3), 90, np.uint8), FixedAnalyzer(face))
    parts = Parts(
        FastSource(20), FixedAnalyzer(face), Recording(), RenderStage(Renderer(), prepared), [], Controls()
    )
    Pipeline(parts, policy=DropPolicy.EVERY).run()
    assert len(handed) == 20 and set(handed) == {reads}
