"""The eye painter: what the mesh flow cannot draw when an eye closes (a lid over the eye), painted by a small
trained network (training.painter) into each eye's window.

The warp squeezes a closing eye's iris and lashes into a ragged line (a blink of the driver, the AU45 slider
locked at 1). Per eye that closed by more than EYE_CHANGE of the photo's opening, a window around the
eye (EYE_WINDOW pixels, level with the eye's corners, the left eye mirrored so both look alike to the
network) is cut from the warped output, from the photo at the photo's own eye, and the target eye's outline is
drawn as a mask; the network returns a colour and a blend alpha there, and the window is pasted back through
the same affine map. Training (training.painter) cuts its windows with the same functions, so the geometry
has one implementation.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.face.topology import LEFT_IRIS, LEFT_IRIS_CENTER, RIGHT_IRIS, RIGHT_IRIS_CENTER
from realtime.render.draw import column_edges, column_fill, fill_mask, line_mask

log = logging.getLogger(__name__)

EYE_CORNERS: tuple[tuple[int, int], tuple[int, int]] = ((33, 133), (263, 362))
"""(outer, inner) mesh corner of each eye: the subject's right eye (image left), then the left."""
EYE_LOOPS: tuple[tuple[int, ...], tuple[int, ...]] = (
    (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7),
    (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249),
)
"""Each eye's lid loop, in order (upper lid outer -> inner, then lower lid back)."""
UPPER_RINGS: tuple[tuple[int, ...], tuple[int, ...]] = (
    (247, 30, 29, 27, 28, 56, 190),
    (467, 260, 259, 257, 258, 286, 414),
)
"""Each eye's mesh ring just over the upper lid, point for point over EYE_LOOPS[eye][1:8]."""
EYE_WINDOW = (96, 48)
"""(width, height) of the painter's window, pixels."""
WINDOW_SPAN = 1.8
"""The window's width over the eye's corner-to-corner distance."""
EYE_CHANGE = 0.2
"""An eye is painted when its opening (lid area over squared width) fell by more than this share of the
photo's: open eyes that stay open, or open wider, are left exactly as the warp draws them."""
COVER_SHUT = (0.55, 0.85)
"""Without the painter, an eye shut past the first share of the photo's opening has its slit filled from the
lids around it, in full from the second: squeezed into a line 1-3 px high, the photo's iris and white read as a
half-open eye (the teacher saw a fifth of the blink), where a shut eye shows lid skin."""
COVER_LIFT = 0.0
"""The filled area reaches this share of the way from the upper lid to the ring over it. Since the lashes move
whole with a lowered lid (`realtime.render.meshwarp.LASH_STRIP`) and the skin stretched over them is redrawn
(`draw_lid_skin`), only the slit is filled (0): over it lie the photo's own lashes, then lid skin. Before, with the
whole band stretched, the fill reached 0.7 of the way up to cover the smear of stretched lashes over the slit,
and it stood as an oval patch with a drawn rim. Live AU45 r 0.844 -> 0.857 (0.7 -> 0, with LASH's thinner
line)."""
LID_TEXTURE = 0.7
"""The fill's fine detail, taken from the skin under the eye mirrored over the lower lid (the image less its
blur by 0.04 of the eye's width), times this: a fill of two blurred rows was flat, like plaster. Live AU45 r
0.799 -> 0.796."""
COVER_REACH = 0.04
"""Share of the eye's width by which the covered area reaches past the lid loop along the eye (two pixels up and
down, so the blurred edge of the cover does not let the slit's dark rim through): the mesh's eye corners lie
inside the visible ones, and the corners' pink, left beside the cover, drew a light rim round its ends."""
COVER_DARK = 0.8
"""Pixels next to the covered area darker than this share of the skin around it (lashes, lid shadow) are
covered too, not filled from."""
FILL_BLUR = 0.08
"""The lid skin over a shut eye and the lower lid under it are blurred along the eye by this share of its
corner-to-corner width before the fill runs between them (at 2 px, a photo's lashes over the lifted lid line
streaked a wide-open eye's cover; at 5 px on a 60 px eye, none)."""
LASH = (0.06, 0.9)
"""A shut eye's lash line where its lids meet: thickness as a share of the eye's corner-to-corner width (at
least a pixel), and opacity. Lid skin alone read as an eyeless face, to people and to the teacher (which
scored the blink 0.07 of its 0.5 on the driver). Judged against real shut eyes (four clips driving their own
first frame, 13 blink frames: LivePortrait's d0, d11, d13, EDTalk's mouth_source), a shut eye's lashes and
the shadow where the lids meet make a dark line twice as thick as the open eye's lash line: at (0.035, 0.8)
and the open eye's lash colour ours were faint pale strokes round which the lids' outline read as an empty
oval (eye-region error against the real frames 9.9e-3 -> 7.7e-3 at this and LASH_SHADE, run-time mesh; by
`training.evaluation.self_drive`, with GAZE_GAIN's change, 7.83e-3 -> 6.97e-3). Before, a line
of 0.045 over the photo's own lashes had read as a drawn rim to the eye, and (0.025, 0.7) as a blank pale oval."""
LASH_SHADE = 0.8
"""The shut eye's lash line takes the photo's lash colour (`lash_colour`, the open eye's) times this: the lashes
of a shut eye lie bunched in the shadow where the lids meet (see LASH)."""
LID_STRETCH = (1.3, 2.0)
"""An upper lid's skin band (from its lash line to the ring over it) stretched past the first times the photo's
(in proportion to the eye's width) is redrawn as skin (`draw_lid_skin`), in full from the second: stretched, the
photo's lashes and crease run down the lid in streaks, where a lid that comes down shows skin."""
LID_STREAKS = (0.03, 0.25)
"""(share of the eye's width, amount): what a lowered lid's redraw leaves of the warp's lid (its share under
LID_STRETCH's second, and the fade from the ring) is smoothed along the eye by the first (1.5 px at least), in full
where the redraw's amount reaches the second, not by the corners (LID_ENDS: their fades keep the photo's lid, a
socket's shade): a photo's dark upper lashes (face_recognition's rose_leslie img1.jpg, mascara) stretched down a
half-lowered lid (redrawn at 0.68) showed through it as streaks. Along the eye only: the shade from the ring down (a
crease, the socket's shade) is kept."""
LID_FADE = 0.35
"""Share of the lid band, from the ring down, over which the redrawn lid fades in (no edge at the ring)."""
LID_MIRROR_SKIP = 0.08
"""Share of the eye's width under the lower lid skipped before the skin whose tone and grain a lowered lid takes
(`draw_lid_skin`): the lower lid's wet rim and lashes are left out (mirrored, a red rim was a red streak across
the lid)."""
LID_MIRROR_REACH = 0.35
"""Share of the eye's width under it (past LID_MIRROR_SKIP) from which that skin's grain is read (`_mirrored_up`): a lid
stretched four times (a wide-eyed photo's far eye shutting, its head turned and tipped back: the MEAD photo
under the EDTalk clip's last turn) read the skin as deep under the eye as its band is tall, the nose's shadowed
side and a nostril, and showed them as dark streaks over the eye."""
LID_DARK = (0.6, 0.05, 0.15)
"""(darkness, share, share): pixels of the mirrored skin darker than the first times the lid's darker tone (over
its ring, or under the eye) are not skin; with more than the second share of them in the band the redrawn lid
fades out, gone at the third. Against the tone over the ring alone, a photo lit from one side (face-api.js's
sad.jpg: under one eye 88, over its ring 101) had that eye's lid left as the warp's, its lashes and crease
stretched into a dark smudge beside the other eye's drawn lid: one eye read open, the other shut, mid-blink."""
LID_MIRROR_BOUNCE = 0.4
"""Share of LID_MIRROR_REACH down to which a lid taller than the reach is read back (`_mirrored_up`)."""
LID_TONE = 0.05
"""Share of the eye's width over the ring (the lid skin under the brow), and under the eye past LID_MIRROR_SKIP,
whose colours a lowered lid takes at its top and at its bottom (`draw_lid_skin`)."""
LID_TONE_SHARE = 0.5
"""How far a lowered lid's top is taken from the tone of the skin under the eye towards that over its ring (its
bottom takes the skin under the eye's). In full, deep-set eyes' lids took their sockets' shade, and the teacher
read fewer blinks (live AU45 r 0.808 -> 0.778: the Mouth_Source photo under the EDTalk clip 0.48 -> 0.37, the
Dafoe photo under Jamie Oliver's 0.74 -> 0.67); at half, 0.806."""
LID_BOTTOM_SHARE = 0.4
"""How far a lowered lid's bottom, at its lashes, is taken from the tone of the skin under the eye towards that
over its ring. At 0 (the skin under the eye itself), a deep-set eye lit from above (obama2.jpg, dlib's
2008_007676.jpg, the MEAD photo; under the eye 206/138/111, over the ring 74/44/31) shut into a pale oval in the
socket's shade, a blank white-eyed stare at every blink. Live AU45 r the same (0.833), the eyes' opening r
0.791 / 0.790 -> 0.775 / 0.787."""
LID_TONE_BLUR = 0.1
"""Share of the eye's width by which those colours are smoothed along the eye."""
LID_ENDS = 0.12
"""Share of the eye's width, from each corner, over which a lowered lid's redrawn skin fades out."""
LID_EDGE = 0.03
"""Share of the eye's width over which a lowered lid's skin is feathered at its outline."""
LID_LASHES = (0.55, 0.8)
"""Pixels of a lowered lid's band darker than the second share of the redrawn lid's tone there are the photo's
lashes and liner, redrawn whatever the fades (LID_FADE, LID_ENDS) say, in full from the first. Left in the
fades, a made-up eye's long lashes stood as streaks over a shut lid and as a dark mass at its outer corner, which
at a call's size read as an eye open and looking aside (deepface's img42 and img28, Dorsey). A deep-set eye's socket
(0.7-0.8 of the lid's tone) is kept."""
PAINTER_INPUTS = 7
"""warped window (3), photo's eye window (3), the target eye's outline mask (1)."""


