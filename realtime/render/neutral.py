"""A photo's face at the driver's rest, in relative motion: its expression taken out, its identity kept.

Relative motion adds the driver's change to the photo as it is, so a photo caught grinning grinned through
the whole call, one caught saying "oh" kept an "O" whatever the driver's lips did, and the driver's smile
had nothing left to move (a photo at AU12 0.93 follows a smile with r 0.49, the teacher reading 0.15 of the
driver's change). At rest the photo is taken to a neutral face in two steps:

1. what the AUs name, along the AU basis (training.au.basis, the free fit): raised brows (AU01, AU02) above
   PHOTO_REST_BROW taken down to it on the upper face, wide eyes (AU05 above PHOTO_REST_LID) lowered to a
   resting opening (`lids_to_rest`), each mouth AU above PHOTO_REST_SHAPE taken down to it
   (the smile, the raised upper lip, the stretched or pressed lips), then the parted lips shut to where they
   meet (`realtime.render.mouth.shut_mouth`);
2. what they do not name (a pucker, a funnel, a smirk's twist), on the lips alone: their shape projected onto
   how resting lips differ across people (lip_shape.npy, training.au.shape), the rest taken out, and the
   lips' neighbours moved with them, fading out by LIP_REACH.
"""

from __future__ import annotations

import numpy as np

from realtime.face import topology as topo
from realtime.face.types import AU, AU_ORDER
from realtime.render.landmark_transfer import LID_PAIRS, lid_gaps
from realtime.render.mouth import INNER_LOWER, INNER_UPPER, shut_mouth

