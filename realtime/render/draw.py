"""Anti-aliased masks as float32 coverage in [0, 1], and a fill of a masked area from its edges.

OpenCV draws LINE_AA only on 8-bit images: on a float32 canvas it silently draws aliased pixels (0 or 1), and a
shut eye's lash line came out as a staircase of 1-pixel steps. These draw on uint8 and scale.
"""

from __future__ import annotations

import cv2
import numpy as np

SHIFT = 4  # fillConvexPoly sub-pixel bits


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


def column_edges(
    image: np.ndarray, mask: np.ndarray, blur: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each column of `mask` (h, w) bool: the row just over it and the row just under it ((w,) each, clipped
    to the image) and `image`'s (h, w, 3) float32 colours there ((w, 3) each), blurred along the masked columns by
    `blur` pixels (a lash or a pore at the edge is not drawn down as a streak)."""
    h, w = mask.shape
    top = np.clip(np.argmax(mask, 0) - 1, 0, h - 1)
    bottom = np.clip(h - np.argmax(mask[::-1], 0), 0, h - 1)
    over, under = image[top, np.arange(w)], image[bottom, np.arange(w)]
    cols = np.flatnonzero(mask.any(0))
    if blur > 0.0 and len(cols):
        lo, hi = cols[0], cols[-1] + 1  # blurred over the masked columns only, edges replicated
        over[lo:hi] = cv2.GaussianBlur(over[None, lo:hi], (0, 0), blur, sigmaY=1e-3)[0]
        under[lo:hi] = cv2.GaussianBlur(under[None, lo:hi], (0, 0), blur, sigmaY=1e-3)[0]
    return top, bottom, over, under


def column_fill(patch: np.ndarray, mask: np.ndarray, blur: float) -> np.ndarray:
    """(h, w, 3) float32 `patch` with each masked pixel between the colours just over and just under the mask
    in its column (the lid skin over a shut eye and the lower lid under it; the upper and the lower lip), those
    two rows blurred along the columns by `blur` pixels (`column_edges`)."""
    out = patch.astype(np.float32)
    m = mask > 0
    if not m.any():
        return out
    top, bottom, over, under = column_edges(out, m, blur)
    ys, xs = np.nonzero(m)  # only the masked pixels are filled
    s = np.clip((ys - top[xs]) / np.maximum(bottom - top, 1)[xs], 0.0, 1.0)[:, None]  # 0 top, 1 bottom
    out[ys, xs] = (1.0 - s) * over[xs] + s * under[xs]
    return out


def wide_blur(image: np.ndarray, sigma: float, per_sigma: float = 4.0) -> np.ndarray:
    """A Gaussian blur of `sigma` pixels taken at a size reduced to about `per_sigma` pixels a sigma, then
    enlarged back (bilinear): a wide blur at a fraction of its cost (a sigma of 100+ pixels at full size took
    100+ ms). Edges are carried out (BORDER_REPLICATE)."""
    k = max(1.0, sigma / per_sigma)
    if k < 1.5:
        return cv2.GaussianBlur(image, (0, 0), max(sigma, 0.5), borderType=cv2.BORDER_REPLICATE)
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w / k)), max(1, round(h / k))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(sigma / k, 0.5), borderType=cv2.BORDER_REPLICATE)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def paste_warped(image: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, m: np.ndarray, how: int) -> None:
    """In place on `image` (H, W, 3) uint8: `rgb` (h, w, 3) blended in by `alpha` (h, w) float32 where the affine
    `m` (2, 3: patch -> image pixels) puts them, `rgb` read with `how`; only the box they cover is touched."""
    h, w = image.shape[:2]
    ph, pw = alpha.shape
    corners = np.array([[0, 0], [pw, 0], [0, ph], [pw, ph]], np.float64) @ m[:, :2].T + m[:, 2]
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1, [w, h])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    to_box = np.array(m, np.float64)
    to_box[:, 2] -= (x0, y0)
    size = (int(x1 - x0), int(y1 - y0))
    warped = cv2.warpAffine(rgb, to_box, size, flags=how, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(alpha, to_box, size, flags=cv2.INTER_LINEAR, borderValue=0.0)[..., None]
    area = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = np.clip(area * (1.0 - a) + warped * a + 0.5, 0, 255).astype(np.uint8)