def eye_window(landmarks: np.ndarray, eye: int) -> np.ndarray:
    """(2, 3) float64 affine: window pixel -> image pixel for `landmarks` (478, >=2) in that image. Level
    with the eye's corners, outer corner on the window's left (the left eye is mirrored)."""
    outer, inner = (np.asarray(landmarks, np.float64)[i, :2] for i in EYE_CORNERS[eye])
    w, h = EYE_WINDOW
    d = inner - outer
    span = max(float(np.linalg.norm(d)), 1e-3) * WINDOW_SPAN
    u = d / max(float(np.linalg.norm(d)), 1e-6) * span / w  # image px per window px along the eye
    v = np.array([-u[1], u[0]]) if eye == 0 else np.array([u[1], -u[0]])  # downwards in both eyes
    origin = 0.5 * (outer + inner) - u * (w / 2.0) - v * (h / 2.0)
    return np.column_stack([u, v, origin])


def cut_window(image: np.ndarray, window: np.ndarray, crop_scale: float = 1.0) -> np.ndarray:
    """(h, w, C) the image read through a window affine (bilinear, edges replicated).

    `crop_scale`: the image's pixels per aligned-crop pixel. The painter learnt on windows cut from 256-pixel
    crops; a photo whose face is larger gave it sharper windows than it ever saw, and it painted white blotches
    on the lids (the smirk/dafoe photo, 1280x720): such an image is blurred to the crop's detail first."""
    w, h = EYE_WINDOW
    window = np.asarray(window, np.float64)
    if crop_scale > 1.2:
        sigma = 0.5 * crop_scale
        corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) @ window[:, :2].T + window[:, 2]
        pad = int(np.ceil(3 * sigma)) + 2
        x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - pad, 0)
        x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + pad, [image.shape[1], image.shape[0]])
        if x1 - x0 > 2 and y1 - y0 > 2:
            image = cv2.GaussianBlur(image[y0:y1, x0:x1], (0, 0), sigma)
            window = window.copy()
            window[:, 2] -= (x0, y0)
    return cv2.warpAffine(
        image, window, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )


