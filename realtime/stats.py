"""Per-stage timings and glass-to-glass latency of the live loop (thread-safe, bounded memory)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StatsSnapshot:
    frames: int
    """Frames delivered to the sinks so far."""
    dropped: int
    """Frames replaced in a one-slot queue before a stage took them (newest wins)."""
    fps: float
    """Output rate over the recent window."""
    latency_p50_ms: float
    latency_p99_ms: float
    stage_ms: dict[str, float]
    """Median time per stage over the recent window."""
    status: str
    """The driving state of the last frame: tracking, holding, easing, neutral."""

    def line(self) -> str:
        stages = " ".join(f"{k}={v:.1f}" for k, v in self.stage_ms.items())
        return (
            f"{self.fps:5.1f} fps  latency p50 {self.latency_p50_ms:.0f} ms p99 {self.latency_p99_ms:.0f} ms"
            f"  [{stages}] ms  out={self.frames} dropped={self.dropped} face={self.status}"
        )


class Stats:
    def __init__(self, window: int = 300) -> None:
        self._lock = threading.Lock()
        self._stage: dict[str, deque[float]] = {}
        self._latency: deque[float] = deque(maxlen=window)
        self._out_times: deque[float] = deque(maxlen=window)
        self._window = window
        self.frames = 0
        self.dropped = 0
        self.status = "neutral"

    def stage(self, name: str, seconds: float) -> None:
        with self._lock:
            self._stage.setdefault(name, deque(maxlen=self._window)).append(seconds)

    def output(self, latency_s: float, status: str) -> None:
        with self._lock:
            self._latency.append(latency_s)
            self._out_times.append(time.perf_counter())
            self.frames += 1
            self.status = status

    def drop(self) -> None:
        with self._lock:
            self.dropped += 1

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            lat = np.array(self._latency) * 1e3
            times = list(self._out_times)
            stages = {k: float(np.median(v)) * 1e3 for k, v in self._stage.items() if v}
            fps = (
                (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
            )
            return StatsSnapshot(
                self.frames,
                self.dropped,
                fps,
                float(np.percentile(lat, 50)) if lat.size else 0.0,
                float(np.percentile(lat, 99)) if lat.size else 0.0,
                stages,
                self.status,
            )
