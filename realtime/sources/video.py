"""A video file as the driving source: PyAV decodes in a worker thread that feeds a small bounded queue.

A packet that fails to decode is logged and skipped; the rest of the file still plays. At the end the source
says how many of the file's frames it could not read, and a file of which no frame decodes is a SetupError.
A rotation in the file's display matrix (phone clips) is applied, so the face is upright. With `realtime`
the frames come at the file's own rate (for live sinks); with `loop` the file starts again when it ends.
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

from realtime.errors import SetupError
from realtime.frames import Frame, now_ns
from realtime.sources.base import Pacer

log = logging.getLogger(__name__)
_END = object()


class VideoFileSource:
    def __init__(
        self,
        path: Path,
        *,
        pace_fps: float | None = None,
        realtime: bool = False,
        loop: bool = False,
        queue_size: int = 4,
    ) -> None:
        self.path = Path(path)
        self.loop = loop
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.corrupt_packets = 0
        self.frames_read = 0
        """Frames decoded in the first pass through the file."""
        self._container = self._open()
        self._stream = self._container.streams.video[0]
        rate = self._stream.average_rate or self._stream.guessed_rate or 25
        self.file_fps = float(rate)
        self.pace_fps = pace_fps or (self.file_fps if realtime else None)
        self.fps = self.pace_fps or self.file_fps
        self.frame_count = int(self._stream.frames or 0)
        """Frames the file's index announces (0: unknown)."""

    def _open(self) -> av.container.InputContainer:
        try:
            container = av.open(str(self.path))
            container.streams.video[0]  # IndexError where there is no video
        except (av.error.FFmpegError, IndexError, OSError) as e:
            raise SetupError(f"cannot read driving video {self.path}: {e}") from None
        return container

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
        """Pass after pass (one without `loop`); pts keep rising across passes."""
        offset, first = 0, True
        try:
            while True:
                n, end = self._decode_pass(offset)
                if n < 0:
                    return  # stopped
                if first:
                    self.frames_read, first = n, False
                    if not self._report(n):
                        return
                if not self.loop or n == 0 or self._stop.is_set():
                    return
                offset = end
                self._container.close()
                self._container = self._open()
                self._stream = self._container.streams.video[0]
        finally:
            self._put(_END)

    def _decode_pass(self, offset: int) -> tuple[int, int]:
        """(frames decoded, the pts just after the last one); (-1, 0) when stopped."""
        stream = self._stream
        tb = stream.time_base or Fraction(1, round(self.file_fps))
        step = max(1, round(1 / self.file_fps / tb))
        n, end = 0, offset
        try:
            for packet in self._container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as e:
                    self.corrupt_packets += 1
                    if self.corrupt_packets == 1:  # the rest are counted, and reported once at the end
                        log.warning("%s: skipped a packet that does not decode (%s)", self.path.name, e)
                    continue
                for f in frames:
                    pts = offset + (f.pts if f.pts is not None else n * step)
                    if not self._put((_upright(f), pts, tb)):
                        return -1, 0
                    n, end = n + 1, pts + step
        except av.error.FFmpegError as e:
            log.warning("%s: decoding stopped early (%s)", self.path.name, e)
        return n, end

    def _report(self, n: int) -> bool:
        """Say what the first pass lost; False (and an error for the reader) when nothing was read."""
        if n == 0:
            reason = (
                f"{self.corrupt_packets} packets failed to decode" if self.corrupt_packets else "no frames"
            )
            self._put(
                SetupError(
                    f"no frame of the driving video {self.path} could be decoded ({reason}): nothing was made"
                )
            )
            return False
        if self.frame_count > n:
            log.warning(
                "%s: read %d of its %d frames; %d lost (the file is truncated or damaged)",
                self.path.name,
                n,
                self.frame_count,
                self.frame_count - n,
            )
        elif self.corrupt_packets > 1:
            log.warning("%s: %d packets could not be decoded", self.path.name, self.corrupt_packets)
        return True

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
                if self.pace_fps and not self.loop:
                    log.info("the driving video %s ended (--loop plays it again and again)", self.path.name)
                return
            if isinstance(item, SetupError):
                raise item
            image, pts, tb = cast(tuple[np.ndarray, int, Fraction], item)
            pacer.wait(i)
            yield Frame(np.ascontiguousarray(image), i, now_ns(), pts, tb)
            i += 1


def _upright(frame: av.VideoFrame) -> np.ndarray:
    """(H, W, 3) uint8 RGB as the file says to show it: its display matrix's rotation applied."""
    img = frame.to_ndarray(format="rgb24")
    quarter = round(frame.rotation / 90) % 4  # counterclockwise quarter turns, as np.rot90 counts them
    return np.rot90(img, quarter) if quarter else img
