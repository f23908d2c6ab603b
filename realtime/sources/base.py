"""What every driving source yields: an RGB frame that carries its capture time and its media timing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol, Self

import numpy as np


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    """(H, W, 3) uint8 RGB."""
    index: int
    """0, 1, 2, ... in the order the source produced them."""
    capture_ns: int
    """time.perf_counter_ns() when the frame entered the program: the start of glass-to-glass latency."""
    pts: int
    """Presentation time in units of time_base (the input file's own timing, kept by the file sink)."""
    time_base: Fraction

    @property
    def time_s(self) -> float:
        return float(self.pts * self.time_base)


def now_ns() -> int:
    return time.perf_counter_ns()


class Source(Protocol):
    """A context manager; iterating it yields Frames until the input ends (or the camera goes away)."""

    fps: float
    """Nominal frame rate (the camera's, the file's, or the pacing rate)."""

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def __iter__(self) -> Iterator[Frame]: ...


class Pacer:
    """Sleeps so that frame i is released no earlier than start + i / fps (a file played like a camera)."""

    def __init__(self, fps: float | None) -> None:
        self.period_ns = int(1e9 / fps) if fps else 0
        self.start_ns: int | None = None

    def wait(self, i: int) -> None:
        if not self.period_ns:
            return
        if self.start_ns is None:
            self.start_ns = now_ns()
        delay = self.start_ns + i * self.period_ns - now_ns()
        if delay > 0:
            time.sleep(delay / 1e9)