MOUTH_SHAPE = [AU_ORDER.index(a) for a in (AU.AU10, AU.AU12, AU.AU14, AU.AU15, AU.AU17, AU.AU20, AU.AU23)]
LIPS_APART = [AU_ORDER.index(AU.AU25), AU_ORDER.index(AU.AU26)]
BROWS_RAISED = [AU_ORDER.index(AU.AU01), AU_ORDER.index(AU.AU02)]
PHOTO_REST_BROW = 0.15
"""Brow-raiser intensity (AU01, AU02) a photo is taken down to at the driver's rest: a surprised photo kept its
raised brows through a driver's frown. Only the raisers: the brow lowerer and the lid tightener
(AU04, AU07) read 0.25-0.65 on resting photos (deep-set eyes, heavy brows), identity rather than expression."""
CORNER_FLOOR = -0.04
"""Mouth-corner lift (the lips' middle height less the corners', frontal frame, unit eye-corner distance) below
which a photo's mouth is taken to be turned down by expression, and is lifted to it at rest along the AU15 row:
the 2nd percentile of the dataset's 2433 photos (median +0.012). The AU head reads the lip corner depressor
weakly on photos: the d8 photo's pout (-0.077, below every photo of the dataset) read AU15 0.04, the teacher
0.39, and its mouth kept the pout through a laughing driver. Acosta's mouth, turned down at rest (-0.034, his
own), is left as it is."""
FOREHEAD_REST = 0.3
"""How far `neutral_rest` lowers a photo's brow raisers (AU01, AU02, the most of them) for its forehead creases to
be taken out in full at rest (`forehead_strength`, `realtime.render.wrinkles.rest_forehead`); in proportion below."""
FOLD_REST = 0.4
"""How far `neutral_rest` lowers a photo's smile (AU12) for its cheeks' folds to be flattened in full at rest
(`fold_strength`, `realtime.render.folds.rest_folds`); in proportion below."""
NOSE_TIP = 1
INNER_UPPER_MID = 13
OUTER_UPPER_MID = 0
LIDS_RAISED = AU_ORDER.index(AU.AU05)
PHOTO_REST_LID = 0.05
"""Upper-lid-raiser intensity (AU05) above which a photo's eyes are wide by expression, not by nature, and are
taken to REST_EYE_GAP: resting photos read 0-0.04; the MEAD surprised photo 0.11, its eyes a stare, white all
round the irises, through the whole call."""
REST_EYE_GAP = 0.066
"""Mean opening (`lid_gaps`, inter-ocular units) a wide eye is lowered to: 1.1 times the mean face's (0.060,
mean_face.npy). The MEAD surprised photo's eyes open 0.082 and 0.076."""
PHOTO_REST_SHAPE = 0.1
"""Mouth-shape AU intensity a photo is taken down to at the driver's rest (a resting face reads 0-0.1)."""
PHOTO_REST_OPEN = 0.1
"""Lips-apart AU intensity (AU25, AU26) a photo's mouth is shut to at the driver's rest."""
PHOTO_REST_JAW = 0.2
"""A photo whose jaw is dropped (AU26 above this) is shut at rest even when no mouth-shape AU is taken out."""
DRIVER_REST_OPEN = 0.05
"""Lips-apart intensity (AU25, AU26) above which the driver's neutral is shut (`neutral_rest(driver=True)`):
below the data's median (0.11, 0.05), above its tenth percentile (0.005, 0.002)."""
DRIVER_SHUT_STRETCH = 2.5
"""The most the AU basis' closing of a driver's parted lips (`shut_mouth`) is scaled up towards where they meet, in
its neutral: the AU head reads parted lips weakly, and stopped where the rows took them, a laughing driver's
neutral kept its lips apart, and took the photo's opening down by as much (EDTalk's expression clip driving its own
first frame: 0.218 of the eyes' distance where the real one opened 0.282; 0.235 with this). Not to meet them
whatever: where no lips-apart AU is read (a slit at rest), the rows do not move them, and scaled to meet them the
rest of the rows came along a hundredfold (LivePortrait's d11: its eyes' self-driving error 5.9e-3 -> 8.9e-3).
Self-driving mouth error 12.34e-3 -> 11.43e-3; 9-pair live pose r 0.887 -> 0.890, AU26 0.845 -> 0.849, AU12 0.793
-> 0.794, flicker 2.429 -> 2.448."""
LIP_PRIOR = 10.0
"""Ridge weight of the lip-shape fit, in units of the smallest kept component's variance: how strongly an
unusual lip shape is read as expression rather than identity. At 1 a pursed "O" stayed pursed; at 10 it
opens towards resting lips, and the lips of resting press photos (Einstein, Trump) do not move."""
LIP_REACH = 0.25
"""Inter-ocular distance from the lips over which their neighbours' share of the lips' correction fades to 0."""
SUBNASALE = 2
UPPER_LIP_REST = (0.226, 0.06)
"""(the mean face's height from under the nose (point 2) down to the upper lip's inner edge (13), inter-ocular units
(mean_face.npy); how much further down than that, or than the photo's own, a photo's upper lip may come at rest).
The upper lip hangs from the upper jaw: a mouth shuts by the jaw coming up. The Dafoe photo's open grin (its
opening 0.27, read as parted lips, AU25 0.89, with little jaw drop, AU26 0.08) was shut with its upper lip brought
half way down, 0.13 below the photo's: 0.34 from the nose where faces measure 0.23, a long snout over a pout. At
0.03 its two live pairs lost AU12 r (0.58 -> 0.41 under the DaGAN clip) for AU45 (0.62 -> 0.74 under Jamie
Oliver's); at 0.06 the 9-pair means are level (AU12 0.770 -> 0.758, AU45 0.803 -> 0.820, mouth width r 0.697 ->
0.719) and most of the snout is gone."""
UPPER_LIP_SIDE = (1.0, 2.0)
"""Across the face, in half mouth-widths from its middle: the mouth shut higher moves the lips and chin in full up to
the first, fading out by the second (the jaw's corners stay where they are)."""


