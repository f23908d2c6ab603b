"""Ending a run cleanly. SIGINT (Ctrl-C), SIGTERM (what `timeout`, `docker stop` and systemd send) and SIGHUP
(the terminal closed) ask the loop to stop: capture ends, the frames already captured go through every stage,
and the sinks close as at the end of a file, so an mp4 is always finalised and holds every frame processed.
A second signal ends at once (KeyboardInterrupt; the sinks are still closed on the way out). Before the loop
runs (set-up) the first signal already interrupts: nothing has been recorded yet."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

log = logging.getLogger(__name__)
SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


class Stopper:
    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._stop: Callable[[], None] | None = None

    def attach(self, stop: Callable[[], None]) -> None:
        """From now on the first signal calls `stop()` instead of interrupting."""
        self._stop = stop

    @property
    def exit_status(self) -> int:
        """128 + the signal's number, the shell's convention (130 for Ctrl-C); 0 when none came."""
        return 128 + int(self.received) if self.received is not None else 0

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = signal.Signals(signum)
        if not first or self._stop is None:
            raise KeyboardInterrupt
        log.warning(
            "%s: finishing the frames in flight and closing the outputs (send it again to quit at once)",
            self.received.name,
        )
        self._stop()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[Stopper]:
    """Installs the handlers for the block (main thread only; elsewhere it does nothing)."""
    stopper = Stopper()
    if threading.current_thread() is not threading.main_thread():
        yield stopper
        return
    old = {s: signal.signal(s, stopper._handle) for s in SIGNALS}
    try:
        yield stopper
    finally:
        for s, h in old.items():
            signal.signal(s, h)
