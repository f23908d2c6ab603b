"""The user's live edits (gain, offset, lock per AU and head angle) and requests (calibrate, background,
the photo's expression kept or not, new source photo): written by the web page or window hotkeys, read by the stages. Thread-safe."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from realtime.config import BackgroundMode
from realtime.face.types import AU_ORDER, POSE_NAMES
from realtime.frames import PreparedSource

CHANNELS: tuple[str, ...] = tuple(a.value for a in AU_ORDER) + POSE_NAMES
"""The 20 channels of AUd, in its order: 17 AUs then yaw, pitch, roll."""

CHANNEL_LABELS: dict[str, str] = {
    "AU01": "AU01 inner brow raiser",
    "AU02": "AU02 outer brow raiser",
    "AU04": "AU04 brow lowerer",
    "AU05": "AU05 upper lid raiser",
    "AU06": "AU06 cheek raiser",
    "AU07": "AU07 lid tightener",
    "AU09": "AU09 nose wrinkler",
    "AU10": "AU10 upper lip raiser",
    "AU12": "AU12 lip corner puller \u2014 smile",
    "AU14": "AU14 dimpler",
    "AU15": "AU15 lip corner depressor",
    "AU17": "AU17 chin raiser",
    "AU20": "AU20 lip stretcher",
    "AU23": "AU23 lip tightener",
    "AU25": "AU25 lips part",
    "AU26": "AU26 jaw drop",
    "AU45": "AU45 blink",
    "yaw": "yaw (turn left/right)",
    "pitch": "pitch (nod up/down)",
    "roll": "roll (tilt)",
}
"""What the page and the help call each channel (FACS names, as in OpenFace)."""

GAIN_RANGE = (0.0, 3.0)
"""Every channel's gain: 0 ignores the driver, 1 follows it, 3 exaggerates."""
OFFSET_RANGES: dict[str, tuple[float, float, str]] = {
    "au": (-1.0, 1.0, ""),
    "angle": (-45.0, 45.0, "\u00b0"),
}
"""Offset (min, max, unit): AU intensity units for AUs, degrees for head angles."""


def offset_range(name: str) -> tuple[float, float, str]:
    return OFFSET_RANGES["angle" if name in POSE_NAMES else "au"]


def parse_edit(data: Mapping[str, object]) -> tuple[str, float | None, float | None, bool | None]:
    """A JSON edit {channel, gain?, offset?, lock?} checked at the edge: the channel known, gain and offset
    finite numbers inside their slider's range, lock a JSON boolean (the string "false" is refused, not read
    as true). ValueError says which value is wrong."""
    name = data.get("channel")
    if not isinstance(name, str) or name not in CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
    lo, hi, unit = offset_range(name)
    gain = _number(data.get("gain"), "gain", *GAIN_RANGE)
    offset = _number(data.get("offset"), f"offset of {name}", lo, hi, unit)
    lock = data.get("lock")
    if lock is not None and not isinstance(lock, bool):
        raise ValueError(f"lock must be true or false, got {lock!r}")
    return name, gain, offset, lock


def _number(v: object, what: str, lo: float, hi: float, unit: str = "") -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{what} must be a number, got {v!r}")  # noqa: TRY004 - one error type for a 400
    if not lo <= v <= hi or not math.isfinite(v):  # NaN fails the comparison too
        raise ValueError(f"{what} must be between {lo:g}{unit} and {hi:g}{unit}, got {v!r}")
    return float(v)


@dataclass(frozen=True)
class Edit:
    gain: float = 1.0
    offset: float = 0.0
    """AU intensity units for AUs, degrees for head angles."""
    lock: bool = False
    """Ignore the driver: the channel shows `offset` alone."""

    def apply(self, value: np.ndarray | float) -> np.ndarray | float:
        return self.offset if self.lock else self.gain * value + self.offset


@dataclass(frozen=True)
class Edits:
    channels: tuple[Edit, ...] = tuple(Edit() for _ in CHANNELS)

    def get(self, name: str) -> Edit:
        return self.channels[CHANNELS.index(name)]

    def with_edit(self, name: str, edit: Edit) -> Edits:
        if name not in CHANNELS:
            raise KeyError(f"unknown channel {name!r}; channels are {', '.join(CHANNELS)}")
        ch = list(self.channels)
        ch[CHANNELS.index(name)] = edit
        return Edits(tuple(ch))

    def apply(self, aus: np.ndarray, pose_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(17,) AUs and (3,) degrees -> edited copies; AUs clipped to [0, 1]."""
        a = np.array([e.apply(v) for e, v in zip(self.channels[:17], aus)], np.float32)
        p = np.array([e.apply(v) for e, v in zip(self.channels[17:], pose_deg)], np.float32)
        return np.clip(a, 0.0, 1.0), p

    def as_json(self) -> dict[str, dict[str, float | bool]]:
        return {
            n: {"gain": e.gain, "offset": e.offset, "lock": e.lock} for n, e in zip(CHANNELS, self.channels)
        }


class Controls:
    """Shared, lock-protected state. Readers take immutable snapshots; requests are taken once."""

    def __init__(
        self,
        background: BackgroundMode = BackgroundMode.SOURCE,
        background_image: np.ndarray | None = None,
        keep_expression: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self._edits = Edits()
        self._background = (background, background_image)
        self._keep_expression = keep_expression
        self._calibrate = False
        self._new_source: PreparedSource | None = None
        self.quit = threading.Event()

    @property
    def edits(self) -> Edits:
        with self._lock:
            return self._edits

    def set_edit(
        self, name: str, *, gain: float | None = None, offset: float | None = None, lock: bool | None = None
    ) -> None:
        with self._lock:
            old = self._edits.get(name)
            new = Edit(
                old.gain if gain is None else gain,
                old.offset if offset is None else offset,
                old.lock if lock is None else lock,
            )
            self._edits = self._edits.with_edit(name, new)

    def reset_edits(self) -> None:
        with self._lock:
            self._edits = Edits()

    def request_calibration(self) -> None:
        with self._lock:
            self._calibrate = True

    def take_calibration_request(self) -> bool:
        with self._lock:
            req, self._calibrate = self._calibrate, False
            return req

    @property
    def background(self) -> tuple[BackgroundMode, np.ndarray | None]:
        """(mode, picture (H, W, 3) uint8 RGB for BackgroundMode.IMAGE); the same tuple until changed."""
        with self._lock:
            return self._background

    def set_background(self, mode: BackgroundMode, image: np.ndarray | None = None) -> None:
        if mode is BackgroundMode.IMAGE and image is None:
            image = self._background[1]  # back to the last picture
            if image is None:
                raise ValueError("background 'image' needs a picture: upload one first")
        with self._lock:
            self._background = (mode, image)

    @property
    def keep_expression(self) -> bool:
        """Relative motion from the photo's expression as it is (run_cam.py --keep-expression), not from its
        face at rest."""
        with self._lock:
            return self._keep_expression

    def set_keep_expression(self, keep: bool) -> None:
        with self._lock:
            self._keep_expression = bool(keep)

    def set_source(self, prepared: PreparedSource) -> None:
        """A new source photo, already prepared (realtime.stages.render.prepare_source) by the caller."""
        with self._lock:
            self._new_source = prepared

    def take_source(self) -> PreparedSource | None:
        with self._lock:
            img, self._new_source = self._new_source, None
            return img
