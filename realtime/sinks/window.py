"""Preview window (cv2.imshow) with hotkeys: c calibrate neutral, r reset the AU sliders, b next background,
q or Esc quit. Only where a display exists."""

from __future__ import annotations

import os
import sys
from typing import Self

import cv2

from realtime.config import BackgroundMode
from realtime.controls import Controls
from realtime.errors import SetupError
from realtime.frames import Frame

HOTKEYS = "c: calibrate neutral  r: reset AUs  b: background  q/Esc: quit"
_CYCLE = (BackgroundMode.SOURCE, BackgroundMode.BLUR, BackgroundMode.IMAGE)


def has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class WindowSink:
    def __init__(self, controls: Controls, *, title: str = "facegan-live") -> None:
        self.controls, self.title = controls, title

    def __enter__(self) -> Self:
        if not has_display():
            raise SetupError("no display for --sink window (DISPLAY is not set): use --sink webrtc instead")
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE)
        except cv2.error as e:
            raise SetupError(f"cannot open a preview window ({e}): use --sink webrtc instead") from None
        return self

    def send(self, frame: Frame) -> None:
        cv2.imshow(self.title, cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
        self.on_key(cv2.waitKey(1) & 0xFF)

    def on_key(self, key: int) -> None:
        c = self.controls
        if key in (ord("q"), 27):
            c.quit.set()
        elif key == ord("c"):
            c.request_calibration()
        elif key == ord("r"):
            c.reset_edits()
        elif key == ord("b"):
            mode, picture = c.background
            nxt = _CYCLE[(_CYCLE.index(mode) + 1) % len(_CYCLE)]
            if nxt is BackgroundMode.IMAGE and picture is None:
                nxt = BackgroundMode.SOURCE  # no picture given: skip that mode
            c.set_background(nxt, picture)

    def __exit__(self, *exc: object) -> None:
        cv2.destroyWindow(self.title)
