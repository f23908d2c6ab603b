"""A glasses frame's rim where it crosses an upper lid, kept straight while the lid moves.

A glasses photo's frame is held still on the face (`realtime.face.glasses.FRAME_ZONE`), but the eyes' lids stay
free so the eyes blink behind the lenses. A frame whose top rim runs across the upper lid's band (low on the face,
or close to the eyes) was read by the warp from wherever the lowered lid took its pixels: the rim dipped over the
eye with the lid, and the lid's redraw (`realtime.render.eyes.draw_lid_skin`) wiped it out in the middle
(LivePortrait's d13 clip on its own first frame: the man's metal frame, every blink).

Read once per glasses photo (`find_lid_rims`): the rim's pixels round each eye, long thin dark lines, and the
mesh points that carry them. Each frame (`paste_lid_rims`) they are put back where those points, held still with
the frame, take them, over the painted eyes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from realtime.render.draw import fill_mask, paste_warped
from realtime.render.eyes import EYE_LOOPS, UPPER_RINGS

LOWER_RINGS: tuple[tuple[int, ...], tuple[int, ...]] = (
    (25, 110, 24, 23, 22, 26, 112),
    (255, 339, 254, 253, 252, 256, 341),
)
"""Each eye's mesh ring just under the lower lid. With the ring over the upper lid (`UPPER_RINGS`) it carries the
rim: both lie in the frame's zone, held still on a glasses photo, and round the band the lid moves."""
RIM_LINE = 0.12
"""Width of the lines a rim is found among (a black-hat filter's size), as a share of the eye's corner-to-corner
width: a metal or plastic rim 2-6 px across by an eye of 70 px, not the brows."""
RIM_DARK = 20.0
"""How much darker than the skin round it (grey levels, the black-hat's answer) a rim's pixels are."""
RIM_LONG = 1.3
"""How far a rim runs across the eye, at least, in the eye's width: a lens' top rim runs past both corners, where a
lid's crease or its lash line ends at them."""
CORNER_CLEAR = 0.05
"""Share of the eye's width past its corners from which a line is taken to be the rim alone (`_rim_curve`)."""
RIM_TOLERANCE = 0.05
"""How far from the rim's fitted curve, in the eye's width, its pixels lie (a rim a few pixels thick, its curve not
quite a parabola)."""
FRAME_DEPTH = 0.25
"""How far, in the eye's width, a rim found by its thin edges is grown up and down into the dark of a thick frame
(`_ribbon`)."""
RIM_SEARCH = (0.45, 0.25, 0.1)
"""Where a rim is looked for, in the eye's width: past each corner, over the ring over the upper lid, under the
lower lid."""
LASH_CLEAR = 0.06
"""Share of the eye's width over the upper lid in which nothing is kept (its lashes and liner go down with it)."""
BAND_REACH = 0.06
"""Share of the eye's width by which the band the lid moves (from its lid to the ring over it, and the eye) is
grown for what is put back: outside it the warp draws the rim where it is already."""

RIM_HOLE = 0.05
"""Where a rim's alpha passes this, the warp's photo has it filled in (`without_rims`)."""


@dataclass(frozen=True)
class LidRim:
    """One eye's rim as a glasses photo shows it, and what carries it."""

    patch: np.ndarray  # (h, w, 3) uint8: the photo round the rim
    alpha: np.ndarray  # (h, w) float32: the rim in the patch, 0-1
    origin: tuple[int, int]  # x, y of the patch in the photo's pixels
    anchors: (
        np.ndarray
    )  # (K, 2) float32: the carrying points (UPPER_RINGS, LOWER_RINGS) in the photo's pixels
    eye: int


def carriers(eye: int) -> list[int]:
    """The mesh points that carry an eye's rim: the rings over and under its lids."""
    return list(UPPER_RINGS[eye]) + list(LOWER_RINGS[eye])


