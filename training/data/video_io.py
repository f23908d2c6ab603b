"""Reading the inputs of data preparation (videos, frame folders, photos) and writing crops.mp4.

Every reader is forgiving at the edges: an unreadable or truncated file is reported through `error` (or a
None result), and the frames read before the damage are kept. Nothing here raises on bad media.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Self

import av
import cv2
import numpy as np

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
MAX_IMAGE_PIXELS = 40_000_000
"""Larger photos are decoded at 1/2, 1/4 or 1/8 size so that a 20000x20000 file cannot exhaust memory."""
MAX_BAD_PACKETS = 8
"""A video with more packets that fail to decode than this is given up (frames so far are kept)."""
DEFAULT_FPS = 25.0


def natural_key(text: str) -> list[object]:
    """Sort key that orders '2.png' before '10.png'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


class VideoFrames:
    """Iterate a video's frames as (H, W, 3) uint8 RGB. After iteration, `error` says why it stopped early
    (None: read to the end) and `frames_read` how many frames came out."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.error: str | None = None
        self.frames_read = 0
        self.fps = DEFAULT_FPS

    def __iter__(self) -> Iterator[np.ndarray]:
        self.error, self.frames_read = None, 0
        try:
            container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError, ValueError) as e:
            self.error = f"cannot open video: {e}"
            return
        with container:
            if not container.streams.video:
                self.error = "no video stream in the file"
                return
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            self.fps = float(rate) if rate else DEFAULT_FPS
            yield from self._decode(container, stream)

    def _decode(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> Iterator[np.ndarray]:
        bad = 0
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except (av.error.FFmpegError, ValueError) as e:
                    bad += 1
                    if bad > MAX_BAD_PACKETS:
                        self.error = f"too many corrupt packets after {self.frames_read} frames ({e})"
                        return
                    continue
                for frame in frames:
                    self.frames_read += 1
                    yield frame.to_ndarray(format="rgb24")
        except (av.error.FFmpegError, ValueError, OSError) as e:
            self.error = f"decoding stopped after {self.frames_read} frames: {e}"
            return
        if bad:
            self.error = f"{bad} corrupt packet(s) skipped"


def read_image(path: Path) -> np.ndarray | None:
    """An image file as (H, W, 3) uint8 RGB (grayscale is expanded), or None if it cannot be decoded."""
    flag = _reduced_read_flag(Path(path))
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
        bgr = cv2.imdecode(data, flag) if data.size else None
    except (OSError, cv2.error) as e:
        log.debug("%s: %s", path, e)
        return None
    if bgr is None or bgr.ndim != 3 or min(bgr.shape[:2]) < 1:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _reduced_read_flag(path: Path) -> int:
    """IMREAD_COLOR, or a reduced-size read for a huge image (size from the header when Pillow is present)."""
    try:
        from PIL import Image  # optional: only reads the header here

        with Image.open(path) as im:
            pixels = im.width * im.height
    except Exception:  # noqa: BLE001  not an image Pillow knows, or no Pillow: let cv2 judge
        return cv2.IMREAD_COLOR
    for factor, flag in (
        (1, cv2.IMREAD_COLOR),
        (2, cv2.IMREAD_REDUCED_COLOR_2),
        (4, cv2.IMREAD_REDUCED_COLOR_4),
    ):
        if pixels / factor**2 <= MAX_IMAGE_PIXELS:
            return flag
    return cv2.IMREAD_REDUCED_COLOR_8


@dataclass(frozen=True)
class FolderFrames:
    """A folder of numbered frame images, read in natural order. Unreadable files are skipped and
    counted in `unreadable` (a list the iterator appends to)."""

    paths: tuple[Path, ...]

    def sorted_paths(self) -> list[Path]:
        return sorted(self.paths, key=lambda p: natural_key(p.name))

    def iter_frames(self, unreadable: list[Path]) -> Iterator[np.ndarray | None]:
        """One item per file, in order; None where a file does not decode (so frame indices stay true)."""
        for path in self.sorted_paths():
            img = read_image(path)
            if img is None:
                unreadable.append(path)
            yield img


class CropWriter:
    """Writes (S, S, 3) uint8 RGB crops to an H.264 mp4 (PyAV libx264, yuv420p, crf 14). Context manager."""

    def __init__(self, path: Path, size: int, *, fps: float = DEFAULT_FPS, crf: int = 14) -> None:
        if size % 2:
            raise ValueError(f"crop size must be even for yuv420p, got {size}")
        self.path = Path(path)
        self.size = size
        self.frames = 0
        self._container = av.open(str(self.path), mode="w")
        rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width = self._stream.height = size
        self._stream.pix_fmt = "yuv420p"
        # One encoder thread: the pool already uses every core, one process per input.
        self._stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape != (self.size, self.size, 3) or rgb.dtype != np.uint8:
            raise ValueError(
                f"expected a ({self.size}, {self.size}, 3) uint8 crop, got {rgb.shape} {rgb.dtype}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():  # flush the encoder's delayed frames
            self._container.mux(packet)
        self._container.close()
        self._container = None  # type: ignore[assignment]


def read_crops(path: Path) -> np.ndarray:
    """All frames of a crops.mp4 as (T, S, S, 3) uint8 RGB (for tests and readers of the dataset)."""
    reader = VideoFrames(path)
    frames = list(reader)
    if reader.error:
        raise ValueError(f"{path}: {reader.error}")
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)