def neutral_rest(
    canonical: np.ndarray,
    aus: np.ndarray,
    basis: np.ndarray,
    lip_shape: np.ndarray | None,
    keep: bool = False,
    driver: bool = False,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The motion (478, 3) that takes a face in its frontal frame (`canonical`, AUs `aus` (17,)) to rest, and
    its AUs then (17,); None where there is nothing to take out. Along the AU basis' free fit `basis` (17, 478,
    3): a smile's row carries what comes with a smile in the data (the cheeks, the lids) and takes it out with
    it; along the sliders' one-region rows instead, a grin taken out left a pressed, stretched mouth. Then the
    rest of the lips' shape by `lip_shape` (None: not). `keep`: only a dropped jaw is shut (--keep-expression;
    a photo caught mid-word still gaped through the whole call, live AU26 r 0.24).

    `driver`: the driver's neutral from frames nobody said were at rest (realtime.stages.driving): lips parted
    by more than DRIVER_REST_OPEN are shut whatever else the face does (its next words then open the photo's
    mouth from the first frame), not only with a mouth-shape AU or a dropped jaw; its eyes are left to the
    driving stage (its wide eyes may be its own; its shut ones are opened there); and its lips are taken to
    resting lips across only (a pucker's narrow lips widened), not up or down. In full, the resting lips lifted
    a held-out driver's low mouth corners (the PC-AVS 681600002 clip), its photo's corners sank by as much for
    the whole clip, and the teacher read no smile on it (AU12 r 0.71 -> 0.00; 9-pair live AU12 0.787 -> 0.673).
    Across only, the MEAD W023 clip's pursed start no longer narrows the photo's mouth at the driver's rest
    (AU12 r 0.61 / 0.68 -> 0.80 / 0.81 on two photos), and that held-out pair keeps 0.79."""
    shape = np.zeros_like(canonical, dtype=np.float32)
    out = np.asarray(aus, np.float32).copy()
    excess = np.zeros(len(MOUTH_SHAPE)) if keep else np.maximum(out[MOUTH_SHAPE] - PHOTO_REST_SHAPE, 0.0)
    if not keep and not driver:
        # A mouth turned down past nearly every face's, read from its shape (`_corners_down`), not its AUs.
        excess[_AU15_IN_SHAPE] = max(float(excess[_AU15_IN_SHAPE]), _corners_down(canonical, basis))
    if excess.max() > 0:
        shape -= np.tensordot(excess, basis[MOUTH_SHAPE], axes=1).astype(np.float32)
        out[MOUTH_SHAPE] = np.minimum(out[MOUTH_SHAPE], PHOTO_REST_SHAPE)
    raised = np.zeros(len(BROWS_RAISED)) if keep else np.maximum(out[BROWS_RAISED] - PHOTO_REST_BROW, 0.0)
    if raised.max() > 0:
        # On the upper face only: the rows also carry the mouth that opens with surprise in the data, and the
        # mouth is taken to rest by its own AUs below.
        lowered = np.tensordot(raised, basis[BROWS_RAISED], axes=1) * upper_face(canonical)[:, None]
        shape -= lowered.astype(np.float32)
        out[BROWS_RAISED] = np.minimum(out[BROWS_RAISED], PHOTO_REST_BROW)
    if not keep and not driver and out[LIDS_RAISED] > PHOTO_REST_LID:
        shape += lids_to_rest(canonical + shape)
        out[LIDS_RAISED] = PHOTO_REST_LID
    if driver or excess.max() > 0 or out[LIPS_APART[1]] > PHOTO_REST_JAW:
        # The driver's stopped where the lips meet, scaled towards meeting them by DRIVER_SHUT_STRETCH at most.
        at_rest = DRIVER_REST_OPEN if driver else PHOTO_REST_OPEN
        lips_open = np.maximum(out[LIPS_APART] - at_rest, 0.0)
        stretch = DRIVER_SHUT_STRETCH if driver else np.inf
        shape += shut_mouth(canonical + shape, lips_open, basis[LIPS_APART], stretch)
        out[LIPS_APART] = np.minimum(out[LIPS_APART], at_rest)
    if lip_shape is not None and not keep:
        lips = lips_to_rest(canonical + shape, lip_shape)
        if driver:
            lips[:, 1:] = 0.0  # across only: a driver's resting corners are its own (see the docstring)
        shape += lips
    if not driver:
        shape += upper_lip_kept(canonical, shape)
    if not np.abs(shape).max() > 1e-4:
        return None
    return shape, out


def forehead_strength(aus: np.ndarray, rest_aus: np.ndarray) -> float:
    """How much of a photo's forehead creases to take out at rest (0-1): how far `neutral_rest` lowered its raised
    brows (the most of AU01 and AU02), over FOREHEAD_REST. The creases of raised brows stayed on the forehead of
    the MEAD M024 photo (surprised) after its brows were lowered."""
    return _lowered(aus, rest_aus, BROWS_RAISED, FOREHEAD_REST)


def fold_strength(aus: np.ndarray, rest_aus: np.ndarray) -> float:
    """How much of a photo's smile folds to flatten at rest (0-1): how far `neutral_rest` lowered its smile (AU12),
    over FOLD_REST."""
    return _lowered(aus, rest_aus, [AU_ORDER.index(AU.AU12)], FOLD_REST)


def _lowered(aus: np.ndarray, rest_aus: np.ndarray, which: list[int], full: float) -> float:
    """The most `neutral_rest` lowered these AUs of a photo (its AUs (17,) less those at rest; nothing under
    --keep-expression), over `full`, in 0-1."""
    lowered = np.asarray(aus, np.float32)[which] - np.asarray(rest_aus, np.float32)[which]
    return float(np.clip(float(lowered.max()) / full, 0.0, 1.0))


_AU15_IN_SHAPE = MOUTH_SHAPE.index(AU_ORDER.index(AU.AU15))
_CORNERS = [61, 291]
LIPS_MIDDLE = (13, 14)
"""Mesh points of the inner lips' middles, upper and lower."""


def corner_lift(face: np.ndarray) -> float:
    """The lips' middle height less their corners' (frontal frame, y down): above 0, corners higher."""
    y = np.asarray(face, np.float64)[:, 1]
    return float(y[list(LIPS_MIDDLE)].mean() - y[_CORNERS].mean())


def _corners_down(face: np.ndarray, basis: np.ndarray) -> float:
    """How much AU15 (0-1) to take out of `face` to lift its mouth corners to CORNER_FLOOR; 0 above it."""
    drop = CORNER_FLOOR - corner_lift(face)
    per_unit = -corner_lift(basis[AU_ORDER.index(AU.AU15)])  # the row's corners sink by this per unit
    if drop <= 0.0 or per_unit <= 1e-6:
        return 0.0
    return float(min(drop / per_unit, 1.0))


def lids_to_rest(face: np.ndarray) -> np.ndarray:
    """(478, 3) the motion that lowers each upper lid of `face` (frontal frame) whose eye opens wider than
    REST_EYE_GAP on average to that opening, the same share at every point across the eye."""
    out = np.zeros(np.shape(face), np.float32)
    for eye, gaps in zip(LID_PAIRS, lid_gaps(face), strict=True):
        mean = float(gaps.mean())
        if mean > REST_EYE_GAP:
            out[[up for up, _ in eye], 1] = gaps * (1.0 - REST_EYE_GAP / mean)  # y down: the lid comes down
    return out


def upper_face(face: np.ndarray) -> np.ndarray:
    """(478,) 1 at and above the eyes (frontal frame, y down), fading to 0 at the nose tip."""
    y = np.asarray(face, np.float64)[:, 1]
    eyes = float(y[list(topo.LEFT_EYE + topo.RIGHT_EYE)].mean())
    return np.clip((y[NOSE_TIP] - y) / max(y[NOSE_TIP] - eyes, 1e-6), 0.0, 1.0)


def lips_to_rest(face: np.ndarray, lip_shape: np.ndarray) -> np.ndarray:
    """(478, 3) the motion that takes the lips of `face` (frontal frame) to the nearest resting lips of the
    model (`lip_shape`: the mean, then the components times their standard deviation), with their neighbours."""
    lips = list(topo.LIPS)
    x = face[lips].astype(np.float64).reshape(-1)
    mean = lip_shape[0].astype(np.float64).reshape(-1)
    comps = lip_shape[1:].astype(np.float64).reshape(len(lip_shape) - 1, -1)
    a = np.linalg.solve(
        comps @ comps.T + LIP_PRIOR * _noise(lip_shape) * np.eye(len(comps)), comps @ (x - mean)
    )
    move = (mean + a @ comps - x).reshape(-1, 3)
    weight, nearest = _reach(face)
    out = (weight[:, None] * move[nearest]).astype(np.float32)
    out[lips] = move
    # Never part the lips: resting lips in the data are a little apart on average (speech at rest), and the
    # mean's gap drew a dark slit into a mouth the AUs' step had just shut.
    opening = float(np.mean(out[INNER_LOWER, 1] - out[INNER_UPPER, 1]))
    if opening > 0:
        out[INNER_UPPER, 1] += opening / 2
        out[INNER_LOWER, 1] -= opening / 2
    return out


def upper_lip_kept(canonical: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """(478, 3) the motion that lifts a shut mouth whose upper lip the `shape` brought further down from the nose than
    UPPER_LIP_REST allows (below the longer of the photo's and the mean face's by its second number) back to that:
    the lips and everything under them between the nose and the chin, the middle of the face in full
    (UPPER_LIP_SIDE), so the jaw closes higher. Nothing where the upper lip stays within it."""
    rest = np.asarray(canonical, np.float64) + shape
    face = np.asarray(canonical, np.float64)
    own = float(face[INNER_UPPER_MID, 1] - face[SUBNASALE, 1])
    drop = float(rest[INNER_UPPER_MID, 1] - rest[SUBNASALE, 1]) - (
        max(own, UPPER_LIP_REST[0]) + UPPER_LIP_REST[1]
    )
    out = np.zeros(np.shape(canonical), np.float32)
    if drop <= 0.0:
        return out
    top, lip = float(rest[SUBNASALE, 1]), float(rest[OUTER_UPPER_MID, 1])
    down = np.clip((rest[:, 1] - top) / max(lip - top, 1e-6), 0.0, 1.0)
    middle = 0.5 * float(rest[topo.MOUTH_LEFT, 0] + rest[topo.MOUTH_RIGHT, 0])
    half = max(0.5 * abs(float(rest[topo.MOUTH_LEFT, 0] - rest[topo.MOUTH_RIGHT, 0])), 1e-6)
    near, far = UPPER_LIP_SIDE
    across = np.clip((far - np.abs(rest[:, 0] - middle) / half) / (far - near), 0.0, 1.0)
    out[:, 1] = -drop * down * across
    return out


def _noise(lip_shape: np.ndarray) -> float:
    """The smallest kept component's variance: the scale below which a lip difference is not read as identity."""
    return float((np.asarray(lip_shape[1:], np.float64) ** 2).sum(axis=(1, 2)).min())


def _reach(face: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(478,) how much of its nearest lip point's correction each point takes (1 on the lips, fading to 0 at
    LIP_REACH) and (478,) that point's index in topo.LIPS."""
    pts = np.asarray(face, np.float64)[:, :2]
    lips = pts[list(topo.LIPS)]
    # Squared distances, the root taken of each point's nearest only: the same numbers as the norms of all 478 x 40
    # (the root is monotonic), a fifth of the time; the driving stage runs this on every frame it adapts.
    d2 = (pts[:, None, 0] - lips[None, :, 0]) ** 2 + (pts[:, None, 1] - lips[None, :, 1]) ** 2  # (478, 40)
    nearest = d2.argmin(1)
    weight = np.clip(1.0 - np.sqrt(d2[np.arange(len(pts)), nearest]) / LIP_REACH, 0.0, 1.0) ** 2
    return weight.astype(np.float32), nearest
