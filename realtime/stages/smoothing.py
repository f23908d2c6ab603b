"""One Euro filter (Casiez, Roussel, Vogel, CHI 2012) over arrays: little lag on fast moves, little jitter at rest.

The cutoff frequency rises with the filtered speed: cutoff = min_cutoff + beta * |dx/dt|, per element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroParams:
    min_cutoff: float = 1.0
    """Hz at rest: lower = smoother and laggier."""
    beta: float = 1.0
    """How fast the cutoff rises with speed (per unit of the signal per second)."""
    d_cutoff: float = 1.0
    """Hz of the low-pass on the speed estimate."""


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filter one array-valued signal; `reset()` when the signal is interrupted (face lost)."""

    def __init__(self, params: OneEuroParams = OneEuroParams()) -> None:
        self.params = params
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = None
        self._t = None

    def __call__(self, x: np.ndarray, t_s: float) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if self._x is None or self._t is None or t_s <= self._t:
            # first sample, or time did not advance (duplicate timestamp): take it as is
            if self._x is None or self._t is None:
                self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t_s
            return self._x.copy()
        p = self.params
        dt = t_s - self._t
        dx = (x - self._x) / dt
        assert self._dx is not None
        dx_hat = self._dx + _alpha(p.d_cutoff, dt) * (dx - self._dx)
        cutoff = p.min_cutoff + p.beta * np.abs(dx_hat)
        x_hat = self._x + _alpha(cutoff, dt) * (x - self._x)
        self._x, self._dx, self._t = x_hat.astype(np.float32), dx_hat.astype(np.float32), t_s
        return self._x.copy()
