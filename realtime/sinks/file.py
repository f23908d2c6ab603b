"""mp4 file sink: H.264 (libx264 through PyAV) keeping each input frame's own timestamp, so the output has
the input's frame count and timing. With `audio_from` (the driving clip) its sound is kept: packets are copied
(or, for a codec the container cannot hold, re-encoded to AAC) with their own timestamps, interleaved with
the frames as they are written and cut at the last frame, so sound and picture stay aligned however the
run ends. A run that wrote no frame leaves no file behind."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Self

import av
import numpy as np

from realtime.errors import SetupError
from realtime.frames import Frame
from realtime.sinks.base import check_image

log = logging.getLogger(__name__)
COPY_AUDIO = {
    ".mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"},
    ".mov": {"aac", "mp3", "ac3", "alac"},
}
"""Audio codecs copied as they are into each container (.mkv takes any); others are re-encoded to AAC."""


class FileSink:
    def __init__(
        self,
        path: Path,
        *,
        width: int,
        height: int,
        fps: float,
        crf: int = 18,
        audio_from: Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.width, self.height, self.fps, self.crf = width, height, fps, crf
        self.audio_from = audio_from
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._last_pts: int | None = None
        self._time_base: Fraction | None = None
        self._audio: _AudioCopy | None = None
        self.frames = 0

    def __enter__(self) -> Self:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self.path), mode="w")
        except (OSError, av.error.FFmpegError) as e:
            raise SetupError(f"cannot write {self.path}: {e}") from None
        if self.audio_from is not None:
            self._audio = _AudioCopy.open(self.audio_from, self._container, self.path.suffix.lower())
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
        if self._audio is not None:  # the sound up to the end of this frame
            self._audio.copy_until((pts + 1 / (self.fps * self._time_base)) * self._time_base)

    def __exit__(self, *exc: object) -> None:
        if self._container is None:
            return
        if self._stream is not None:
            self._container.mux(self._stream.encode(None))  # flush the encoder's delayed frames
        if self._audio is not None:
            if self.frames:
                self._audio.finish()
            self._audio.close()
        self._container.close()
        self._container = None
        if not self.frames:
            self.path.unlink(missing_ok=True)
            log.warning("no frame was written: %s was not created", self.path)
            return
        log.info("wrote %d frames to %s", self.frames, self.path)


class _AudioCopy:
    """The driving clip's audio stream into the output container, up to a given time."""

    def __init__(
        self, source: av.container.InputContainer, out: av.container.OutputContainer, copy: bool
    ) -> None:
        self._in, self._out, self._copy = source, out, copy
        src = source.streams.audio[0]
        if copy:
            self._stream = out.add_stream_from_template(src)
        else:
            layout = "mono" if src.codec_context.channels == 1 else "stereo"  # a named layout AAC accepts
            self._stream = out.add_stream("aac", rate=src.rate)
            self._stream.layout = layout
            self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=src.rate)
        self._packets: Iterator[av.Packet] = source.demux(src)
        self._held: av.Packet | None = None
        self._end_s = 0.0

    @staticmethod
    def open(path: Path, out: av.container.OutputContainer, suffix: str) -> _AudioCopy | None:
        try:
            source = av.open(str(path))
        except (OSError, av.error.FFmpegError):
            return None  # the driving source reports an unreadable file itself
        if not source.streams.audio:
            source.close()
            return None
        codec = source.streams.audio[0].codec_context.name
        copy = suffix == ".mkv" or codec in COPY_AUDIO.get(suffix, set())
        log.info("keeping the driving clip's audio (%s%s)", codec, "" if copy else ", re-encoded to AAC")
        return _AudioCopy(source, out, copy)

    def copy_until(self, t: Fraction | float) -> None:
        """Mux every packet that starts before t seconds (the end of the last frame written)."""
        self._end_s = float(t)
        try:
            while True:
                pkt = self._held or next(self._packets, None)
                self._held = None
                if pkt is None:
                    return
                if pkt.pts is not None and pkt.time_base is not None and float(pkt.pts * pkt.time_base) >= t:
                    self._held = pkt  # later sound waits for its picture
                    return
                self._mux(pkt)
        except av.error.FFmpegError as e:
            log.warning("the driving clip's audio stopped early (%s)", e)
            self._packets = iter(())

    def _mux(self, pkt: av.Packet) -> None:
        if pkt.dts is None and pkt.size == 0:
            return  # the demuxer's end-of-stream marker
        if self._copy:
            pkt.stream = self._stream
            self._out.mux(pkt)
            return
        for frame in pkt.decode():
            for f in self._resampler.resample(frame):  # type: ignore[arg-type]  # an audio packet
                self._out.mux(self._stream.encode(f))

    def finish(self) -> None:
        self.copy_until(self._end_s)
        if not self._copy:
            for f in self._resampler.resample(None):
                self._out.mux(self._stream.encode(f))
            self._out.mux(self._stream.encode(None))

    def close(self) -> None:
        self._in.close()
