"""The driver's expression lines on the photo: the frown between the brows, the forehead's lines as the brows rise.

A warp moves the photo's skin but draws no crease that the photo does not have: a frowning driver's photo lowered
its brows over a smooth glabella, and the teacher read little of the frown (live AU04 r 0.21; with the driving
frame's own landmarks, the paper protocol's oracle, AU04 still kept 0.035 of its squared gap, docs/EVALUATION.md).
So the lines come from the driver's frame:

1. `cut_detail`: the driver's upper face (eye corners to the forehead's top) cut into a small patch in a frame
   fixed to the face (a similarity on WRINKLE_POINTS), its detail relative to its local brightness (the patch
   over its blur, less 1): creases are negative, lit ridges positive; the shading of the face is gone.
2. `WrinkleRest`: the driver's detail at rest, followed while its brows are at rest (an average over such frames),
   so the driver's own permanent lines, pores and moles are not put on the photo.
3. `dynamic_lines`: what the frame shows darker than at rest (creases only, never lighter), softened, kept to the
   forehead and the glabella (UPPER_FACE) and off the brows and eyes, the forehead's only where they run across
   the face and away from the temples (a strand of hair is no line), and where the frame is not much darker than its
   skin at a coarse scale (nor is a fringe of hair); `gated_lines` weighs them by how far the
   brows' AUs shown (the user's edits included) have moved from the neutral (BROW_GATE): the glabella's lines by
   the frown (AU04), the forehead's by the raised brows (AU01, AU02). A head turn that shifts the patch's texture
   with no brow motion puts nothing on the photo.
4. `paint_lines`: the lines mapped onto the output's face by the same similarity from the target landmarks,
   kept off the brows themselves (their hair moves with the warp; the driver's brow edges moving over its rest
   drew halos) and off the eyes, and multiplied into the output's brightness (WRINKLE_GAIN).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from realtime.face import topology as topo
from realtime.face.align import inter_ocular
from realtime.face.pose import rigid_fit

WRINKLE_POINTS = (33, 133, 362, 263, 10, 109, 338, 151)
"""Mesh points that place the patch: the eyes' corners, the forehead's top, its sides and its middle."""
PATCH_SIZE = (160, 112)
"""(width, height) of the patch: the forehead and the eyes' line at about a 256 crop's resolution (a crease is a
pixel or two wide)."""
DETAIL_BLUR = 3.0
"""Patch pixels of the blur the detail is taken against: creases a few pixels wide are kept, shading is not."""
LINE_SOFTEN = 0.8
"""Patch pixels of the blur on the lines put on the photo (the driver's sensor noise is not)."""
REST_RATE = 0.1
"""Share of each frame with the brows at rest that the rest detail moves towards (an average of about 10 frames)."""
BROW_GATE = (0.05, 0.2)
"""The brows' AU change from the driver's neutral (raised: the most of AU01 and AU02; lowered: AU04) from which
their lines are drawn at all, and from which in full."""
BROWS_AT_REST = 0.05
"""Below this change (raised and lowered) the brows are at rest: the frame feeds the rest detail."""
WRINKLE_GAIN = 1.5
"""How strongly a line darkens the photo, over its relative darkening in the driver's frame."""
BROW_CLEAR = 0.04
"""Inter-ocular distances round the brows' and the eyes' hulls kept free of lines (in the driver's patch, round
where its brows are and were at rest: their edges moving over the rest drew halos; on the output, round its own
brows: their hair moves with the warp)."""
UPPER_FACE = (0.15, 0.05)
"""Inter-ocular distances over the eyes' line (in the patch) above which lines are drawn in full, and under which
none: the forehead and the glabella. Lower, a frowning driver's deep-set eye corners and nose bridge darkened as it
moved, and drew dark blots by the photo's eyes (the Acosta photo under the Spartan clip)."""
BORDER_FADE = 8
"""Patch pixels over which lines fade out towards the patch's edges (a line cut by them stood as a hard edge)."""
GLABELLA = (1.6, 0.36)
"""The glabella in the patch, whose lines are the frown's (AU04): as wide as the eyes' inner corners are apart
times the first, up to the second (inter-ocular distances) over the eyes' line; the rest of the forehead's lines
are the raised brows' (AU01, AU02). Drawn on the change of all three at once, the Spartan clip's raised brows put
frown lines on the Acosta photo where the driver did not frown (live AU04 r on that pair 0.58 -> 0.25)."""
FOREHEAD_ALONG = 3.0
"""Patch pixels of the blur along the face's width on the forehead's lines, after only the lines that run across
the face are kept (`_across`): the raised brows' lines run across the forehead and keep their depth; a strand of
the driver's hair over its forehead, steeper, is dropped. Without both the hair framing the EDTalk driver's
forehead, moving as she spoke, drew dark scratches on the Pat Monahan photo's forehead whenever she raised her
brows."""
FOREHEAD_SIDES = 0.1
"""Inter-ocular distances inside the eyes' outer corners beyond which the forehead's lines fade out (to none at
the corners): the temples, where the driver's hair frames its face."""
HAIR_DARK = (0.45, 0.6)
"""How dark the frame may be near a line at a coarse scale (`Detail.lit`: its brightness blurred by LIT_BLUR, the
darkest within LIT_REACH, over the skin's, the LIT_SKIN percentile of the upper face) for no line to be drawn
there, and from how light on it is drawn in full. Hair over the forehead is darker than the skin round it at a scale
where a crease is not, and a fringe's edge (its line in the detail lies on the hair's side) has the hair beside it:
the fringe of SkyReels-A1's clip 2, swinging over the driver's forehead, drew a dark scar over the Obama photo's
brow, its lines at 0.20-0.21 of the skin (median; 0.32-0.38 at the 95th percentile), where styletalk's spata clip's
frown lines sit at 0.72-0.74 (0.25-0.33 at the 5th, beside the brows). A strand steeper than 45 degrees was already
dropped (`_across`); a fringe's edge is not."""
LIT_BLUR = 4.0
"""Patch pixels of the blur `Detail.lit` is taken at: a crease (a pixel or two wide) all but vanishes, hair does not."""
LIT_REACH = 3
"""Patch pixels round each pixel over which `Detail.lit` takes the darkest: a line on a fringe's edge sees the hair."""
LIT_SKIN = 75
"""Percentile of the upper face's brightness (UPPER_FACE's window) taken as the skin's in `Detail.lit`: the median
is the hair's where a fringe covers half the forehead."""
REST_BLUR = 6.0
"""Patch pixels (at the photo's resolution) of the blur a photo's forehead detail is taken against in
`rest_forehead`: twice DETAIL_BLUR, as a raised forehead's creases are broad bands of shade (the M024 photo's kept
their shade at DETAIL_BLUR)."""
_RAISE_AUS, _FROWN_AU = (0, 1), 2  # AU01, AU02; AU04 in AU_ORDER


@functools.lru_cache(maxsize=1)
def patch_frame() -> np.ndarray:
    """(len(WRINKLE_POINTS), 2) float32: where the points sit in the patch (the mean face, scaled alike in x and
    y to fit it, centred)."""
    from realtime.weights import weight_path

    mean = np.load(weight_path("mean_face.npy"))[list(WRINKLE_POINTS), :2].astype(np.float64)
    lo, hi = mean.min(0), mean.max(0)
    w, h = PATCH_SIZE
    scale = min(0.9 * w / (hi - lo)[0], 0.9 * h / (hi - lo)[1])
    return ((mean - (lo + hi) / 2.0) * scale + np.array([w, h]) / 2.0).astype(np.float32)


@functools.lru_cache(maxsize=1)
def patch_iod() -> float:
    """The outer eye corners' distance in the patch (its unit for the lengths given in inter-ocular distances)."""
    frame = patch_frame()
    return float(np.hypot(*(frame[3] - frame[0])))


@functools.lru_cache(maxsize=1)
def glabella_window() -> np.ndarray:
    """(h, w) float32 in 0-1: the glabella in the patch (GLABELLA), softened."""
    frame, iod = patch_frame(), patch_iod()
    w, h = PATCH_SIZE
    inner = frame[1:3]  # the eyes' inner corners
    centre, half = float(inner[:, 0].mean()), 0.5 * GLABELLA[0] * float(abs(inner[1, 0] - inner[0, 0]))
    top = float(frame[:4, 1].mean()) - GLABELLA[1] * iod
    box = np.zeros((h, w), np.float32)
    box[max(int(top), 0) :, max(int(centre - half), 0) : int(centre + half) + 1] = 1.0
    return cv2.GaussianBlur(box, (0, 0), 3.0)


@functools.lru_cache(maxsize=1)
def upper_face_window() -> np.ndarray:
    """(h, w) float32 in 0-1: where lines may be drawn in the patch (UPPER_FACE, BORDER_FADE)."""
    frame, iod = patch_frame(), patch_iod()
    w, h = PATCH_SIZE
    eyes = float(frame[:4, 1].mean())
    full, none = (eyes - k * iod for k in UPPER_FACE)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    window = np.clip((none - ys) / max(none - full, 1e-3), 0.0, 1.0)
    edge = np.minimum(np.minimum(xs, w - 1 - xs), np.minimum(ys, h - 1 - ys))
    return (window * np.clip(edge / BORDER_FADE, 0.0, 1.0)).astype(np.float32)


@functools.lru_cache(maxsize=1)
def forehead_window() -> np.ndarray:
    """(h, w) float32 in 0-1: 1 between the eyes' outer corners less FOREHEAD_SIDES, fading to 0 at the corners."""
    frame, iod = patch_frame(), patch_iod()
    w, h = PATCH_SIZE
    left, right = float(frame[0, 0]), float(frame[3, 0])  # the outer eye corners
    xs = np.arange(w, dtype=np.float32)
    ramp = FOREHEAD_SIDES * iod
    across = np.clip(np.minimum(xs - left, right - xs) / max(ramp, 1e-3), 0.0, 1.0)
    return np.broadcast_to(across, (h, w)).astype(np.float32)


def to_patch(landmarks: np.ndarray) -> np.ndarray | None:
    """(2, 3) the least-squares similarity (`realtime.face.pose.rigid_fit`, in the image plane) taking image
    pixels to patch pixels for a face's landmarks (478, 2+); None where the points give none (all in one place).
    A robust estimator (LMEDS) may drop points, and a frame that dropped others than the last moved the lines."""
    pts = np.asarray(landmarks, np.float64)[list(WRINKLE_POINTS), :2]
    if not np.isfinite(pts).all() or float(np.ptp(pts, axis=0).max()) < 1.0:
        return None
    flat = np.zeros((len(pts), 1))
    rot, scale, shift = rigid_fit(np.hstack([patch_frame(), flat]), np.hstack([pts, flat]), slice(None))
    return np.hstack([scale * rot[:2, :2], shift[:2, None]])


_PARTS = (topo.LEFT_EYEBROW, topo.RIGHT_EYEBROW, topo.LEFT_EYE, topo.RIGHT_EYE)
_PART_POINTS = [i for part in _PARTS for i in part]


@dataclass(frozen=True)
class Detail:
    """One frame's upper face in the patch frame."""

    detail: np.ndarray
    """(h, w) float32 relative detail: the patch over its blur, less 1 (creases negative)."""
    parts: np.ndarray
    """(K, 2) float32 the brows' and eyes' points (`_PARTS`) in patch pixels."""
    lit: np.ndarray
    """(h, w) float32 the patch's brightness at a coarse scale, the darkest near each pixel, over its skin's
    (LIT_BLUR, LIT_REACH, LIT_SKIN): about 1 on skin and its creases, well under it on and beside hair (HAIR_DARK)."""


@functools.lru_cache(maxsize=4)
def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def cut_detail(image: np.ndarray, landmarks: np.ndarray) -> Detail | None:
    """The upper face of an RGB uint8 image in the patch frame, from its face's landmarks (478, 2+); None where
    the face gives no frame."""
    m = to_patch(landmarks)
    if m is None:
        return None
    # Cut, then made grey: the patch, not the whole frame, is converted.
    rgb = cv2.warpAffine(image, m, PATCH_SIZE, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    patch = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) + 1.0
    pts = np.asarray(landmarks, np.float64)[_PART_POINTS, :2]
    skin = max(float(np.percentile(patch[upper_face_window() > 0.5], LIT_SKIN)), 1.0)
    return Detail(
        patch / cv2.GaussianBlur(patch, (0, 0), DETAIL_BLUR) - 1.0,
        (pts @ m[:, :2].T + m[:, 2]).astype(np.float32),
        cv2.erode(cv2.GaussianBlur(patch, (0, 0), LIT_BLUR), _disk(LIT_REACH)) / np.float32(skin),
    )


def _clear_mask(shape: tuple[int, int], points: list[np.ndarray], reach: float) -> np.ndarray:
    """(h, w) float32 in 0-1: 1 away from the hulls of each part's points (`_PARTS` order, one (K, 2) array per
    pose given), falling to 0 within `reach` pixels of them."""
    hit = np.zeros(shape, np.uint8)
    for pts in points:
        k = 0
        for part in _PARTS:
            hull = cv2.convexHull(np.round(pts[k : k + len(part)]).astype(np.int32))
            cv2.fillConvexPoly(hit, hull, 1)
            k += len(part)
    size = max(3, int(2 * reach) | 1)
    hit = cv2.dilate(hit, np.ones((size, size), np.uint8)).astype(np.float32)
    return 1.0 - cv2.GaussianBlur(hit, (0, 0), max(reach / 2.0, 0.5))


@dataclass
class WrinkleRest:
    """The driver's detail at rest (`cut_detail`), followed over the frames where its brows are at rest."""

    rest: Detail | None = None

    def update(self, frame: Detail | None, brows: tuple[float, float]) -> np.ndarray | None:
        """Feed one frame's detail and its brows' AU change from neutral (`brow_change`); return the frame's
        lines (`dynamic_lines`), or None: no detail, or the brows within BROW_GATE's start (nothing to draw)."""
        if frame is None:
            return None
        if self.rest is None:
            self.rest = frame  # the first frame: the driver's neutral is taken from it too
        elif max(brows) < BROWS_AT_REST:
            r = self.rest
            self.rest = Detail(
                r.detail + REST_RATE * (frame.detail - r.detail),
                r.parts + REST_RATE * (frame.parts - r.parts),
                frame.lit,
            )
        if max(_gate(b) for b in brows) <= 0.0:
            return None
        return dynamic_lines(frame, self.rest)

    def reset(self) -> None:
        self.rest = None


def brow_change(aus_delta: np.ndarray) -> tuple[float, float]:
    """How far the brows' AUs have moved from the driver's neutral: (raised: the most of AU01 and AU02, lowered:
    AU04)."""
    d = np.asarray(aus_delta)
    return float(np.max(d[list(_RAISE_AUS)])), float(d[_FROWN_AU])


def _gate(change: float) -> float:
    lo, hi = BROW_GATE
    return float(np.clip((change - lo) / (hi - lo), 0.0, 1.0))


def dynamic_lines(frame: Detail, rest: Detail) -> np.ndarray:
    """(2, h, w) float32 <= 0: where the frame is darker than at rest (creases), softened, kept to the upper face,
    off the brows and eyes (where they are and where they were at rest) and off hair (HAIR_DARK): the glabella's
    lines, then the rest of the forehead's (`gated_lines` weighs them)."""
    # The frame's creases deeper than the rest's: a crease's lit flanks at rest, gone, are no line.
    deeper = np.minimum(frame.detail, 0.0) - np.minimum(rest.detail, 0.0)
    lines = np.minimum(cv2.GaussianBlur(deeper, (0, 0), LINE_SOFTEN), 0.0)
    lo, hi = HAIR_DARK
    skin = np.clip((frame.lit - lo) / (hi - lo), 0.0, 1.0)
    lines *= (
        _clear_mask(lines.shape, [frame.parts, rest.parts], BROW_CLEAR * patch_iod())
        * upper_face_window()
        * skin
    )
    glabella = glabella_window()
    forehead = np.minimum(_level(lines, 1.0 - glabella), 0.0) * forehead_window()
    return np.stack([lines * glabella, forehead]).astype(np.float32)


def _level(lines: np.ndarray, window: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """The forehead's lines in `window` (h, w) kept only where they run across the face (`_across`), then blurred
    along it (FOREHEAD_ALONG); `scale`: image pixels per patch pixel (1: the patch itself)."""
    kept = lines * window * _across(lines, 2.0 * scale)
    return cv2.GaussianBlur(kept, (0, 0), sigmaX=FOREHEAD_ALONG * scale, sigmaY=0.1)


def _across(lines: np.ndarray, reach: float = 2.0) -> np.ndarray:
    """(h, w) float32 in 0-1: how nearly the lines at each pixel run across the face (1: level, 0: at 45 degrees
    or steeper), from their structure tensor averaged over `reach` pixels."""
    gx = cv2.Sobel(lines, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lines, cv2.CV_32F, 0, 1, ksize=3)
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), reach)
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), reach)
    return np.clip((jyy - jxx) / (jyy + jxx + 1e-12), 0.0, 1.0)


