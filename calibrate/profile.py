"""The driver's neutral calibration profile (docs/CONTRACTS.md section 5): what it holds, how it is read,
written, made from a neutral recording, and applied at run time.

    {"format": "facegan-calibration", "version": 1, "created": "...", "frames": N,
     "au_baseline": {"AU01": f, ...}, "au_range": {"AU01": f, ...}, "pose_zero": {"yaw": d, "pitch": d, "roll": d}}

- au_baseline: the median of each AU over the neutral frames (the driver's resting face reads as this).
- au_range: the noise band of each AU around its baseline: RANGE_SIGMAS robust standard deviations
  (1.4826 x median absolute deviation) over the neutral frames, clipped to [MIN_RANGE, MAX_RANGE]. A median
  absolute deviation is blind to a few blinks in a neutral clip, so a blink is not taken for noise. When the
  clip holds too little motion to measure noise (a still picture, frozen frames: every AU's spread below
  STILL_SPREAD), every AU gets DEFAULT_RANGE instead.
- pose_zero: the median yaw, pitch, roll: the driver's "straight ahead".

`apply_profile` maps a raw frame to calibrated values: an AU reads 0 up to baseline + range and rises
linearly to 1 at 1 (`(au - floor) / (1 - floor)`, clipped to [0, 1], floor capped at 0.95); pose minus zero.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from realtime.face.types import AU_ORDER, POSE_NAMES, HeadPose

FORMAT = "facegan-calibration"
VERSION = 1
RANGE_SIGMAS = 2.0
MIN_RANGE = 0.02
MAX_RANGE = 0.3
DEFAULT_RANGE = 0.05
STILL_SPREAD = 0.002
MIN_FRAMES = 5
"""Fewest neutral frames with a face that make a profile."""
MAX_FLOOR = 0.95


class CalibrationError(ValueError):
    """A profile cannot be made, read or used; the message says what to do."""


@dataclass(frozen=True)
class CalibrationProfile:
    """One driver's neutral. Mappings by name (AU names, yaw/pitch/roll), read-only."""

    au_baseline: Mapping[str, float]
    au_range: Mapping[str, float]
    pose_zero: Mapping[str, float]
    frames: int
    """Neutral frames (with a face) it was made from."""
    created: str
    """ISO 8601 time it was made (UTC)."""

    def baseline_array(self) -> np.ndarray:
        return np.array([self.au_baseline[a.value] for a in AU_ORDER], np.float32)

    def range_array(self) -> np.ndarray:
        return np.array([self.au_range[a.value] for a in AU_ORDER], np.float32)

    def pose_zero_array(self) -> np.ndarray:
        return np.array([self.pose_zero[n] for n in POSE_NAMES], np.float32)


def neutral_profile() -> CalibrationProfile:
    """The 'no calibration' profile: baseline 0, range 0, pose zero 0 (apply leaves values as they are)."""
    return _make(np.zeros(17), np.zeros(17), np.zeros(3), frames=0)


