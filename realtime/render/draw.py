"""Anti-aliased masks as float32 coverage in [0, 1], and a fill of a masked area from its edges.

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


def column_fill(patch: np.ndarray, mask: np.ndarray, blur: float) -> np.ndarray:
    """(h, w, 3) float32 `patch` with each masked pixel between the colours just over and just under the mask
    in its column (the lid skin over a shut eye and the lower lid under it; the upper and the lower lip), those
    two rows blurred along the columns by `blur` pixels (a lash or a pore at the edge is not drawn down as a
    streak)."""
    out = patch.astype(np.float32)
    m = mask > 0
    h, w = m.shape
    cols = np.flatnonzero(m.any(0))
    if len(cols) == 0:
        return out
    top = np.clip(np.argmax(m, 0) - 1, 0, h - 1)  # (w,) the row just over the mask
    bottom = np.clip(h - np.argmax(m[::-1], 0), 0, h - 1)  # ... and just under it
    over, under = out[top, np.arange(w)], out[bottom, np.arange(w)]  # (w, 3)
    if blur > 0.0:
        lo, hi = cols[0], cols[-1] + 1  # blurred over the masked columns only, edges replicated
        over[lo:hi] = cv2.GaussianBlur(over[None, lo:hi], (0, 0), blur, sigmaY=1e-3)[0]
        under[lo:hi] = cv2.GaussianBlur(under[None, lo:hi], (0, 0), blur, sigmaY=1e-3)[0]
    ys, xs = np.nonzero(m)  # only the masked pixels are filled
    s = np.clip((ys - top[xs]) / np.maximum(bottom - top, 1)[xs], 0.0, 1.0)[:, None]  # 0 top, 1 bottom
    out[ys, xs] = (1.0 - s) * over[xs] + s * under[xs]
    return out
