"""mp4 file sink: H.264 (libx264 through PyAV) keeping each input frame's own timestamp, so the output has
the input's frame count and timing."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Self

import av
import numpy as np

from realtime.config import SetupError
from realtime.sinks.base import check_image
from realtime.sources.base import Frame

log = logging.getLogger(__name__)


class FileSink:
    def __init__(self, path: Path, *, width: int, height: int, fps: float, crf: int = 18) -> None:
        self.path = Path(path)
        self.width, self.height, self.fps, self.crf = width, height, fps, crf
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._last_pts: int | None = None
        self._time_base: Fraction | None = None
        self.frames = 0

    def __enter__(self) -> Self:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self.path), mode="w")
        except (OSError, av.error.FFmpegError) as e:
            raise SetupError(f"cannot write {self.path}: {e}") from None
        return self

    def _open_stream(self, time_base: Fraction) -> av.video.stream.VideoStream:
        assert self._container is not None
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream("libx264", rate=rate)
        # yuv420p needs even sides: the odd last row/column is cropped away rather than invented
        stream.width, stream.height = self.width - self.width % 2, self.height - self.height % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        self._time_base = time_base
        return stream

    def send(self, frame: Frame) -> None:
        check_image(frame.image, self.width, self.height, "file sink")
        if self._stream is None:
            self._stream = self._open_stream(frame.time_base)
        assert self._container is not None and self._time_base is not None
        pts = round(frame.pts * frame.time_base / self._time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # the muxer needs strictly rising times
        self._last_pts = pts
        img = np.ascontiguousarray(frame.image[: self._stream.height, : self._stream.width])
        vf = av.VideoFrame.from_ndarray(img, format="rgb24")
        vf.pts, vf.time_base = pts, self._time_base
        self._container.mux(self._stream.encode(vf))
        self.frames += 1

    def __exit__(self, *exc: object) -> None:
        if self._container is None:
            return
        if self._stream is not None:
            self._container.mux(self._stream.encode(None))  # flush the encoder's delayed frames
        self._container.close()
        log.info("wrote %d frames to %s", self.frames, self.path)
