"""raster.rasterise against two slow references on a synthetic mesh with a fold (no mediapipe).

The references: one cv2.fillConvexPoly per triangle in drawing order (the rasteriser it replaced), and an exact
one: the surround still through fillConvexPoly (as rasterise does), then every pixel whose centre lies in a
face triangle's closed area (integer edge functions on the 1/16 px grid), later triangles over earlier ones.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realtime.render.raster import rasterise

S = 64
GRID = 9  # points per side of the synthetic mesh
ONE = 16  # the 1/16 px vertex grid of fillConvexPoly (shift 4)


def _folded(dst: np.ndarray, src: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(T,) bool: the triangle's orientation flips from src to dst."""

    def area(p: np.ndarray) -> np.ndarray:
        d1, d2 = p[tris[:, 1]] - p[tris[:, 0]], p[tris[:, 2]] - p[tris[:, 0]]
        return d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]

    return np.sign(area(dst)) != np.sign(area(src))


def _drawing_order(dst: np.ndarray, src: np.ndarray, tris: np.ndarray, n_surround: int) -> np.ndarray:
    """Surround, then the folded face triangles, then the front-facing ones."""
    folded = _folded(dst, src, tris)[n_surround:]
    face = np.arange(n_surround, len(tris))
    return np.concatenate([np.arange(n_surround), face[folded], face[~folded]])


def _fill_convex_poly_ids(dst: np.ndarray, tris: np.ndarray, order: np.ndarray) -> np.ndarray:
    ids = np.full((S, S), -1, np.int32)
    fixed = np.round(dst * ONE).astype(np.int32)
    for t in order:
        cv2.fillConvexPoly(ids, fixed[tris[t]], int(t), lineType=cv2.LINE_8, shift=4)
    return ids


def _exact_ids(dst: np.ndarray, tris: np.ndarray, order: np.ndarray, n_surround: int = 0) -> np.ndarray:
    ids = _fill_convex_poly_ids(dst, tris, order[:n_surround])
    fixed = np.round(dst * ONE).astype(np.int64)
    ys, xs = np.mgrid[0:S, 0:S] * ONE
    for t in order[n_surround:]:
        p = fixed[tris[t]]  # (3, 2)
        sign = np.sign((p[1, 0] - p[0, 0]) * (p[2, 1] - p[0, 1]) - (p[1, 1] - p[0, 1]) * (p[2, 0] - p[0, 0]))
        inside = np.full((S, S), sign != 0)
        for a, b in ((p[0], p[1]), (p[1], p[2]), (p[2], p[0])):
            inside &= sign * ((b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])) >= 0
        ids[inside] = t
    return ids


def _far_from_edges(dst: np.ndarray, tris: np.ndarray, margin: float) -> np.ndarray:
    """(S, S) bool: pixel centres farther than `margin` px from every triangle edge."""
    ys, xs = np.mgrid[0:S, 0:S].astype(np.float64)
    far = np.ones((S, S), bool)
    for a, b in {tuple(sorted(e)) for t in tris.tolist() for e in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2]))}:
        p, d = dst[a], dst[b] - dst[a]
        u = np.clip(((xs - p[0]) * d[0] + (ys - p[1]) * d[1]) / (d @ d), 0.0, 1.0)
        far &= np.hypot(xs - p[0] - u * d[0], ys - p[1] - u * d[1]) > margin
    return far


@pytest.fixture(scope="module")
def folded_mesh() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(dst, src, tris, n_surround): a jittered grid over the whole crop, cells split in two, the triangles
    touching the crop border first (the surround); one interior vertex dragged across its neighbours in dst,
    which folds some of its triangles over the others."""
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, S - 1.0, GRID)
    src = np.stack(np.meshgrid(t, t), -1).reshape(-1, 2)  # (GRID * GRID, 2) x, y
    inner = (src > 0) & (src < S - 1)
    src = src + np.where(inner, rng.uniform(-1.5, 1.5, src.shape), 0.0)
    dst = src.copy()
    dst[4 * GRID + 4] += (11.3, 5.7)  # the middle vertex, past its right neighbour
    i, j = np.meshgrid(np.arange(GRID - 1), np.arange(GRID - 1), indexing="ij")
    a = (i * GRID + j).ravel()
    tris = np.concatenate([np.stack([a, a + 1, a + GRID + 1], 1), np.stack([a, a + GRID + 1, a + GRID], 1)])
    on_border = ((src[tris] == 0) | (src[tris] == S - 1)).any((1, 2))
    tris = np.concatenate([tris[on_border], tris[~on_border]]).astype(np.int32)
    return dst, src, tris, int(on_border.sum())


def test_rasterise_is_the_exact_painter_over_a_fold(
    folded_mesh: tuple[np.ndarray, np.ndarray, np.ndarray, int],
) -> None:
    dst, src, tris, n_surround = folded_mesh
    order = _drawing_order(dst, src, tris, n_surround)
    ids = rasterise(dst, tris, S, n_surround=n_surround, src=src)
    reference = _fill_convex_poly_ids(dst, tris, order)
    # No gaps: the mesh covers the crop, every pixel has a triangle, as with fillConvexPoly.
    assert (reference >= 0).all() and (ids >= 0).all()
    # Away from edges the two rasterisers agree (on an edge fillConvexPoly paints its outline a pixel wide).
    far = _far_from_edges(dst, tris, 1.0)
    assert far.sum() > S * S // 4
    np.testing.assert_array_equal(ids[far], reference[far])
    # Everywhere, a pixel gets the last triangle drawn of those whose closed area holds its centre.
    np.testing.assert_array_equal(ids, _exact_ids(dst, tris, order, n_surround))


def test_front_facing_triangles_win_over_folded_ones(
    folded_mesh: tuple[np.ndarray, np.ndarray, np.ndarray, int],
) -> None:
    dst, src, tris, n_surround = folded_mesh
    face = np.arange(n_surround, len(tris))
    is_folded = _folded(dst, src, tris)[n_surround:]
    folded, front = face[is_folded], face[~is_folded]
    assert len(folded) > 0
    ids = rasterise(dst, tris, S, n_surround=n_surround, src=src)
    under_folded = _exact_ids(dst, tris, folded) >= 0
    under_front = _exact_ids(dst, tris, front) >= 0
    both = under_folded & under_front
    assert both.sum() > 10  # the fold overlaps front-facing triangles
    assert np.isin(ids[both], front).all()
    assert np.isin(ids[under_folded & ~under_front], folded).all()
