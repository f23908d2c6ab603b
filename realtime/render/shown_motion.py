"""What one photo can show of the driver's motion, as the mesh flow (`renderers.MeshFlowFrame`) puts it
on the photo: head turns eased into what a single photo has to show (`limit_turn`), the eyes turned back by
the part of the turn it does not show (`keep_gaze`), the AU sliders' edits eased (`eased_edit`), the
driver's frown deepened (`deepen_frown`), and absolute motion's landmarks on the AU basis
(`absolute_landmarks`). Pure functions of arrays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from realtime.face.types import AU, AU_ORDER
from realtime.render.eyes import IRIS_CENTRES, IRIS_RINGS
from realtime.render.landmark_transfer import SourceGeometry, transfer

TURN_LIMITS_DEG: tuple[tuple[float, float], ...] = ((12.0, 22.0), (10.0, 20.0), (20.0, 35.0))
"""(knee, limit) of how far the photo turns from its own pose (yaw, pitch, roll) as the mesh flow shows it:
followed 1:1 up to the knee, then eased towards the limit and never past it. A single photo has no ear or far
cheek to show: turned 30 degrees the near cheek ballooned over the background and 45 degrees tore the face (a
frontal photo looked at, the driver's 48-degree turn of the smirk/dafoe clip), while 20 degrees still looks
like a head. The limit is on the change, not on the pose reached: limiting the pose reached froze a photo
that is itself turned 31 degrees (live pose r 0.65 -> 0.39 on such a pair)."""
AWAY_LIMIT_DEG = 25.0
"""Yaw and pitch the photo may reach away from the camera, or its own where it is turned further: a photo
turned 31 degrees and turned 20 more showed its nose past its cheek and a torn far side (the smirk/dafoe photo
driven by the DaGAN clip); turning back towards the camera is eased by BACK_LIMITS_DEG."""
AWAY_SLACK_DEG = 3.0
"""How far past that the pose may still ease (no hard stop)."""
BACK_FREE_DEG = 12.0
"""Yaw and pitch of a photo up to which it turns back towards the camera as far as TURN_LIMITS_DEG allow."""
BACK_LIMITS_DEG = (1.0, 3.0)
"""(knee, limit) of the turn back towards the camera of a photo turned BACK_TURNED_DEG or more (between that
and BACK_FREE_DEG, eased from TURN_LIMITS_DEG's by the turn): such a photo has no far cheek, and the skin
hidden behind its nose and silhouette was drawn from their edges. The smirk/dafoe photo, turned 31 degrees,
turned back 18 (LivePortrait's d12 clip) showed a smeared grey band with a hard edge down its far cheek, and
in still renders a dark crease beside the nose from 3-4 on. Live pose r on that pair 0.795 -> 0.724; on the
photo's two pairs of the live protocol 0.504 -> 0.494 and 0.789 (unchanged); absolute mode too (the paper
protocol's cross pairs turn a turned photo to a frontal driver's pose: PSIM 0.694 -> 0.674)."""
BACK_TURNED_DEG = 28.0
"""Yaw or pitch from which a photo's turn back towards the camera is held to BACK_LIMITS_DEG."""


FAR_HOLD = (0.3, 0.7)
"""Shares of the way from the face's middle to its far silhouette (along the eyes' line) between which a turned
photo's turn back towards the camera stops widening its far side (`hold_far_side`): none at the first, all of it
from the second on."""
FAR_HOLD_FROM_DEG = (10.0, 18.0)
"""Yaw of the photo from which that hold starts, and from which it is whole: a frontal photo's far side is its
own, and a turn widens it as it should. From 6 and 12 degrees, one paper-protocol pair's pose similarity (a
cosine of small pose vectors) turned over (0.45 -> -0.95) and PSIM fell 0.018; from these, 0.006."""


def turns_back(own_yaw: float, yaw: float) -> bool:
    """Whether a yaw change turns a photo of that yaw (degrees) back towards the camera, past the hold's start."""
    return own_yaw * yaw < 0 and abs(own_yaw) > FAR_HOLD_FROM_DEG[0]


def hold_far_side(turned: np.ndarray, unturned: np.ndarray, own_yaw: float) -> np.ndarray:
    """lt (478, 2) of a photo of yaw `own_yaw` (degrees) turned back towards the camera (`turned`), its far side
    kept from widening past the near side's motion; `unturned`: the same landmarks without the yaw of that turn.

    The face mesh of a photo turned 20 degrees runs on round its far cheek, behind the silhouette, foreshortened
    into a few pixels; turned back towards the camera, its far side widened (the mesh's far edge coming round)
    and those few pixels of the photo's cheek were stretched 3 to 10 times over it: a swollen, smeared far jaw
    (PRNet's 4.jpg under LivePortrait's d12, 12 degrees back). A head turning on its own axis keeps its
    silhouette; here the far side moves with the near side, the nose and the middle of the face turn as they
    did, and the far cheek between them widens only by the nose's move."""
    d = turned - unturned
    eyes = unturned[263] - unturned[33]
    eyes /= max(float(np.linalg.norm(eyes)), 1e-6)
    nose = float(d[1] @ eyes)  # the nose tip moves away from the far side as the head turns back
    if abs(nose) < 1e-3:
        return turned
    far = -np.sign(nose) * eyes
    out = (unturned - unturned.mean(0)) @ far
    # 0 in the middle, 1 at the far silhouette, < 0 on the near side.
    share = out / max(float(out.max()), 1e-6)
    hold = np.clip((share - FAR_HOLD[0]) / (FAR_HOLD[1] - FAR_HOLD[0]), 0.0, 1.0)
    a, b = FAR_HOLD_FROM_DEG
    hold *= float(np.clip((abs(own_yaw) - a) / (b - a), 0.0, 1.0))
    along = d @ far
    near = float(np.median(along[share < 0]))
    return (turned - (hold * np.maximum(along - near, 0.0))[:, None] * far).astype(np.float32)


def turn_landmarks(move: Callable[[np.ndarray], np.ndarray], turn: np.ndarray, own_yaw: float) -> np.ndarray:
    """lt (478, 2): `move(turn)`, the photo's landmarks turned by `turn` (3, degrees) from its own pose (yaw
    `own_yaw`), with the far side held (`hold_far_side`) where that turns the photo back towards the camera."""
    lt = move(turn)
    if not turns_back(own_yaw, float(turn[0])):
        return lt
    return hold_far_side(lt, move(np.asarray(turn) * (0.0, 1.0, 1.0)), own_yaw)


def limit_turn(own: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """(3,) the pose change (degrees) the photo shows for the driver's `delta`, the photo's own pose `own`:
    the change eased into TURN_LIMITS_DEG, yaw and pitch kept from going further from the camera than
    AWAY_LIMIT_DEG or the photo's own (whichever is further), and a turned photo's turn back towards the camera
    eased into BACK_LIMITS_DEG."""
    own = np.asarray(own, np.float64)
    delta = np.asarray(delta, np.float64)
    change = soft_limit(delta).astype(np.float64)
    for i in (0, 1):
        if own[i] * delta[i] < 0 and abs(own[i]) > BACK_FREE_DEG:  # back towards the camera
            t = min((abs(own[i]) - BACK_FREE_DEG) / (BACK_TURNED_DEG - BACK_FREE_DEG), 1.0)
            knee, limit = (a + t * (b - a) for a, b in zip(TURN_LIMITS_DEG[i], BACK_LIMITS_DEG, strict=True))
            change[i] = np.sign(delta[i]) * _ease(abs(delta[i]), knee, limit)
            continue
        cap = max(abs(own[i]), AWAY_LIMIT_DEG)
        reached = own[i] + change[i]
        if abs(reached) > cap:
            eased = cap + AWAY_SLACK_DEG * np.tanh((abs(reached) - cap) / AWAY_SLACK_DEG)
            change[i] = np.sign(reached) * eased - own[i]
    return change.astype(np.float32)


EYEBALL_RADIUS = 0.13
"""The eyeball's radius in inter-ocular units (outer eye corners about 90 mm apart, the eyeball's radius 12 mm):
an iris turned by an angle moves this times its sine along the face."""
_IRIS_POINTS = [[centre, *ring] for centre, ring in zip(IRIS_CENTRES, IRIS_RINGS, strict=True)]


def keep_gaze(expression: np.ndarray, unshown_yaw_deg: float) -> np.ndarray:
    """(478, 3) the expression (canonical frame) with each iris turned back by the part of the driver's head turn
    the photo does not show (`limit_turn`), as far as the driver's own eye turned the other way and no further.

    A driver who turns its head and keeps looking at the camera turns its eyes back in its head; the photo, held
    to a few degrees of that turn, copied the eyes alone and looked hard sideways, its iris jammed into the
    eye's corner and the white stretched into a bulge (the smirk/dafoe photo, turned 31 degrees, under the
    DaGAN clip's 25-degree turn, frame 73). Turned back in full, the eyes of a driver who looks away with its
    whole head (the dafoe clip's 48-degree turn) were pushed sideways instead: a side-glance the driver never
    made. So an iris only comes back towards where it rests, never past it. Along the face only: up and down the
    lids show the gaze."""
    back = -EYEBALL_RADIUS * float(np.sin(np.radians(unshown_yaw_deg)))
    if abs(back) < 1e-6:
        return expression
    out = np.array(expression, np.float32)
    for points in _IRIS_POINTS:
        own = float(out[points[0], 0])  # the driver's eye turned in its head (from its neutral)
        if own * back < 0.0:
            out[points, 0] += float(np.clip(back, -abs(own), abs(own)))
    return out


def soft_limit(pose: np.ndarray) -> np.ndarray:
    """(3,) yaw, pitch, roll (degrees) squeezed into TURN_LIMITS_DEG; monotonic and smooth."""
    out = np.asarray(pose, np.float64).copy()
    for i, (knee, limit) in enumerate(TURN_LIMITS_DEG):
        out[i] = np.sign(out[i]) * _ease(abs(out[i]), knee, limit)
    return out.astype(np.float32)


def _ease(x: float, knee: float, limit: float) -> float:
    """x >= 0 followed 1:1 up to the knee, then eased towards the limit and never past it."""
    if x <= knee:
        return x
    return knee + (limit - knee) * float(np.tanh((x - knee) / (limit - knee)))


EDIT_REACH = (0.12, 0.22)
"""(knee, limit), inter-ocular units, of how far one AU slider's edit moves any point of the face: followed 1:1
to the knee, then eased towards the limit (a full smile moves the mouth's corners 0.2). The rows of AUs that
barely vary in the data are fitted from little motion and extrapolate wildly: at 1 the dimpler (AU14) moved
the lips 0.37 and knotted the mouth and moustache of the s12 photo into a twist, and the lip corner depressor
(AU15) and the stretcher (AU20) crossed the lips into a dark X. Not the mouth's opening (AU25, AU26: the jaw
drops further than any shape moves) nor the blink (AU45 moves the lids, not its row)."""
_UNEASED = [AU_ORDER.index(a) for a in (AU.AU25, AU.AU26, AU.AU45)]


def eased_edit(change: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """(17,) each AU's edit along its slider row (`change`, AU units x gain) scaled so that the furthest point
    it moves (`reach` (17,) per unit) goes no further than EDIT_REACH allows; AU25, AU26, AU45 as given."""
    out = np.asarray(change, np.float32).copy()
    knee, limit = EDIT_REACH
    for k, (c, r) in enumerate(zip(out, reach, strict=True)):
        moved = abs(float(c)) * float(r)
        if k not in _UNEASED and moved > knee:
            out[k] = c * _ease(moved, knee, limit) / moved
    return out


def absolute_landmarks(
    geometry: SourceGeometry,
    own_aus: np.ndarray,
    own_pose: np.ndarray,
    aus: np.ndarray,
    pose: np.ndarray,
    basis: np.ndarray,
) -> np.ndarray:
    """lt (478, 2) for the paper's absolute mode, on the AU basis: the photo's face moved along the basis from
    its own AUs to the driver's (17,), and turned from its own pose to the driver's (3, degrees; eased into
    TURN_LIMITS_DEG) as a rigid 3-D rotation. The learned LT had to learn that rotation from three numbers and
    missed it (paper protocol, 9 held-out people: PSIM 0.75); here it is exact and the AUs' part is linear.

    On the free fit (au_basis.npy), without the sliders' edit gains: between two people the AUs differ by
    identity as much as by expression (a brow low at rest reads as AU04), and the sliders' rows and gains put
    that on the photo (paper protocol, 9 held-out people: ED 0.498 -> 0.479, CSIM 0.971 -> 0.957)."""
    expression = np.tensordot(np.clip(aus, 0.0, 1.0) - own_aus, basis, axes=1)  # (478, 3)
    turn = limit_turn(own_pose, np.asarray(pose) - own_pose)
    return turn_landmarks(lambda t: transfer(geometry, expression, t), turn, float(own_pose[0]))


FROWN_GAIN = 1.6
"""Relative motion: the driver's frown (its expression's part along the AU04 slider row, where it lowers the
brows) is put on the photo this many times over. The face mesh reads back a median 0.66 (0.27-0.78) of a brow
lowering the renderer draws (`scripts/mesh_readback.py`, the AU04 slider at 0.6 on 6 photos of training people),
so it reads about that share of the driver's own frown, and the photo, moved by that reading, frowned less than
the driver by the same share again. Live, 9 held-out pairs: AU04 r 0.176 -> 0.207, AU26 +0.003, AU45 -0.004,
CSIM 0.970 -> 0.969."""


def deepen_frown(expr: np.ndarray, driver: np.ndarray, row: np.ndarray | None) -> np.ndarray:
    """`expr` (478, 3) with the driver's frown put on FROWN_GAIN times: the driver's expression (478, 3) projected
    on the AU04 slider row (478, 3); nothing where it raises the brows or no row ships."""
    if row is None:
        return expr
    amount = float(np.sum(driver * row) / max(float(np.sum(row * row)), 1e-9))
    if amount <= 0.0:
        return expr
    return (expr + (FROWN_GAIN - 1.0) * amount * row).astype(np.float32)
