"""Anti-aliased masks: fractional coverage along the edges (OpenCV's LINE_AA on a float canvas is aliased)."""

from __future__ import annotations

import numpy as np

from realtime.render.draw import fill_mask, line_mask


def test_a_slanted_line_and_polygon_have_soft_edges_not_steps() -> None:
    pts = np.round(np.array([[2.0, 8.0], [58.0, 12.0]]) * 16).astype(np.int32)
    line = line_mask((20, 60), pts, 1, 4)
    assert line.dtype == np.float32 and line.max() <= 1.0
    soft = (line > 0.05) & (line < 0.95)
    assert soft.sum() > 20  # edge pixels partly covered: a 1-pixel staircase has none
    # The line's centre of mass in each column follows the slope smoothly (no 1-pixel jumps).
    cols = np.arange(5, 55)
    ys = np.arange(20)[:, None]
    centre = (line[:, cols] * ys).sum(0) / line[:, cols].sum(0)
    assert np.abs(np.diff(centre)).max() < 0.3
    tri = np.round(np.array([[3.0, 2.0], [40.0, 9.0], [10.0, 18.0]]) * 16).astype(np.int32)
    fill = fill_mask((20, 45), [tri], 4)
    assert fill[10, 15] == 1.0 and fill[0, 44] == 0.0
    assert ((fill > 0.05) & (fill < 0.95)).sum() > 10
