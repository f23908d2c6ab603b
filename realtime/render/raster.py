"""The mesh warp's rasteriser (`realtime.render.meshwarp`): which triangle of a 2-D mesh covers each target
pixel (exact scanlines, vectorised over all triangles; what faces the camera over what the motion folded), and
the affine map each triangle gives from target to source. Pure functions of arrays.
"""

from __future__ import annotations

import cv2
import numpy as np

_SHIFT = 4  # fillConvexPoly sub-pixel bits: vertices are rounded to 1/16 px


def rasterise(
    dst: np.ndarray, tris: np.ndarray, size: int, *, n_surround: int, src: np.ndarray
) -> np.ndarray:
    """(S, S) intp triangle id per target pixel (-1: none).

    Surround first, then face triangles folded over by the motion (their orientation flips between
    source and target: the far side of a turning head), then the front-facing ones, so what faces the
    camera wins where triangles overlap. A pixel takes the last triangle drawn over it, kept as its rank
    (1 + position in that order). The surround's large triangles are filled by cv2; the ~970 small face and
    hole triangles all at once by `_covered_pixels`, each at the pixels whose centre it holds. One cv2 call
    per triangle took 2.5 ms, 5 in the live pipeline, where each call hands the GIL to the analysis thread
    and waits to get it back; it also painted each triangle's outline, which gave pixels outside a squashed
    triangle its far-reaching map (200 px off at a closing eye)."""
    s = size
    folded = np.sign(signed_area(dst[tris])) != np.sign(signed_area(src[tris]))
    face = np.arange(n_surround, len(tris))
    order = np.concatenate([np.arange(n_surround), face[folded[n_surround:]], face[~folded[n_surround:]]])
    grid = np.round(dst * (1 << _SHIFT))  # (P, 2) the vertices in 1/16 px, as fillConvexPoly rounds them
    rank = np.zeros((s, s), np.int32)
    for r, poly in enumerate(grid[tris[:n_surround]].astype(np.int32), 1):
        # int32 ranks go into a 1-channel image through a float colour: exact below 2**24.
        cv2.fillConvexPoly(rank, poly, r, lineType=cv2.LINE_8, shift=_SHIFT)
    pixels, which = _covered_pixels(grid[tris[order[n_surround:]]] / (1 << _SHIFT), s)
    # The highest rank wins, as the last drawn did; np.maximum.at is defined for a pixel listed twice (a
    # centre on a shared edge, overlapping folds), where fancy assignment's choice is not guaranteed.
    np.maximum.at(rank.reshape(-1), pixels, (which + n_surround + 1).astype(np.int32))
    return np.concatenate([[-1], order]).take(rank)