def rest_forehead(photo: np.ndarray, landmarks: np.ndarray, strength: float) -> np.ndarray:
    """The photo (H, W, 3) uint8 with its forehead's level creases and the ridges between them taken out by
    `strength` (0-1), from its face's landmarks (478, 2+): for a photo whose raised brows its rest lowers
    (`realtime.render.neutral`), so that the creases of its surprise do not stay on a forehead at rest (the MEAD
    M024 photo looked surprised through a calm driver's whole clip). The forehead's detail found as
    `dynamic_lines` finds a driver's (relative to its local brightness, across the face only, off the
    brows and eyes, away from the temples), both signs, at the photo's own resolution (at the patch's, a thin
    crease kept its core), and divided out of its brightness; the driver's own lines are drawn when it raises its
    brows. The photo as it is where strength is 0 or its face gives no patch."""
    m = to_patch(landmarks) if strength > 0.0 else None
    if m is None:
        return photo
    pts = np.asarray(landmarks, np.float64)[_PART_POINTS, :2]
    window = _clear_mask(PATCH_SIZE[::-1], [pts @ m[:, :2].T + m[:, 2]], BROW_CLEAR * patch_iod())
    window *= upper_face_window() * (1.0 - glabella_window()) * forehead_window()
    scale = 1.0 / max(float(np.hypot(m[0, 0], m[1, 0])), 1e-6)  # photo pixels per patch pixel
    box = _footprint(m, photo.shape, int(np.ceil(4.0 * REST_BLUR * scale)))
    if box is None:
        return photo
    (x0, y0, x1, y1), to_box = box
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    region = cv2.warpAffine(window, to_box, (x1 - x0, y1 - y0), flags=flags, borderValue=0.0)
    area = photo[y0:y1, x0:x1].astype(np.float32)
    gray = cv2.cvtColor(area, cv2.COLOR_RGB2GRAY) + 1.0
    # Not softened: a photo has no sensor noise from frame to frame to hide.
    level = _level(gray / cv2.GaussianBlur(gray, (0, 0), REST_BLUR * scale) - 1.0, region, scale)
    gain = 1.0 / np.maximum(1.0 + float(np.clip(strength, 0.0, 1.0)) * level, 0.5)
    out = photo.copy()
    out[y0:y1, x0:x1] = np.clip(area * gain[..., None] + 0.5, 0, 255).astype(np.uint8)
    return out


