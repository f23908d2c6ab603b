"""Detail lost to reads between pixels, given back: a read of the photo at a sub-pixel position blurs it, and
every pixel of a moving face is read at some such position. The gain that gives the detail back is measured once
per photo and read phase (`detail_gain`), and each frame's face gets an unsharp mask by the phase each pixel was
read at (`restore_detail`; `realtime.render.meshflow.MeshFlow` reads the photo by fixed-point maps whose second map
is that phase).
"""

from __future__ import annotations

import cv2
import numpy as np

DETAIL_MAX = 3.0
"""The most unsharp gain `restore_detail` gives a pixel."""
SOFTNESS_PROBE = 2.0
"""Pixels of the Gaussian blur `softness` measures an image against."""


def _sharpening_needed(gray: np.ndarray, moved: np.ndarray, mask: np.ndarray) -> float:
    """The unsharp gain k (`restore_detail`'s) that gives `moved` (gray, float32) the Laplacian energy of
    `gray` inside `mask`: the energy of L(moved) + k L(moved - blur(moved)) is quadratic in k."""
    lap_m = cv2.Laplacian(moved, cv2.CV_32F, ksize=3)[mask].astype(np.float64)
    lap_d = cv2.Laplacian(moved - cv2.GaussianBlur(moved, (3, 3), 0), cv2.CV_32F, ksize=3)[mask]
    lap_d = lap_d.astype(np.float64)
    target = float(cv2.Laplacian(gray, cv2.CV_32F, ksize=3)[mask].var())
    lap_m -= lap_m.mean()
    lap_d -= lap_d.mean()
    a, b, c = float(lap_m @ lap_m), float(lap_m @ lap_d), float(lap_d @ lap_d)
    n = float(mask.sum())
    disc = b * b - c * (a - target * n)
    if c <= 0.0 or disc < 0.0:
        return 0.0
    return float(np.clip((-b + np.sqrt(disc)) / c, 0.0, DETAIL_MAX))


def detail_gain(photo: np.ndarray, oval: np.ndarray, how: int) -> np.ndarray:
    """(1024,) int16, in 1/256: per fixed-point sub-pixel phase of a read by `how` (cv2.INTER_LINEAR or
    INTER_CUBIC; cv2.convertMaps' second map: y phase * 32 + x phase, 32 steps a pixel), the unsharp gain that
    gives back the detail the read loses there, measured on this photo's face (inside the `oval` (K, 2), photo
    pixels).

    A read between pixels blurs. Half a pixel off in both directions, the faces of the live protocol's photos kept
    0.57-0.9 of their Laplacian energy read bicubic, 0.31-0.8 bilinear (a sharp 1080p video frame loses most).
    Every pixel of a moving face is read at some such phase: the mesh flow's live sharpness on the skin of the
    MEAD photo was 0.70 of the photo's, read bicubic. The gain is measured at phase (1/2, 0) and (1/2, 1/2) by
    reading the photo's face there, and spread over the phases as a (s_x + s_y) + b s_x s_y with
    s = sin^2(pi phase): 0 at whole pixels."""
    return _gain(_face(photo, oval), how)


def face_detail(photo: np.ndarray, oval: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """What `MeshFlow` measures of a photo's face inside its `oval` (K, 2, photo pixels), from one cut of it: the
    `detail_gain`s of bilinear and bicubic reads, and its `softness` (0 for a face under 16 pixels)."""
    face = _face(photo, oval)
    soft = 0.0 if face is None else softness(*face)
    return _gain(face, cv2.INTER_LINEAR), _gain(face, cv2.INTER_CUBIC), soft


def _gain(face: tuple[np.ndarray, np.ndarray] | None, how: int) -> np.ndarray:
    """`detail_gain` of a face cut by `_face` (None: none to measure, no gain)."""
    if face is None:
        return np.zeros(1024, np.int16)
    gray, inside = face
    ys, xs = np.mgrid[0 : gray.shape[0], 0 : gray.shape[1]].astype(np.float32)
    k = []
    for dy in (0.0, 0.5):
        moved = cv2.remap(gray, xs + 0.5, ys + dy, how, borderMode=cv2.BORDER_REPLICATE)
        k.append(_sharpening_needed(gray, moved, inside))
    a, b = k[0], max(k[1] - 2.0 * k[0], 0.0)
    s = np.sin(np.pi * np.arange(32) / 32.0) ** 2
    sx, sy = np.meshgrid(s, s)  # (32, 32): [y phase, x phase]
    gain = np.clip(a * (sx + sy) + b * sx * sy, 0.0, DETAIL_MAX)
    return np.round(gain * 256.0).astype(np.int16).reshape(-1)


def _face(photo: np.ndarray, oval: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The face of an RGB photo inside its `oval` (K, 2) photo pixels: (its box's grey (h, w) float32, the oval's
    hull less 2 pixels (h, w) bool); None where the box is under 16 pixels a side."""
    h, w = photo.shape[:2]
    x0, y0 = np.maximum(np.floor(oval.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(oval.max(0)).astype(int) + 1, [w, h])
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    gray = cv2.cvtColor(photo[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
    mask = np.zeros(gray.shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(oval - (x0, y0)).astype(np.int32)), 1)
    return gray, cv2.erode(mask, np.ones((5, 5), np.uint8)).astype(bool)


def restore_detail(face: np.ndarray, phase: np.ndarray, gain: np.ndarray) -> None:
    """In place on `face` (h, w, 3) uint8, read from the photo by fixed-point maps whose second map is `phase`
    (h, w) uint16: an unsharp mask of the luminance (3x3 Gaussian) by `gain` (1024,) int16 in 1/256 at each
    pixel's phase (`detail_gain`), added to the three channels. In integers: per channel in float32 it took 6 ms
    on a 1280x720 frame's face."""
    k = gain.take(phase)
    if not k.any():
        return
    gray = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    d = cv2.subtract(gray, cv2.GaussianBlur(gray, (3, 3), 0), dtype=cv2.CV_16S)
    d = cv2.multiply(d, k, scale=1.0 / 256.0, dtype=cv2.CV_16S)
    # Added as its parts above and below 0, each saturated to 8 bits: the same sums as in 16 bits, a third
    # faster than widening the face.
    up = cv2.cvtColor(cv2.convertScaleAbs(cv2.max(d, 0)), cv2.COLOR_GRAY2RGB)
    down = cv2.cvtColor(cv2.convertScaleAbs(cv2.min(d, 0)), cv2.COLOR_GRAY2RGB)
    cv2.add(face, up, dst=face)
    cv2.subtract(face, down, dst=face)


def softness(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """How soft an image (h, w, 3) or (h, w) is: the sigma, in its pixels, of the Gaussian blur its edges look to
    have been through (inside `mask` (h, w) bool, or everywhere). Blurred again by SOFTNESS_PROBE, an edge blurred
    by sigma keeps sigma / sqrt(sigma^2 + probe^2) of its gradient energy; that share is solved for sigma. A sharp
    photo's face measures 0.55-0.8, a soft or enlarged one 1.4-2.5 (the MuseTalk demo frame, an LFW photo 3x)."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    gray = gray.astype(np.float32)

    def energy(img: np.ndarray) -> float:
        gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
        e = gx * gx + gy * gy
        return float(e[mask].mean() if mask is not None else e.mean())

    whole = energy(gray)
    if whole <= 1e-6:
        return 0.0
    q = min(energy(cv2.GaussianBlur(gray, (0, 0), SOFTNESS_PROBE)) / whole, 0.999)
    return SOFTNESS_PROBE * q / float(np.sqrt(1.0 - q * q))
