"""Anti-aliased masks as float32 coverage in [0, 1].

OpenCV draws LINE_AA only on 8-bit images: on a float32 canvas it silently draws aliased pixels (0 or 1), and a
shut eye's lash line came out as a staircase of 1-pixel steps. These draw on uint8 and scale.
"""

from __future__ import annotations

import cv2
import numpy as np


def fill_mask(shape: tuple[int, int], polygons: list[np.ndarray], shift: int) -> np.ndarray:
    """(h, w) float32: `polygons` (each (K, 2) int32, fixed point with `shift` fraction bits) filled,
    anti-aliased."""
    canvas = np.zeros(shape, np.uint8)
    cv2.fillPoly(canvas, polygons, 255, cv2.LINE_AA, shift)
    return canvas.astype(np.float32) / 255.0


def line_mask(shape: tuple[int, int], points: np.ndarray, thickness: int, shift: int) -> np.ndarray:
    """(h, w) float32: an open polyline through `points` ((K, 2) int32, fixed point with `shift` fraction bits),
    `thickness` pixels, anti-aliased."""
    canvas = np.zeros(shape, np.uint8)
    cv2.polylines(canvas, [points], False, 255, thickness, cv2.LINE_AA, shift)
    return canvas.astype(np.float32) / 255.0