def _footprint(
    m: np.ndarray, shape: tuple[int, ...], pad: int = 0
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The patch's footprint in an image of `shape` whose pixels `m` (2, 3) takes to the patch, grown by `pad`
    pixels: its box (x0, y0, x1, y1) and the map from box pixels to patch pixels; None where it misses the image."""
    w, h = PATCH_SIZE
    corners = cv2.transform(np.float64([[[0, 0], [w, 0], [0, h], [w, h]]]), cv2.invertAffineTransform(m))[0]
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - pad, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 1 + pad, [shape[1], shape[0]])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    to_box = m.copy()
    to_box[:, 2] += m[:, :2] @ (x0, y0)  # box pixel (x, y) is image pixel (x + x0, y + y0)
    return (int(x0), int(y0), int(x1), int(y1)), to_box


def gated_lines(lines: np.ndarray, brows: tuple[float, float]) -> np.ndarray | None:
    """(h, w) float32: the glabella's lines (`dynamic_lines`) weighed by the frown's change, the forehead's by
    the raised brows' (BROW_GATE, `brow_change` of the AUs as shown: the user's edits act on the lines too); None
    when neither has moved enough."""
    raised, frown = (_gate(b) for b in brows)
    if max(raised, frown) <= 0.0:
        return None
    return (lines[0] * frown + lines[1] * raised).astype(np.float32)


def paint_lines(roi: np.ndarray, lines: np.ndarray, lt_roi: np.ndarray) -> None:
    """In place on `roi` (h, w, 3) uint8: the lines (patch frame) put on the face whose landmarks are `lt_roi`
    (478, 2, roi pixels), kept off its brows and eyes, as a darkening of WRINKLE_GAIN times theirs."""
    m = to_patch(lt_roi)
    if m is None:
        return
    # Only the patch's footprint in the roi is read back (the whole face box was, each frame with lines).
    footprint = _footprint(m, roi.shape)
    if footprint is None:
        return
    (x0, y0, x1, y1), to_box = footprint
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    box = cv2.warpAffine(lines, to_box, (x1 - x0, y1 - y0), flags=flags, borderValue=0.0)
    if not (box < -1e-3).any():
        return
    iod = inter_ocular(lt_roi)
    pts = np.asarray(lt_roi, np.float32)[_PART_POINTS] - np.float32([x0, y0])
    keep = _clear_mask(box.shape, [pts], BROW_CLEAR * iod)
    gain = np.clip(1.0 + WRINKLE_GAIN * box * keep, 0.0, 1.0)[..., None]
    area = roi[y0:y1, x0:x1]
    area[:] = np.clip(area.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)
