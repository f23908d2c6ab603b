"""A photo's padding: what is round the picture and not in it, taken away before the photo is framed for a call.

The frame round a photo is filled by carrying the photo's edge out (`realtime.render.framing.extend`), so whatever
black the photo is padded with is carried out too:

- black bars along its sides (a portrait inside a 16:9 screenshot, letterboxing) are cut (`trim_bars`);
- the black corners of a photo turned inside its frame (LFW's aligned faces, a scan laid askew: each corner a
  black wedge with a straight edge) are filled from the picture next to them (`fill_corners`).
"""

from __future__ import annotations

import cv2
import numpy as np

from realtime.render.draw import wide_blur

BAR_LEVEL = 24
"""Brightest channel value of a black bar's pixels (letterboxing, a screenshot's frame round a photo)."""
BAR_COVER = 0.995
"""Share of a row or column's pixels that must be that dark for it to belong to a bar."""
BAR_MIN = 0.02
"""Bars narrower than this share of the photo's side are left (a dark rim, a scan's edge)."""
BAR_KEEP = 0.3
"""Share of the photo's side that must be left between its bars (else it is a dark photo, not bars: a 4:5
portrait in a 16:9 screenshot keeps 0.42)."""
BAR_EDGE = 0.01
"""Share of the photo's side past a bar that is still cut while it is darker than the photo (BAR_BLEND): a JPEG's bar
blurs into the photo over a pixel or two, and the fill carries the outermost line out. The PRNet 4.jpg photo (24
black columns on its right, then one at brightness 32 beside the wall's 214) was framed for a call with that one
column carried out as a black panel over a third of the frame."""
BAR_BLEND = 0.8
"""A line past a bar whose mean brightness is under this share of the photo's next to it is the bar's blur."""


