"""A webcam (index or device path) through OpenCV. A camera that goes away ends the stream cleanly."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Self

import cv2

from realtime.errors import SetupError
from realtime.frames import Frame, now_ns

log = logging.getLogger(__name__)
_US = Fraction(1, 1_000_000)


class WebcamSource:
    def __init__(
        self, camera: str, *, width: int = 640, height: int = 480, lost_after_s: float = 2.0
    ) -> None:
        self.camera = camera
        self.width, self.height = width, height
        self.lost_after_s = lost_after_s
        self.fps = 30.0
        self._cap: cv2.VideoCapture | None = None

    def __enter__(self) -> Self:
        target: int | str = int(self.camera) if self.camera.isdigit() else self.camera
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            raise SetupError(
                f"cannot open camera {self.camera!r}: check it is connected and not used by another program,"
                " or pass --driving FILE"
            )
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # a deep driver buffer would add latency
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 30.0)
        self._cap = cap
        return self

    def __exit__(self, *exc: object) -> None:
        if self._cap is not None:
            self._cap.release()

    def __iter__(self) -> Iterator[Frame]:
        assert self._cap is not None, "use the source as a context manager"
        start = now_ns()
        last_ok = time.monotonic()
        i = 0
        while True:
            ok, bgr = self._cap.read()
            t = now_ns()
            if not ok or bgr is None:
                if time.monotonic() - last_ok > self.lost_after_s:
                    log.error("camera %r stopped delivering frames (unplugged?): ending", self.camera)
                    return
                time.sleep(0.01)
                continue
            last_ok = time.monotonic()
            yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), i, t, (t - start) // 1000, _US)
            i += 1
