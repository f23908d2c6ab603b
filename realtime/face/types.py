"""Data types of face analysis: action units by name, head pose, and one frame's analysis."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np


class AU(str, Enum):
    """The 17 OpenFace action units of the FACEGAN paper, addressed by name, never by bare index."""

    AU01 = "AU01"  # inner brow raiser
    AU02 = "AU02"  # outer brow raiser
    AU04 = "AU04"  # brow lowerer
    AU05 = "AU05"  # upper lid raiser
    AU06 = "AU06"  # cheek raiser
    AU07 = "AU07"  # lid tightener
    AU09 = "AU09"  # nose wrinkler
    AU10 = "AU10"  # upper lip raiser
    AU12 = "AU12"  # lip corner puller (smile)
    AU14 = "AU14"  # dimpler
    AU15 = "AU15"  # lip corner depressor
    AU17 = "AU17"  # chin raiser
    AU20 = "AU20"  # lip stretcher
    AU23 = "AU23"  # lip tightener
    AU25 = "AU25"  # lips part
    AU26 = "AU26"  # jaw drop
    AU45 = "AU45"  # blink


AU_ORDER: tuple[AU, ...] = tuple(AU)
"""Index order of every AU array in the project (17 entries)."""

POSE_NAMES: tuple[str, str, str] = ("yaw", "pitch", "roll")
POSE_SCALE_DEG = 90.0
"""Head angles enter the driving vector divided by this, so all 20 numbers are of order one."""


@dataclass(frozen=True)
class HeadPose:
    """Head rotation in degrees. yaw > 0: face turns towards the image's right; pitch > 0: chin up;
    roll > 0: head tilts clockwise in the image. Zero: looking straight into the camera."""

    yaw: float
    pitch: float
    roll: float

    def as_array(self) -> np.ndarray:
        return np.array([self.yaw, self.pitch, self.roll], dtype=np.float32)

    def as_dict(self) -> dict[str, float]:
        return {"yaw": self.yaw, "pitch": self.pitch, "roll": self.roll}


@dataclass(frozen=True)
class FaceAnalysis:
    """One face in one frame."""

    landmarks: np.ndarray
    """(478, 3) float32: x, y in the input image's pixels, z in the same pixel scale (MediaPipe's sign)."""
    aus: np.ndarray
    """(17,) float32 in [0, 1], in AU_ORDER."""
    pose: HeadPose
    num_faces: int
    """How many faces the frame held; the largest is the one described here."""

    def au(self, name: AU) -> float:
        return float(self.aus[AU_ORDER.index(AU(name))])

    def au_dict(self) -> dict[str, float]:
        return {au.value: float(v) for au, v in zip(AU_ORDER, self.aus)}

    def driving_vector(self) -> np.ndarray:
        """AUd of the paper: (20,) float32 = 17 AUs, then yaw, pitch, roll / 90."""
        return driving_vector(self.aus, self.pose)


def driving_vector(aus: np.ndarray, pose: HeadPose) -> np.ndarray:
    """(17,) AUs and a pose -> the (20,) driving vector AUd."""
    return np.concatenate([np.asarray(aus, np.float32), pose.as_array() / POSE_SCALE_DEG]).astype(np.float32)