def find_lid_rims(photo: np.ndarray, ls_photo: np.ndarray) -> tuple[LidRim, ...]:
    """The rim of a glasses frame where it crosses each eye's upper lid band (none where no long thin dark line runs
    across it: rimless, clear or bright frames, a frame over the brows). `photo` (H, W, 3) uint8, `ls_photo`
    (478, 2) its landmarks in its pixels."""
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    rims = []
    for eye in (0, 1):
        loop = np.asarray(ls_photo[list(EYE_LOOPS[eye])], np.float64)
        ring = np.asarray(ls_photo[list(UPPER_RINGS[eye])], np.float64)
        width = float(np.linalg.norm(loop[8] - loop[0]))
        if width < 8.0:
            continue
        past, over, under = RIM_SEARCH
        xs = loop[[0, 8], 0]
        x0, x1 = int(max(xs.min() - past * width, 0)), int(min(xs.max() + past * width, w))
        y0, y1 = int(max(ring[:, 1].min() - over * width, 0)), int(min(loop[:, 1].max() + under * width, h))
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        k = max(3, round(RIM_LINE * width) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        lines = cv2.morphologyEx(gray[y0:y1, x0:x1], cv2.MORPH_BLACKHAT, kernel).astype(np.float32) > RIM_DARK
        n, labels, stats, _ = cv2.connectedComponentsWithStats(lines.astype(np.uint8), connectivity=8)
        long = np.flatnonzero(stats[1:, cv2.CC_STAT_WIDTH] >= RIM_LONG * width) + 1
        if n <= 1 or not len(long):
            continue
        fit = _rim_curve(np.isin(labels, long), loop[[0, 8], 0] - x0, width)
        if fit is None:
            continue
        rim = _ribbon(gray[y0:y1, x0:x1], *fit, width)
        # Only where the lid moves (its band and the eye), and never its own lashes and liner.
        shape = rim.shape
        band = np.vstack([loop[:9], ring[::-1]]) - (x0, y0)
        reach = max(1, round(BAND_REACH * width))
        moved = fill_mask(shape, [np.round(band * 16).astype(np.int32)], 4) > 0.0
        moved |= fill_mask(shape, [np.round((loop - (x0, y0)) * 16).astype(np.int32)], 4) > 0.0
        moved = cv2.dilate(moved.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
        lashes = np.zeros(shape, np.uint8)
        clear = max(1, round(LASH_CLEAR * width))
        cv2.polylines(lashes, [np.round(loop[:9] - (x0, y0)).astype(np.int32)], False, 1, 2 * clear + 1)
        rim &= moved & (lashes == 0)
        if not rim.any():
            continue
        alpha = cv2.GaussianBlur(cv2.dilate(rim.astype(np.float32), np.ones((3, 3), np.uint8)), (0, 0), 0.7)
        rims.append(
            LidRim(
                patch=np.ascontiguousarray(photo[y0:y1, x0:x1]),
                alpha=alpha,
                origin=(x0, y0),
                anchors=np.asarray(ls_photo[carriers(eye)], np.float32),
                eye=eye,
            )
        )
    return tuple(rims)


def _rim_curve(
    lines: np.ndarray, corners_x: np.ndarray, width: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """A rim's curve (a parabola's coefficients, y of x) and the columns (K,) where it runs alone, fitted to the long
    lines `lines` (h, w) bool past the eye's corners (x `corners_x` (2,), `width` apart) on both sides, crossed by a
    thin line only. Between the corners a crease touching the rim joined it into one line (put back still over a
    shutting lid, it floated as dashes), and where the lid's shadow greyed the rim it went unfound (the lid took it
    down there). None where the lines do not run past both corners."""
    clear = CORNER_CLEAR * width
    counts = lines.sum(0)
    cols = np.flatnonzero((counts > 0) & (counts <= RIM_TOLERANCE * width * 2))
    cols = cols[(cols < corners_x.min() - clear) | (cols > corners_x.max() + clear)]
    if not len(cols):
        return None
    mid = np.array([np.flatnonzero(lines[:, c]).mean() for c in cols])
    before = cols < corners_x.min()
    # Refitted to the columns near the last fit: the bridge or a nose pad past the inner corner pulled the first.
    keep = np.ones(len(cols), bool)
    for reach in (2.0, 1.0, 1.0):
        if (keep & before).sum() < 3 or (keep & ~before).sum() < 3:
            return None
        curve = np.polyfit(cols[keep], mid[keep], 2)
        keep &= np.abs(mid - np.polyval(curve, cols)) <= reach * RIM_TOLERANCE * width
    if (keep & before).sum() < 3 or (keep & ~before).sum() < 3:
        return None
    return curve, cols[keep]


def _ribbon(gray: np.ndarray, curve: np.ndarray, cols: np.ndarray, width: float) -> np.ndarray:
    """(h, w) bool: the frame round a rim's `curve`, as thick as it is where it runs alone (the columns `cols`):
    the run of pixels darker than half way from the frame's middle to the skin, over and under the curve there,
    up to FRAME_DEPTH of the eye's `width`. A thick plastic frame is found by its thin edges, and the rest of it,
    left to the lid, was wiped out over the eyes by the lid's redraw or taken down with it."""
    h = gray.shape[0]
    depth = max(1, round(FRAME_DEPTH * width))
    rows = np.clip(np.round(np.polyval(curve, cols)).astype(int), 0, h - 1)
    dark = float(np.median(gray[rows, cols]))
    line = max(0.5 * (dark + float(np.median(gray))), dark + 1.0)  # the search box is mostly skin
    up, down = [], []
    for c, r in zip(cols, rows, strict=True):
        column = gray[:, c] < line
        a = b = r
        while a > 0 and r - a < depth and column[a - 1]:
            a -= 1
        while b < h - 1 and b - r < depth and column[b + 1]:
            b += 1
        up.append(r - a)
        down.append(b - r)
    gy, gx = np.mgrid[0:h, 0 : gray.shape[1]]
    off = gy - np.polyval(curve, gx)
    on = (off >= -float(np.median(up)) - 0.5) & (off <= float(np.median(down)) + 0.5)
    return on & (gx >= cols.min()) & (gx <= cols.max())


def without_rims(photo: np.ndarray, rims: tuple[LidRim, ...]) -> np.ndarray:
    """`photo` with its rims (`find_lid_rims`) filled in from the skin round them (the same array where there are
    none): what the warp reads, so that a lid coming down does not take a rim with it."""
    if not rims:
        return photo
    out = photo.copy()
    for rim in rims:
        x0, y0 = rim.origin
        ph, pw = rim.alpha.shape
        hole = (rim.alpha > RIM_HOLE).astype(np.uint8)
        out[y0 : y0 + ph, x0 : x0 + pw] = cv2.inpaint(rim.patch, hole, 3, cv2.INPAINT_TELEA)
    return out


def paste_lid_rims(roi: np.ndarray, rims: tuple[LidRim, ...], lt_roi: np.ndarray) -> None:
    """In place: each rim put back into `roi` where its carrying points are (`lt_roi` (478, 2), `roi`'s pixels),
    by the similarity that best takes the photo's points there."""
    for rim in rims:
        m, _ = cv2.estimateAffinePartial2D(rim.anchors, lt_roi[carriers(rim.eye)].astype(np.float32))
        if m is None:
            continue
        m[:, 2] += m[:, :2] @ np.asarray(rim.origin, np.float64)  # patch pixels -> roi pixels
        paste_warped(roi, rim.patch, rim.alpha, m, cv2.INTER_CUBIC)