def eye_mask(landmarks: np.ndarray, eye: int, window: np.ndarray) -> np.ndarray:
    """(h, w) float32 in {0, 1}: the eye's lid loop drawn in the window."""
    w, h = EYE_WINDOW
    inv = cv2.invertAffineTransform(window)
    pts = np.asarray(landmarks, np.float64)[list(EYE_LOOPS[eye]), :2] @ inv[:, :2].T + inv[:, 2]
    return fill_mask((h, w), [np.round(pts * 16).astype(np.int32)], 4)


def eye_opening(landmarks: np.ndarray, eye: int) -> float:
    """The lid loop's area over the squared corner distance (scale-free; about 0.1 open, near 0 shut)."""
    pts = np.asarray(landmarks, np.float64)[list(EYE_LOOPS[eye]), :2]
    x, y = pts[:, 0], pts[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    a, b = (pts[0], pts[8])  # the loop's corners
    return area / max(float(np.sum((b - a) ** 2)), 1e-6)


IRIS_CENTRES = (RIGHT_IRIS_CENTER, LEFT_IRIS_CENTER)
"""Each eye's iris centre (EYE_LOOPS order: the subject's right eye, then the left)."""
IRIS_RINGS = (RIGHT_IRIS, LEFT_IRIS)
"""... and the four points round each iris."""


def gaze(landmarks: np.ndarray, eye: int) -> float:
    """Where the eye looks along its width: the iris centre's offset from the middle of the corners, along the
    corner line, as a share of the corners' distance (0 straight ahead; about +-0.2 for a hard sideways look)."""
    pts = np.asarray(landmarks, np.float64)[:, :2]
    a, b = pts[EYE_LOOPS[eye][0]], pts[EYE_LOOPS[eye][8]]
    axis = b - a
    return float((pts[IRIS_CENTRES[eye]] - 0.5 * (a + b)) @ axis) / max(float(axis @ axis), 1e-6)


def painter_input(warped: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(7, h, w) float32 in [0, 1]: the network's input for one eye (training and run time alike)."""
    return np.concatenate(
        [warped.transpose(2, 0, 1) / 255.0, source.transpose(2, 0, 1) / 255.0, mask[None]], axis=0
    ).astype(np.float32)


@dataclass(frozen=True)
class PaintedEye:
    rgb: np.ndarray
    """(h, w, 3) float32 0-255 in the window."""
    alpha: np.ndarray
    """(h, w) float32 in [0, 1]."""


class EyePainter:
    """ONNX Runtime session over eye_painter.onnx: `paint((N, 7, h, w)) -> [PaintedEye] * N`."""

    def __init__(self, onnx_path: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # a few small convolutions: threads cost more than they give
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        w, h = EYE_WINDOW
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        edge = np.minimum(np.minimum(xs, w - 1 - xs), np.minimum(ys, h - 1 - ys))
        self._feather = np.clip(edge / 4.0, 0.0, 1.0)
        """(h, w): alpha fades to 0 over the window's last 4 pixels, so no window edge can show."""

    def paint(self, x: np.ndarray) -> list[PaintedEye]:
        out = self._session.run(None, {"eyes": np.ascontiguousarray(x, np.float32)})[0]  # (N, 4, h, w)
        return [PaintedEye(o[:3].transpose(1, 2, 0) * 255.0, o[3] * self._feather) for o in out]


def load_eye_painter(weights_dir: Path) -> EyePainter | None:
    """The shipped painter, or None (logged) where the folder has none: the warp alone draws the eyes."""
    path = Path(weights_dir) / "eye_painter.onnx"
    if not path.is_file():
        log.info("no %s: eyes are drawn by the warp alone", path)
        return None
    return EyePainter(path)


def lash_colour(photo: np.ndarray, loop: np.ndarray) -> np.ndarray:
    """(3,) float32: the photo's lash colour, the darkest third of its pixels along the upper lid of an eye's
    lid loop (16, 2) (photo pixels, EYE_LOOPS order), one to three pixels above it (the lashes, not the iris)."""
    lid = np.asarray(loop, np.float64)[:9]  # corner, upper lid, corner
    steps = np.linspace(0.0, 1.0, 8, endpoint=False)
    pts = np.concatenate([a + steps[:, None] * (b - a) for a, b in itertools.pairwise(lid)])
    pts = np.concatenate([pts - (0.0, dy) for dy in (1.0, 2.0, 3.0)])
    h, w = photo.shape[:2]
    xy = np.clip(np.round(pts).astype(int), 0, [w - 1, h - 1])
    vals = photo[xy[:, 1], xy[:, 0]].astype(np.float32)  # (N, 3)
    lum = vals.mean(1)
    return vals[lum <= np.percentile(lum, 33)].mean(0)


def _lid_curve(points: np.ndarray, samples: int = 24) -> np.ndarray:
    """(samples, 2) a smooth arc through a lid's points from corner to corner: a parabola fitted across the
    corners' axis (ends on the corners). The mesh's points of a shut lid zigzag by a pixel or two, and even
    smoothed by corner cutting the lash line drawn along them read as a jagged stroke (the Acosta photo)."""
    c0, c1 = points[0], points[-1]
    width = max(float(np.linalg.norm(c1 - c0)), 1e-6)
    u = (c1 - c0) / width
    v = np.array([-u[1], u[0]])
    t = (points - c0) @ u / width
    d = (points - c0) @ v
    coef = np.polyfit(t, d, 2) if len(points) >= 3 else np.array([0.0, 0.0, 0.0])
    ts = np.linspace(0.0, 1.0, samples)
    ds = np.polyval(coef, ts) - (1.0 - ts) * np.polyval(coef, 0.0) - ts * np.polyval(coef, 1.0)
    return c0 + np.outer(ts * width, u) + np.outer(ds, v)


def _mirrored_up(
    image: np.ndarray, axis: np.ndarray, ys: np.ndarray, xs: np.ndarray, skip: int = 0, reach: int = 0
) -> np.ndarray:
    """(N, C) `image`'s pixels mirrored up onto the pixels (`ys`, `xs`) from under the mask `axis` (h, w) bool,
    column by column, about its lowest row (then `skip` rows further down): the skin under an eye, for what
    covers it. `reach` > 0: read no deeper than that many rows under it; a taller column is mirrored back and forth
    between the reach and LID_MIRROR_BOUNCE of it, never back to the rows just under the lower lid (mirrored all
    the way back, they drew the turned Dafoe photo's red lower rim as a V over its far lid; squeezed into the
    reach instead, a shut lid took the bag's shadow near its lashes and the teacher saw a fifth fewer blinks)."""
    bottom = _bottom_rows(axis)
    depth = np.maximum(bottom[xs] - ys, 0)  # rows over the mask's bottom
    if reach > 0:
        low = round(LID_MIRROR_BOUNCE * reach)  # past the reach, mirrored back and forth between it and this
        span = max(reach - low, 1)
        past = np.maximum(depth - low, 0) % (2 * span)
        depth = np.where(depth > reach, low + span - np.abs(span - past), depth)
    return image[np.clip(bottom[xs] + skip + depth, 0, len(image) - 1), xs]


def _bottom_rows(mask: np.ndarray) -> np.ndarray:
    """(w,) the row just under a mask (h, w) bool, per column (h where a column is empty)."""
    return len(mask) - np.argmax(mask[::-1], 0)


def _along_eye(xs: np.ndarray, ys: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """Where the pixels (`xs`, `ys`) lie along an eye, from its corner `c0` (0) to its corner `c1` (1)."""
    d = np.asarray(c1, np.float64) - np.asarray(c0, np.float64)
    return ((xs - c0[0]) * d[0] + (ys - c0[1]) * d[1]) / max(float(d @ d), 1e-6)


def corners_down(c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """(2,) the normal of the line through an eye's corners `c0`, `c1` that points down the image (y down), as long
    as the corners are apart."""
    span = np.asarray(c1, np.float64) - np.asarray(c0, np.float64)
    normal = np.array([-span[1], span[0]])
    return -normal if normal[1] < 0 else normal


def under_corners(points: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """(N,) how far each of `points` (N, 2) lies under the line through an eye's corners `c0`, `c1` (image y
    down: over it is negative), in the corners' distance."""
    down = corners_down(c0, c1)
    width2 = max(float(down @ down), 1e-12)
    return (np.asarray(points, np.float64) - np.asarray(c0, np.float64)) @ down / width2


def _mirrored_grain(
    flat: np.ndarray,
    m: np.ndarray,
    width: float,
    ys: np.ndarray | None = None,
    xs: np.ndarray | None = None,
    skip: int = 0,
    reach: int = 0,
) -> np.ndarray:
    """(N, 3) float32: for the pixels (`ys`, `xs`) (default: those of mask `m` (h, w), in np.nonzero order), the
    fine detail of `flat` (h, w, 3) float32 (the image less its blur by 0.04 of the eye's `width`) mirrored up
    from under the mask in their column (`_mirrored_up`, `skip`, `reach`): skin grain for a fill that would be
    flat, like plaster."""
    if ys is None or xs is None:
        ys, xs = np.nonzero(m)
    detail = flat - cv2.GaussianBlur(flat, (0, 0), max(1.0, 0.04 * width))
    return _mirrored_up(detail, m, ys, xs, skip, reach)


def lid_stretch(ls: np.ndarray, lt: np.ndarray, lash_s: np.ndarray, lash_t: np.ndarray, eye: int) -> float:
    """How many times taller an upper lid's band (from its lash line, `lash_s` / `lash_t` (9, 2), to the ring
    over it, UPPER_RINGS) is made in the landmarks `lt` than in `ls` (478, 2) by its lash line coming down over
    the eye (in proportion to the eye's width, from the line through its corners). Raised brows take the ring
    up and stretch the band too, but they uncover the lid, not draw it down: counted, a surprised driver (the
    MEAD M024 clip) and the AU01 + AU02 sliders had deepface img22's lids redrawn as pale skin with a drawn rim
    under a second crease (goggles)."""
    ring = list(UPPER_RINGS[eye])
    outer, inner = EYE_LOOPS[eye][0], EYE_LOOPS[eye][8]
    band_s = float(np.mean(np.linalg.norm(ls[ring] - lash_s[1:8], axis=1)))
    width_s = float(np.linalg.norm(ls[inner] - ls[outer]))
    drop = float(  # eye widths, + down
        np.mean(under_corners(lash_t[1:8], lt[outer], lt[inner]))
        - np.mean(under_corners(lash_s[1:8], ls[outer], ls[inner]))
    )
    return 1.0 + max(drop, 0.0) * width_s / max(band_s, 1e-6)


def draw_lid_skin(
    image: np.ndarray,
    lash: np.ndarray,
    ring: np.ndarray,
    loop: np.ndarray,
    amount: float,
    grain: float = 1.0,
) -> None:
    """In place: an upper lid's band, between its lash line `lash` (9, 2: corner, 7 points, corner) and the ring
    over it `ring` (7, 2, UPPER_RINGS), image pixels, redrawn as skin: column by column, in a tone going from
    between the skin's over the ring and the skin's under the eye (`loop` (16, 2): its lid loop, EYE_LOOPS order;
    LID_TONE, LID_MIRROR_SKIP) at its top (LID_TONE_SHARE) to nearer the latter at its lashes (LID_BOTTOM_SHARE),
    with the grain of the skin under the eye mirrored up over it (times `grain`, 0-1: a turned head's far eye
    takes none, `realtime.render.eye_paint.FAR_SEEN`); blended in by `amount` (0-1), faded in from the ring
    (LID_FADE) and feathered inside its outline (LID_EDGE)."""
    lash = np.asarray(lash, np.float64)
    ring = np.asarray(ring, np.float64)
    loop = np.asarray(loop, np.float64)
    poly = np.vstack([lash, ring[::-1]])
    width = float(np.linalg.norm(lash[-1] - lash[0]))
    h, w = image.shape[:2]
    both = np.vstack([poly, loop])
    tone = max(2, round(LID_TONE * width))
    x0 = max(int(np.floor(both[:, 0].min())) - 3, 0)
    y0 = max(int(np.floor(both[:, 1].min())) - 3 - tone, 0)  # room over the ring for the lid's tone
    x1 = min(int(np.ceil(both[:, 0].max())) + 4, w)
    # Room under the eye for the skin mirrored up over it.
    tall = int(np.ceil(both[:, 1].max() - both[:, 1].min() + LID_MIRROR_SKIP * width)) + 4
    y1 = min(int(np.ceil(both[:, 1].max())) + 4 + tall, h)
    if amount <= 0.0 or x1 - x0 < 4 or y1 - y0 < 4:
        return
    patch = image[y0:y1, x0:x1]
    shape = patch.shape[:2]
    cover = fill_mask(shape, [np.round((poly - (x0, y0)) * 16).astype(np.int32)], 4)
    eye = fill_mask(shape, [np.round((loop - (x0, y0)) * 16).astype(np.int32)], 4) > 0.0
    m = cover > 0.0
    if not m.any():
        return
    flat = patch.astype(np.float32)
    top, bottom, _, _ = column_edges(flat, m, 0.0)
    ys, xs = np.nonzero(m)
    s = np.clip((ys - top[xs]) / np.maximum(bottom - top, 1)[xs], 0.0, 1.0)  # 0 ring, 1 lashes
    # The lid's tone, column by column, from the skin just over the ring down to the skin under the eye (past its
    # lower rim): it meets the skin round it at both ends, as a lid does. The skin under the eye mirrored up as
    # it was, or taken half way to the tone over the ring, stood as a pale oval ringed by the socket on most
    # photos (LivePortrait's s11 and t1, Einstein, PRNet's 4.jpg).
    around = eye | m
    under_eye = _bottom_rows(around)  # the row just under the eye, per column
    skip = round(LID_MIRROR_SKIP * width)
    cols = np.flatnonzero(m.any(0))
    rows = np.arange(tone)[:, None]
    over = flat[np.clip(top[cols][None, :] - rows, 0, shape[0] - 1), cols[None, :]].mean(0)  # (C, 3)
    under = flat[np.clip(under_eye[cols][None, :] + skip + rows, 0, shape[0] - 1), cols[None, :]].mean(0)
    sigma = max(1.0, LID_TONE_BLUR * width)
    ends = np.zeros((2, shape[1], 3), np.float32)
    ends[:, cols] = cv2.GaussianBlur(np.stack([over, under]).astype(np.float32), (0, 0), sigma, sigmaY=1e-3)
    t = np.clip((ys - top[xs]) / np.maximum(under_eye[xs] + skip - top[xs], 1), 0.0, 1.0)[:, None]
    fill = flat.copy()
    ends[:] = ends[1] + np.array([LID_TONE_SHARE, LID_BOTTOM_SHARE], np.float32)[:, None, None] * (
        ends[0] - ends[1]
    )
    fill[ys, xs] = (1.0 - t) * ends[0, xs] + t * ends[1, xs]
    lum = flat[ys, xs].mean(1) / np.maximum(fill[ys, xs].mean(1), 1.0)  # before the grain: the tone alone
    # Its grain: the fine detail of the skin under the eye, mirrored up over it (a flat fill read as plaster).
    reach = max(2, round(LID_MIRROR_REACH * width))
    mirrored = _mirrored_up(flat, around, ys, xs, skip, reach)
    if grain > 0.0:
        fill[ys, xs] += grain * LID_TEXTURE * _mirrored_grain(flat, around, width, ys, xs, skip, reach)
    # Not skin under the eye (a nostril, the nose's shadowed side: a turned face tipped back): the warp's own lid
    # is left, its lashes streaked, rather than dark blots mirrored over the eye.
    darker = np.minimum(over.mean(1), under.mean(1))  # the darker of the lid's two tones (LID_DARK)
    dark = float(np.mean(mirrored.mean(1) < LID_DARK[0] * np.maximum(darker, 1.0).mean()))
    amount *= float(np.clip((LID_DARK[2] - dark) / (LID_DARK[2] - LID_DARK[1]), 0.0, 1.0))
    if amount <= 0.0:
        return
    a = np.zeros(shape, np.float32)
    # Faded in from the ring, and out towards the corners (its ends stood as short vertical edges).
    along = _along_eye(xs, ys, lash[0] - (x0, y0), lash[-1] - (x0, y0))
    fade_ends = np.clip(np.minimum(along, 1.0 - along) / LID_ENDS, 0.0, 1.0)
    a[ys, xs] = np.clip(s / LID_FADE, 0.0, 1.0) * fade_ends
    # The photo's lashes and liner in those fades are redrawn all the same (LID_LASHES), their soft rims with them.
    lashes = np.zeros(shape, np.float32)
    lashes[ys, xs] = np.clip((LID_LASHES[1] - lum) / (LID_LASHES[1] - LID_LASHES[0]), 0.0, 1.0)
    lashes = cv2.dilate(lashes, np.ones((3, 3), np.uint8)) * (cover > 0.0)
    a = np.maximum(a, lashes)
    # Feathered inside the band's outline too (it stood as an edge round the lid).
    soft = max(1.0, LID_EDGE * width)
    a = cv2.GaussianBlur(a * cover, (0, 0), soft)[..., None] * float(min(amount, 1.0))
    # What is left of the warp's lid is smoothed along the eye (LID_STREAKS): its stretched lashes ran down the lid
    # as streaks, its shading from the ring down (a crease, the socket's shade) is kept.
    blur, full = LID_STREAKS
    if blur > 0.0:
        smoothed = cv2.GaussianBlur(flat, (0, 0), max(1.5, blur * width), sigmaY=1e-3)[ys, xs]
        flat[ys, xs] += (fade_ends * min(amount / full, 1.0))[:, None] * (smoothed - flat[ys, xs])
    patch[:] = np.clip(flat * (1.0 - a) + fill * a + 0.5, 0, 255).astype(np.uint8)


def cover_lids(
    image: np.ndarray,
    loop: np.ndarray,
    ring: np.ndarray,
    amount: float,
    lash: np.ndarray | None = None,
) -> None:
    """In place: an eye filled from the lid skin over it and the lower lid under it (`realtime.render.draw.column_fill`),
    with the skin's fine detail from under the eye (LID_TEXTURE), a lash line drawn where the lids meet (`lash`:
    its colour; None: none), blended in by `amount` (0-1).

    `loop` (16, 2): the eye's lid loop (EYE_LOOPS order), `ring` (7, 2): the ring over its upper lid
    (UPPER_RINGS), image pixels. The filled area is the loop with its upper lid lifted by COVER_LIFT towards
    the ring, and a pixel beyond."""
    poly = np.array(loop, np.float64)
    width = float(np.linalg.norm(poly[8] - poly[0]))
    poly[1:8] += COVER_LIFT * (np.asarray(ring, np.float64) - poly[1:8])
    h, w = image.shape[:2]
    tall = int(np.ceil(poly[:, 1].max() - poly[:, 1].min()))  # room under the eye for the mirrored detail
    x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int) - 6, 0)
    x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int) + 7 + tall, [w, h])
    if amount <= 0.0 or x1 - x0 < 4 or y1 - y0 < 4:
        return
    amount = float(min(amount, 1.0))
    patch = image[y0:y1, x0:x1]
    drawn = np.zeros(patch.shape[:2], np.uint8)
    cv2.fillPoly(drawn, [np.round((poly - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_8, 4)
    reach = max(1, round(COVER_REACH * width))
    mask = cv2.dilate(drawn, np.ones((5, 2 * reach + 1), np.uint8))
    # Lashes and lid shadow at the area's edge are taken in too: filled from, they greyed a shut eye into a
    # smudge (a small photo's eye, a dark lash line all round it).
    lum = patch.astype(np.float32).mean(2)
    around = (cv2.dilate(mask, np.ones((9, 9), np.uint8)) > 0) & (mask == 0)
    if around.any():
        skin_lum = float(np.percentile(lum[around], 60))  # the skin around, lashes left out
        near = cv2.dilate(mask, np.ones((5, 5), np.uint8)) > 0
        mask[near & (lum < COVER_DARK * skin_lum)] = 255
    # Filled down its columns: Telea inpainting, the fill before, grew the area in from all round, and a dark
    # crease at one end of a deep-set eye spread into a smudge that read as an open eye beside a shut one (the
    # Acosta photo under the DaGAN clip: the teacher saw one eye shut and the other open in 27 of its 73 shut
    # frames), and two sides met in a seam.
    out = column_fill(patch, mask, FILL_BLUR * width)
    m = mask > 0
    ys, xs = np.nonzero(m)
    flat = patch.astype(np.float32)
    out[ys, xs] += LID_TEXTURE * _mirrored_grain(flat, m, width)
    a = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 1.2)[..., None] * amount
    out = flat * (1.0 - a) + out * a
    if lash is not None:
        lid = _lid_curve(np.asarray(loop, np.float64)[:9] - (x0, y0))
        line = line_mask(
            patch.shape[:2], np.round(lid * 16).astype(np.int32), max(1, round(LASH[0] * width)), 4
        )
        # Fading out towards the corners, as lashes do (an even line read as drawn on).
        py, px = np.indices(line.shape)
        t = _along_eye(
            px, py, np.asarray(loop[0], np.float64) - (x0, y0), np.asarray(loop[8], np.float64) - (x0, y0)
        )
        taper = np.sqrt(np.clip(np.sin(np.pi * np.clip(t, 0.0, 1.0)), 0.0, 1.0)).astype(np.float32)
        la = (cv2.GaussianBlur(line, (0, 0), 0.5) * taper)[..., None] * (LASH[1] * amount)
        out = out * (1.0 - la) + np.asarray(lash, np.float32) * LASH_SHADE * la
    patch[:] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
