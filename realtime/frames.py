"""The data that crosses the live loop, imported by sources, stages, sinks and the pipeline alike.

Frame: one driving frame with its capture time and media timing (what sources yield and sinks receive).
PreparedSource: the source photo analysed once (what an upload hands the render stage through Controls).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from realtime.face.types import FaceAnalysis
from realtime.render.landmark_transfer import SourceGeometry


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    """(H, W, 3) uint8 RGB."""
    index: int
    """0, 1, 2, ... in the order the source produced them."""
    capture_ns: int
    """time.perf_counter_ns() when the frame entered the program: the start of glass-to-glass latency."""
    pts: int
    """Presentation time in units of time_base (the input file's own timing, kept by the file sink)."""
    time_base: Fraction

    @property
    def time_s(self) -> float:
        return float(self.pts * self.time_base)


def now_ns() -> int:
    return time.perf_counter_ns()


@dataclass(frozen=True)
class PreparedSource:
    image: np.ndarray
    """(H, W, 3) uint8 RGB, the full source photo."""
    face: FaceAnalysis
    crop: np.ndarray
    """(S, S, 3) uint8 RGB aligned crop."""
    ls_px: np.ndarray
    """(478, 2) float32 source landmarks in crop pixels."""
    transform: np.ndarray
    """M (2, 3): photo pixels -> crop pixels."""
    geometry: SourceGeometry
    warnings: tuple[str, ...] = ()
    """What about the photo limits the result (`realtime.stages.render.source_warnings`), one line each."""
    glasses: bool = False
    """The face wears glasses (`realtime.face.glasses`): the mesh flow holds their frame's zone still."""
