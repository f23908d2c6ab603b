"""The live loop: capture -> analysis -> inference -> output as overlapping stages, one thread each.

Stages hand over through one-slot queues. With DropPolicy.LATEST (a webcam) the newest frame replaces one
that is still waiting, so a slow stage costs frames, never latency; with DropPolicy.EVERY (a file) the
producer waits, so the output holds every input frame. Every frame keeps its capture timestamp; the output
stage records glass-to-glass latency (capture -> handed to the sinks) and each stage its own time.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from realtime.config import DropPolicy, PipelineConfig
from realtime.controls import Controls
from realtime.errors import SetupError
from realtime.frames import Frame, now_ns
from realtime.sinks.base import Sink
from realtime.sources.base import Source
from realtime.stages.driving import DriveState, DrivingStage, NeutralProfile
from realtime.stages.render import Analyzer, RenderStage
from realtime.stats import Stats, StatsSnapshot

log = logging.getLogger(__name__)
_CLOSED = object()


class Slot:
    """A queue of one item. put() replaces a waiting item (LATEST) or waits for it to be taken (EVERY)."""

    def __init__(self, policy: DropPolicy, on_drop: Callable[[], None]) -> None:
        self._cv = threading.Condition()
        self._policy, self._on_drop = policy, on_drop
        self._item: Any = _CLOSED
        self._closed = self._discard = False

    def put(self, item: Any) -> bool:
        with self._cv:
            while self._policy is DropPolicy.EVERY and self._item is not _CLOSED and not self._closed:
                self._cv.wait()
            if self._closed:
                return False
            if self._item is not _CLOSED:
                self._on_drop()
            self._item = item
            self._cv.notify_all()
            return True

    def get(self) -> Any:
        """The next item, or _CLOSED once the producer is done (a waiting item is still delivered)."""
        with self._cv:
            while self._item is _CLOSED and not self._closed:
                self._cv.wait()
            item, self._item = (_CLOSED if self._discard else self._item), _CLOSED
            self._cv.notify_all()
            return item

    def close(self, discard: bool = False) -> None:
        with self._cv:
            self._closed, self._discard = True, self._discard or discard
            self._cv.notify_all()


@dataclass(frozen=True)
class Driven:
    frame: Frame
    drive: DriveState


@dataclass
class Parts:
    """Everything the loop runs, built by `build_parts` (or by a test, with fakes)."""

    source: Source
    analyzer: Analyzer
    """Driver analysis in video mode."""
    driving: DrivingStage
    render: RenderStage
    sinks: list[Sink]
    controls: Controls


class Pipeline:
    def __init__(
        self,
        parts: Parts,
        *,
        policy: DropPolicy,
        max_frames: int | None = None,
        stats: Stats | None = None,
        stats_interval_s: float = 0.0,
    ) -> None:
        self.parts, self.max_frames, self.stats_interval_s = parts, max_frames, stats_interval_s
        self.stats = stats or Stats()
        self._slots = [Slot(policy, self.stats.drop) for _ in range(3)]
        self._error: BaseException | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        """End capture; the frames already captured still reach the sinks, then run() returns (any thread,
        or a signal handler: realtime.stopping)."""
        self._stop.set()

    def run(self) -> StatsSnapshot:
        """Run until the source ends, max_frames, quit, or an error (re-raised here)."""
        stages = (self._capture, self._analyse, self._infer)
        threads = [
            threading.Thread(target=self._guard, args=(f, i), name=f.__name__.strip("_"), daemon=True)
            for i, f in enumerate(stages)
        ]
        for t in threads:
            t.start()
        try:
            self._output()
        finally:
            self._abort()
            for t in threads:
                t.join(timeout=5)
        if self._error is not None:
            raise self._error
        return self.stats.snapshot()

    def _guard(self, stage: Callable[[], None], i: int) -> None:
        try:
            stage()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread by run()
            self._error = self._error or e
            self._abort()
        finally:
            self._slots[i].close()

    def _abort(self) -> None:
        for s in self._slots:
            s.close(discard=True)

    def _capture(self) -> None:
        for frame in self.parts.source:
            if self._stop.is_set() or self.parts.controls.quit.is_set() or not self._slots[0].put(frame):
                return
            if self.max_frames is not None and frame.index + 1 >= self.max_frames:
                return

    def _analyse(self) -> None:
        p = self.parts
        while (frame := self._slots[0].get()) is not _CLOSED:
            t0 = time.perf_counter()
            face = p.analyzer.analyze(frame.image, int(frame.time_s * 1000))
            if p.controls.take_calibration_request():
                p.driving.request_calibration()
            # The driver's pixels (its inner mouth, its expression lines) are cut only for a renderer that draws
            # them: 0.4 ms a frame (512x512 driver) the others never use.
            image = frame.image if p.render.renderer.reads_driver_frame else None
            drive = p.driving(face, frame.time_s, p.controls.edits, image)
            self.stats.stage("analyse", time.perf_counter() - t0)
            if not self._slots[1].put(Driven(frame, drive)):
                return

    def _infer(self) -> None:
        p = self.parts
        while (item := self._slots[1].get()) is not _CLOSED:
            t0 = time.perf_counter()
            new_source = p.controls.take_source()
            if new_source is not None:
                p.render.set_source(new_source)
            p.render.set_keep_expression(p.controls.keep_expression)
            p.render.set_background(*p.controls.background)
            image = p.render(item.drive)
            self.stats.stage("render", time.perf_counter() - t0)
            if not self._slots[2].put(Driven(replace(item.frame, image=image), item.drive)):
                return

    def _output(self) -> None:
        last_log = time.perf_counter()
        while (item := self._slots[2].get()) is not _CLOSED:
            t0 = time.perf_counter()
            for sink in self.parts.sinks:
                sink.send(item.frame)
            self.stats.stage("output", time.perf_counter() - t0)
            self.stats.output((now_ns() - item.frame.capture_ns) / 1e9, item.drive.status)
            if self.parts.controls.quit.is_set():
                return
            if self.stats_interval_s and time.perf_counter() - last_log > self.stats_interval_s:
                last_log = time.perf_counter()
                log.info("%s", self.stats.snapshot().line())


def read_image(path: Any, what: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a picture file (size checked from its header first, large ones scaled down
    once: realtime.sources.picture), or SetupError saying what is wrong."""
    from realtime.sources.picture import PictureError, read_picture

    try:
        return read_picture(path, what)
    except PictureError as e:
        raise SetupError(str(e)) from None