def _covered_pixels(tri: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The (size, size) pixels whose centre lies inside or on an edge of each of the (T, 3, 2) triangles, as
    (flat pixel index (N,) intp, triangle index (N,) intp), triangle after triangle.

    Scanline rasterisation vectorised over all triangles: each is cut at its middle vertex into an upper and
    a lower half, which one edge bounds on the left and one on the right, so a row of a half is the run of
    integer x between them. With the vertices on the 1/16 px grid, an edge's x at a row, computed from its
    upper end as x0 + (y - y0) * dx / dy, is exact wherever it is an integer (one rounding, in the division),
    and two triangles sharing the edge compute the same number: a centre on an edge goes to both triangles,
    none falls between. Triangles of no area cover nothing."""
    # 1. Vertices from top to bottom; the middle one left or right of the long edge (top to bottom).
    xt, yt, xm, ym, xb, yb = _sorted_by_y(tri[..., 0], tri[..., 1])  # (T,) each
    side = (xm - xt) * (yb - yt) - (ym - yt) * (xb - xt)  # > 0: middle on the right, 0: no area
    # 2. Per half (upper halves, then lower ones): its left and right edge, and its rows inside the image.
    right = np.tile(side > 0, 2)  # (2T,) the long edge bounds the half on the left
    long_edge = np.tile(_edge(xt, yt, xb, yb), 2)  # (4, 2T)
    short_edge = np.concatenate([_edge(xt, yt, xm, ym), _edge(xm, ym, xb, yb)], 1)
    first = np.maximum(np.concatenate([np.ceil(yt), np.ceil(ym)]), 0)  # (2T,)
    last = np.minimum(np.concatenate([np.ceil(ym) - 1, np.floor(yb)]), size - 1)
    rows = np.where(np.tile(side, 2) != 0, np.maximum(last - first + 1, 0), 0).astype(np.intp)
    half = np.concatenate(
        [
            np.where(right, long_edge, short_edge),
            np.where(right, short_edge, long_edge),
            [first - (np.cumsum(rows) - rows), np.tile(np.arange(len(xt), dtype=np.float64), 2)],
        ]
    ).T  # (2T, 10): left edge, right edge, first row less its index in the list of rows, triangle
    # 3. Every row of every half, with its run of pixel centres between the two edges.
    row = np.repeat(half, rows, axis=0)  # (R, 10)
    y = row[:, 8] + np.arange(len(row))
    lo = np.maximum(np.ceil(row[:, 0] + (y - row[:, 1]) * row[:, 2] / row[:, 3]), 0)
    hi = np.minimum(np.floor(row[:, 4] + (y - row[:, 5]) * row[:, 6] / row[:, 7]), size - 1)
    run = np.maximum(hi - lo + 1, 0).astype(np.intp)
    # 4. Every pixel of every run: its run's first pixel, less the run's index in the pixel list, plus its own.
    pixel_run = np.empty((len(row), 2), np.intp)  # (R, 2): first pixel less its index in the list, triangle
    pixel_run[:, 0] = y * size + lo - (np.cumsum(run) - run)
    pixel_run[:, 1] = row[:, 9]
    pixel = np.repeat(pixel_run, run, axis=0)  # (N, 2)
    return pixel[:, 0] + np.arange(len(pixel)), pixel[:, 1]


def _edge(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> np.ndarray:
    """(4, T) edges from (x0, y0) down to (x1, y1) as x0, y0, dx, dy; a horizontal one as dx = 0, dy = 1, which
    gives x0 on its own row, the only one where it is used."""
    flat = y1 <= y0
    return np.stack([x0, y0, np.where(flat, 0.0, x1 - x0), np.where(flat, 1.0, y1 - y0)])


def _sorted_by_y(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """x, y of the top, middle and bottom vertex of each triangle, from their (T, 3) x and y (6 arrays (T,))."""
    xa, xb, xc = x.T
    ya, yb, yc = y.T

    def ordered(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> tuple[np.ndarray, ...]:
        swap = y0 > y1
        return np.where(swap, x1, x0), np.minimum(y0, y1), np.where(swap, x0, x1), np.maximum(y0, y1)

    xa, ya, xb, yb = ordered(xa, ya, xb, yb)
    xb, yb, xc, yc = ordered(xb, yb, xc, yc)
    xa, ya, xb, yb = ordered(xa, ya, xb, yb)
    return xa, ya, xb, yb, xc, yc


def signed_area(tri: np.ndarray) -> np.ndarray:
    """(T,) signed areas of (T, 3, 2) triangles."""
    d1 = tri[:, 1] - tri[:, 0]
    d2 = tri[:, 2] - tri[:, 0]
    return d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]


def affines(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """(T, 2, 3) affine maps taking each dst triangle (T, 3, 2) onto its src triangle.

    Closed form (A = S D^-1 with D, S the edge matrices), elementwise over triangles: much faster than a
    batched np.linalg.solve on ~1000 3x3 systems."""
    dst = dst.astype(np.float64)
    src = src.astype(np.float64)
    d1, d2 = dst[:, 1] - dst[:, 0], dst[:, 2] - dst[:, 0]  # (T, 2) edges of the target triangle
    s1, s2 = src[:, 1] - src[:, 0], src[:, 2] - src[:, 0]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    det_src = s1[:, 0] * s2[:, 1] - s2[:, 0] * s1[:, 1]
    # A sliver (squashed to a thousandth of its source area, or under 0.01 px^2) has an exploding inverse:
    # the few pixels it covers would sample far away, so it is moved by translation instead.
    degenerate = (np.abs(det) < 1e-2) | (np.abs(det) < 1e-3 * np.abs(det_src))
    inv = 1.0 / np.where(degenerate, 1.0, det)
    # D^-1 = [[d2y, -d2x], [-d1y, d1x]] / det with D = [d1 d2] as columns.
    i00, i01, i10, i11 = d2[:, 1] * inv, -d2[:, 0] * inv, -d1[:, 1] * inv, d1[:, 0] * inv
    a = np.empty((len(dst), 2, 3))
    for r in range(2):
        a[:, r, 0] = s1[:, r] * i00 + s2[:, r] * i10
        a[:, r, 1] = s1[:, r] * i01 + s2[:, r] * i11
    # A triangle of no area covers at most a line of pixels: map it by translation.
    a[degenerate, :, :2] = np.eye(2)
    a[:, :, 2] = src[:, 0] - np.einsum("trc,tc->tr", a[:, :, :2], dst[:, 0])
    return a
