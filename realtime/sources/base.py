"""What every driving source is: a context manager yielding realtime.frames.Frame; the pacer of played files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Protocol, Self

from realtime.frames import Frame, now_ns

__all__ = ["Frame", "Pacer", "Source", "now_ns"]


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