def _make(baseline: np.ndarray, spread: np.ndarray, zero: np.ndarray, frames: int) -> CalibrationProfile:
    return CalibrationProfile(
        au_baseline=MappingProxyType({a.value: float(v) for a, v in zip(AU_ORDER, baseline, strict=True)}),
        au_range=MappingProxyType({a.value: float(v) for a, v in zip(AU_ORDER, spread, strict=True)}),
        pose_zero=MappingProxyType({n: float(v) for n, v in zip(POSE_NAMES, zero, strict=True)}),
        frames=int(frames),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def profile_from_frames(aus: np.ndarray, poses: np.ndarray) -> CalibrationProfile:
    """(N, 17) AUs and (N, 3) yaw/pitch/roll of neutral frames -> the profile (see the module doc)."""
    aus = np.asarray(aus, np.float64)
    poses = np.asarray(poses, np.float64)
    if aus.ndim != 2 or aus.shape[1] != len(AU_ORDER) or poses.shape != (len(aus), 3):
        raise CalibrationError(f"expected (N, 17) AUs and (N, 3) poses, got {aus.shape} and {poses.shape}")
    if len(aus) < MIN_FRAMES:
        raise CalibrationError(
            f"only {len(aus)} neutral frames had a face (need {MIN_FRAMES}): face the camera, "
            "in good light, for a few seconds"
        )
    baseline = np.median(aus, axis=0)  # (17,)
    sigma = 1.4826 * np.median(np.abs(aus - baseline), axis=0)  # (17,) robust std
    if float(sigma.max()) < STILL_SPREAD:
        spread = np.full(len(AU_ORDER), DEFAULT_RANGE)  # too still to measure noise
    else:
        spread = np.clip(RANGE_SIGMAS * sigma, MIN_RANGE, MAX_RANGE)
    return _make(baseline, spread, np.median(poses, axis=0), frames=len(aus))


def apply_profile(
    profile: CalibrationProfile, aus: np.ndarray, pose: HeadPose
) -> tuple[np.ndarray, HeadPose]:
    """Raw (17,) AUs and pose -> calibrated AUs in [0, 1] and pose relative to the driver's zero."""
    floor = np.clip(profile.baseline_array() + profile.range_array(), 0.0, MAX_FLOOR)
    rel = np.clip((np.asarray(aus, np.float32) - floor) / (1.0 - floor), 0.0, 1.0).astype(np.float32)
    zero = profile.pose_zero
    return rel, HeadPose(pose.yaw - zero["yaw"], pose.pitch - zero["pitch"], pose.roll - zero["roll"])


# ------------------------------------------------------------------------------------------------ files


def profile_to_json(profile: CalibrationProfile) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": profile.created,
        "frames": profile.frames,
        "au_baseline": dict(profile.au_baseline),
        "au_range": dict(profile.au_range),
        "pose_zero": dict(profile.pose_zero),
    }


def save_profile(profile: CalibrationProfile, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile_to_json(profile), indent=2) + "\n", encoding="utf-8")
    return path


def load_profile(path: Path) -> CalibrationProfile:
    """Read and validate a profile; a wrong format, version or field raises CalibrationError."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(
            f"calibration profile {path} not found (make one with facegan-calibrate)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"calibration profile {path} is not readable JSON: {exc}") from None
    return profile_from_json(data, str(path))


def profile_from_json(data: Any, source: str = "<profile>") -> CalibrationProfile:
    def fail(msg: str) -> CalibrationError:
        return CalibrationError(f"{source}: {msg}; make a new profile with facegan-calibrate")

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise fail(f"not a calibration profile (format {got!r}, expected {FORMAT!r})")
    if data.get("version") != VERSION:
        raise fail(
            f"profile version {data.get('version')!r} is not supported (this program reads version {VERSION})"
        )
    baseline = _numbers(data, "au_baseline", [a.value for a in AU_ORDER], fail)
    spread = _numbers(data, "au_range", [a.value for a in AU_ORDER], fail)
    zero = _numbers(data, "pose_zero", list(POSE_NAMES), fail)
    frames = data.get("frames")
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 0:
        raise fail(f"'frames' must be a non-negative integer, got {frames!r}")
    if any(v < 0 for v in spread):
        raise fail("au_range values must be >= 0")
    prof = _make(np.array(baseline), np.array(spread), np.array(zero), frames)
    return CalibrationProfile(
        prof.au_baseline, prof.au_range, prof.pose_zero, frames, str(data.get("created", ""))
    )


def _numbers(data: dict[str, Any], key: str, names: list[str], fail: Any) -> list[float]:
    block = data.get(key)
    if not isinstance(block, dict):
        raise fail(f"missing or malformed {key!r}")
    missing = [n for n in names if n not in block]
    if missing:
        raise fail(f"{key!r} lacks {missing}")
    values = []
    for n in names:
        v = block[n]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise fail(f"{key}[{n!r}] must be a finite number, got {v!r}")
        values.append(float(v))
    return values