def trim_bars(image: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """(the image without the black bars along its edges, (left, top, right, bottom) pixels cut): a portrait
    inside a 16:9 screenshot was framed with its black pillars, and the fill carried them out (the Obama 1080p
    photo). A side is cut only where its bar is at least BAR_MIN of the image and BAR_KEEP of it stays; with the
    bar, its blur into the photo (`_past_blur`)."""
    h, w = image.shape[:2]
    light = _brightest(image)
    dark = light <= BAR_LEVEL
    cols, rows = dark.mean(axis=0) >= BAR_COVER, dark.mean(axis=1) >= BAR_COVER

    def run(flags: np.ndarray) -> int:
        return int(np.argmin(flags)) if not flags.all() else len(flags)

    left, right, top, bottom = run(cols), run(cols[::-1]), run(rows), run(rows[::-1])
    left, right = (left, right) if left + right <= (1.0 - BAR_KEEP) * w else (0, 0)
    top, bottom = (top, bottom) if top + bottom <= (1.0 - BAR_KEEP) * h else (0, 0)
    cut = tuple(v if v >= BAR_MIN * side else 0 for v, side in ((left, w), (top, h), (right, w), (bottom, h)))
    across, down = light.mean(axis=0), light.mean(axis=1)  # mean brightness of each column, each row
    l, t, r, b = cut
    cut = (_past_blur(across, l), _past_blur(down, t), _past_blur(across[::-1], r), _past_blur(down[::-1], b))
    l, t, r, b = cut
    if not any(cut):
        return image, (0, 0, 0, 0)
    return np.ascontiguousarray(image[t : h - b, l : w - r]), (l, t, r, b)


def _brightest(image: np.ndarray) -> np.ndarray:
    """(h, w): each pixel's brightest channel (padding is black in every channel)."""
    return image.max(axis=2) if image.ndim == 3 else image


def _past_blur(lines: np.ndarray, bar: int) -> int:
    """The cut from a side whose bar ends at `bar` (0: no bar) and the lines past it still darker than BAR_BLEND of
    the photo's next to them, up to BAR_EDGE of the side; `lines` (n,): mean brightness from that side inward."""
    if bar == 0:
        return 0
    reach = max(int(np.ceil(BAR_EDGE * len(lines))), 1)
    photo = float(np.median(lines[bar + reach : bar + 3 * reach])) if bar + reach < len(lines) else 0.0
    end = bar
    while end < bar + reach and lines[end] < BAR_BLEND * photo:
        end += 1
    return end


CORNER_MIN = 0.002
"""Share of the photo a turned photo's black corners must cover (together) to be filled."""
CORNER_ROWS = 0.04
"""Share of the side's lines a black corner's straight edge must run along: a shorter one is the picture's own."""
CORNER_FIT = 1.5
"""Pixels a line's dark run may end off the corner's straight edge (the JPEG's ringing) and still be on it."""
CORNER_HELD = 0.3
"""Share of the lines of a dark run along a side that must end on the corner's straight edge: dark picture next to a
corner (a dark backdrop, hair, a suit) runs on past it."""
CORNER_SHORT = 0.02
"""Share of a corner's lines whose dark run may end short of its edge (a speck the JPEG lit inside the black)."""
CORNER_TILT = 1.0
"""Steepest slope (pixels across per line along) of a corner's edge: a photo turned by up to 45 degrees."""
CORNER_BLACK = 4
"""Median brightest channel of a corner: padding is black (LFW's is 0 but for the JPEG's ringing at its edge),
where a dark backdrop in the picture has its noise and shading."""
CORNER_BLUR = 3
"""Pixels (at FILL_SIDE or less) past a corner's edge also filled: the JPEG blurs the black into the picture over a
few pixels (one pixel left a grey line along LFW's Trent_Lott_0014 corner)."""
FILL_SIDE = 512
"""Longest side the corners are looked for and filled at (the fill is soft colour)."""
_TRIES = 40
"""Lines sampled along a dark run for the pairs a corner's straight edge is looked for between."""


def fill_corners(image: np.ndarray) -> tuple[np.ndarray, float]:
    """(the image with its black corners filled, the share of it filled; the image itself where there are none).
    LFW's 250-px aligned faces are turned inside their frame, each with black wedges at its corners: framed for a
    call, the wedges were carried out as black rays across the fill. A wedge is a run of black from a side, reaching
    a corner, whose length changes along the side in a straight line (`_corners`); it is filled from the picture
    round it, blurred the more the further from it (`_fill_from_around`). Both are worked out at FILL_SIDE at most
    (a 2048-px photo's full-size search took 160-250 ms) and the fill enlarged into the corners."""
    h, w = image.shape[:2]
    s = min(1.0, FILL_SIDE / max(h, w))
    small = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1.0 else image
    light = _brightest(small)
    dark = light <= BAR_LEVEL
    black = _corners(dark)  # from the left
    black |= _corners(dark[:, ::-1])[:, ::-1]  # from the right
    black |= _corners(dark.T).T  # from the top
    black |= _corners(dark[::-1].T).T[::-1]  # from the bottom
    share = float(black.mean())
    if share < CORNER_MIN or np.median(light[black]) > CORNER_BLACK:
        return image, 0.0
    reach = 2 * CORNER_BLUR + 1
    hole = cv2.dilate(black.astype(np.uint8), np.ones((reach, reach), np.uint8)) > 0
    fill = _fill_from_around(small, hole)
    if s < 1.0:
        fill = cv2.resize(fill, (w, h), interpolation=cv2.INTER_LINEAR)
        hole = cv2.resize(hole.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    out = image.copy()
    out[hole] = fill[hole]
    return out, share


def _corners(dark: np.ndarray) -> np.ndarray:
    """(h, w) the black wedges along the left side of `dark` (h, w) bool: for each stretch of lines with a dark
    run from the side that reaches a corner (row 0 or h - 1), the straight edge most of the runs end on (`_edge`),
    and what is left of it."""
    h, w = dark.shape
    out = np.zeros((h, w), bool)
    runs = np.where(dark.all(axis=1), w, np.argmin(dark, axis=1)).astype(np.float64)  # leading dark pixels
    lit = np.flatnonzero(runs == 0)
    stretches = [(0, int(lit[0]) if len(lit) else h)]  # from the top corner
    if len(lit):
        stretches.append((int(lit[-1]) + 1, h))  # from the bottom corner
    for start, stop in stretches:
        if stop - start < max(CORNER_ROWS * h, 3):
            continue
        line = _edge(np.arange(start, stop, dtype=np.float64), runs[start:stop], h)
        if line is not None:
            edge = line[0] * np.arange(start, stop) + line[1]
            out[start:stop] = np.arange(w)[None, :] < edge[:, None]
    return out


def _edge(rows: np.ndarray, runs: np.ndarray, h: int) -> tuple[float, float] | None:
    """(slope, offset) of the straight line most `runs` end on within CORNER_FIT and none ends short of (a wedge of
    padding is black up to its edge; runs that go on past it are the picture's dark next to the corner), between
    any two of _TRIES lines spread along them; None where fewer than CORNER_HELD of them, or CORNER_ROWS of the
    side, end on one, or it is steeper than CORNER_TILT. A dark backdrop's edge is ragged: its runs end both sides
    of any line."""
    pick = np.unique(np.linspace(0, len(rows) - 1, min(_TRIES, len(rows))).astype(int))
    a, b = np.triu_indices(len(pick), k=1)
    i, j = pick[a], pick[b]
    slope = (runs[j] - runs[i]) / (rows[j] - rows[i])
    offset = runs[i] - slope * rows[i]
    off = runs[None, :] - (slope[:, None] * rows[None, :] + offset[:, None])
    on = np.abs(off) <= CORNER_FIT
    short = (off < -CORNER_FIT).mean(axis=1)
    held = on.sum(axis=1) * (np.abs(slope) <= CORNER_TILT) * (short <= CORNER_SHORT)
    best = int(np.argmax(held))
    if held[best] < max(CORNER_HELD * len(rows), CORNER_ROWS * h):
        return None
    keep = on[best]
    fitted = np.polyfit(rows[keep], runs[keep], 1)
    return float(fitted[0]), float(fitted[1])


def _fill_from_around(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`image` with its `hole` (h, w) pixels filled by the mean of the picture round each, over the narrowest of
    Gaussian windows doubling from 2 pixels that reaches the picture."""
    picture = (~hole).astype(np.float32)
    colours = image.astype(np.float32).reshape(image.shape[0], image.shape[1], -1) * picture[..., None]
    out = colours.copy()
    todo = hole.copy()
    sigma = 2.0
    while todo.any() and sigma < 4 * max(image.shape[:2]):
        weight = wide_blur(picture, sigma)
        reached = todo & (weight > 0.05)
        if reached.any():
            mean = wide_blur(colours, sigma).reshape(colours.shape)
            out[reached] = mean[reached] / weight[reached][:, None]
            todo &= ~reached
        sigma *= 2.0
    return np.clip(out.reshape(image.shape) + 0.5, 0, 255).astype(np.uint8)
