"""A folder of frames (jpg/png, in natural order: 2.png before 10.png) as the driving source."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Self

import cv2

from realtime.errors import SetupError
from realtime.frames import Frame, now_ns
from realtime.sources.base import Pacer

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DEFAULT_FPS = 25.0


def _natural_key(p: Path) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


class FolderSource:
    def __init__(
        self,
        folder: Path,
        *,
        fps: float = DEFAULT_FPS,
        pace_fps: float | None = None,
        realtime: bool = False,
        loop: bool = False,
    ) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SetupError(f"driving folder {self.folder} does not exist")
        self.files = sorted(
            (p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key
        )
        if not self.files:
            raise SetupError(f"driving folder {self.folder} holds no {'/'.join(IMAGE_SUFFIXES)} frames")
        self.pace_fps = pace_fps or (fps if realtime else None)
        self.fps = self.pace_fps or fps
        self.loop = loop
        self.frame_count = len(self.files)
        self.unreadable = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __iter__(self) -> Iterator[Frame]:
        pacer = Pacer(self.pace_fps)
        tb = Fraction(1, round(self.fps))
        i, passes = 0, 0
        while passes == 0 or (self.loop and i > 0):
            for n, path in enumerate(self.files):
                bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if bgr is None:
                    self.unreadable += passes == 0
                    log.warning("skipped unreadable frame %s", path)
                    continue
                pacer.wait(i)
                # pts from the file's place in the folder: a skipped frame leaves a gap in time, as in the input
                pts = passes * len(self.files) + n
                yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), i, now_ns(), pts, tb)
                i += 1
            passes += 1
        if i == 0:
            raise SetupError(f"none of the {len(self.files)} frames in {self.folder} could be read")
