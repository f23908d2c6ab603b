"""Capture a driver's neutral face from any frame source and make a calibration profile from it.

A source is any iterable of RGB frames: (H, W, 3) uint8 arrays or objects with an `.image` of that kind
(realtime.sources Frames from a webcam or a video file). The frames go through the one FaceAnalyzer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from calibrate.profile import CalibrationError, CalibrationProfile, profile_from_frames
from realtime.face.types import AU_ORDER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureResult:
    profile: CalibrationProfile
    frames_seen: int
    frames_with_face: int


def _image_of(frame: Any) -> np.ndarray:
    return frame.image if hasattr(frame, "image") else frame


def capture_neutral(
    frames: Iterable[Any],
    analyzer: Any,
    *,
    seconds: float = 3.0,
    fps: float = 30.0,
    skip_seconds: float = 0.0,
) -> CaptureResult:
    """Analyse `seconds * fps` frames (after skipping `skip_seconds * fps`) and make the profile.

    analyzer: an entered realtime.face.FaceAnalyzer (video mode suits a stream). Frames without a face are
    counted and left out; fewer than calibrate.profile.MIN_FRAMES faces raise CalibrationError.
    """
    if seconds <= 0 or fps <= 0:
        raise CalibrationError(f"seconds and fps must be positive, got {seconds} and {fps}")
    want, skip = max(1, round(seconds * fps)), max(0, round(skip_seconds * fps))
    aus, poses = [], []
    seen = 0
    for i, frame in enumerate(frames):
        if i < skip:
            continue
        seen += 1
        result = analyzer.analyze(_image_of(frame), timestamp_ms=round(i * 1000 / fps))
        if result is not None:
            aus.append(result.aus)
            poses.append(result.pose.as_array())
        if seen >= want:
            break
    if seen == 0:
        raise CalibrationError("the source gave no frames (after the skipped start): check the input")
    log.info("neutral capture: %d frames, %d with a face", seen, len(aus))
    stacked_aus = np.stack(aus) if aus else np.zeros((0, len(AU_ORDER)), np.float32)
    stacked_poses = np.stack(poses) if poses else np.zeros((0, 3), np.float32)
    return CaptureResult(profile_from_frames(stacked_aus, stacked_poses), seen, len(aus))
