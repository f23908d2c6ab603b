"""A video file as the driving source: PyAV decodes in a worker thread that feeds a small bounded queue.

A packet that fails to decode is logged and skipped; the rest of the file still plays.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Self, cast

import av
import numpy as np

from realtime.config import SetupError
from realtime.sources.base import Frame, Pacer, now_ns

log = logging.getLogger(__name__)
_END = object()


class VideoFileSource:
    def __init__(self, path: Path, *, pace_fps: float | None = None, queue_size: int = 4) -> None:
        self.path = Path(path)
        self.pace_fps = pace_fps
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.corrupt_packets = 0
        try:
            self._container = av.open(str(self.path))
            self._stream = self._container.streams.video[0]
        except (av.error.FFmpegError, IndexError, OSError) as e:
            raise SetupError(f"cannot read driving video {self.path}: {e}") from None
        rate = self._stream.average_rate or self._stream.guessed_rate or 25
        self.file_fps = float(rate)
        self.fps = pace_fps or self.file_fps
        self.frame_count = int(self._stream.frames or 0)

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._decode, name="decode", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread is not None and self._thread.is_alive():
            try:  # unblock a decoder waiting on a full queue
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._container.close()

    def _decode(self) -> None:
        stream = self._stream
        tb = stream.time_base or Fraction(1, round(self.file_fps))
        n = 0
        try:
            for packet in self._container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as e:
                    self.corrupt_packets += 1
                    log.warning("%s: skipped a packet that does not decode (%s)", self.path.name, e)
                    continue
                for f in frames:
                    pts = f.pts if f.pts is not None else round(n / self.file_fps / tb)
                    item = (f.to_ndarray(format="rgb24"), pts, tb)
                    if not self._put(item):
                        return
                    n += 1
        except av.error.FFmpegError as e:
            log.warning("%s: decoding stopped early (%s)", self.path.name, e)
        finally:
            self._put(_END)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Frame]:
        pacer = Pacer(self.pace_fps)
        i = 0
        while True:
            item = self._queue.get()
            if item is _END:
                return
            image, pts, tb = cast(tuple[np.ndarray, int, Fraction], item)
            pacer.wait(i)
            yield Frame(np.ascontiguousarray(image), i, now_ns(), pts, tb)
            i += 1