def face_analyzer(mode: str) -> Any:
    """realtime.face.FaceAnalyzer in `mode` (image | video), not yet entered. The live driver is tracked as
    one face: looking for more makes MediaPipe run its detector on every frame (measured 9.1 vs 5.8 ms a
    640x480 frame); the source photo (image mode) is searched for several and the largest is used."""
    from realtime.face import AnalyzerOptions, FaceAnalyzer

    try:
        return FaceAnalyzer(AnalyzerOptions(mode=mode, max_faces=1 if mode == "video" else 4))  # type: ignore[arg-type]
    except (FileNotFoundError, ValueError) as e:
        raise SetupError(f"face analysis cannot start: {e}") from None


@contextlib.contextmanager
def build_pipeline(
    cfg: PipelineConfig, analyzer_factory: Callable[[str], Any] = face_analyzer, stats: Stats | None = None
) -> Iterator[Pipeline]:
    """The real parts for a config; every failure a user can fix is a SetupError. `analyzer_factory(mode)`
    makes the face analyzers (tests pass a lighter one)."""
    from realtime.memory import reuse_freed_memory
    from realtime.render.choice import make_crop_renderer
    from realtime.sinks import open_sinks
    from realtime.sources import open_source
    from realtime.stages.render import prepare_source
    from realtime.weights import load_au_basis, weights_dir

    reuse_freed_memory()  # each frame's buffers reuse the last one's pages (realtime.memory)
    photo = read_image(cfg.source, "source photo")
    picture = read_image(cfg.background.image, "background picture") if cfg.background.image else None
    calibration = cfg.calibration_profile()
    profile = None if calibration is None else NeutralProfile.from_profile(calibration)
    with contextlib.ExitStack() as stack:
        photo_analyzer = stack.enter_context(analyzer_factory("image"))
        folder = cfg.weights_dir or weights_dir()
        prepared = prepare_source(photo, photo_analyzer, weights=folder)
        source = stack.enter_context(open_source(cfg.driving))  # type: ignore[arg-type]
        driver_analyzer = stack.enter_context(analyzer_factory("video"))
        renderer = make_crop_renderer(
            folder,
            cfg.model,
            cfg.backend,
            cfg.renderer,
            cfg.motion,
            cfg.keep_expression,
        )
        stack.enter_context(renderer)  # left (closed) when the run ends
        render = RenderStage(renderer, prepared, size=cfg.size)
        controls = Controls(cfg.background.mode, picture, cfg.keep_expression)
        stats = stats or Stats()
        upload_lock = threading.Lock()

        def on_upload(rgb: np.ndarray) -> tuple[str, ...]:
            with upload_lock:  # one MediaPipe graph, used by one upload at a time
                prepared = prepare_source(rgb, photo_analyzer, weights=folder)
                render.stage(prepared)  # here, not in the render thread: the stream goes on meanwhile
                controls.set_source(prepared)
                return prepared.warnings

        w, h = render.size
        sinks = open_sinks(
            cfg, stack, width=w, height=h, fps=source.fps, controls=controls, stats=stats, on_upload=on_upload
        )
        driving = DrivingStage(
            profile, au_basis=load_au_basis(folder), lip_shape=load_au_basis(folder, "lip_shape.npy")
        )
        parts = Parts(source, driver_analyzer, driving, render, sinks, controls)
        yield Pipeline(
            parts,
            policy=cfg.drop_policy,
            max_frames=cfg.max_frames,
            stats=stats,
            stats_interval_s=cfg.stats_interval_s,
        )
