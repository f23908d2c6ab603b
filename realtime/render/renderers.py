"""The renderers (DESIGN.md section 3): a DriveState and the prepared source photo become a face crop
(CropRenderer: the mesh warp, the trained chain) or the whole output frame (FrameRenderer: the mesh flow).

Each is a context manager (RendererLifecycle) that the pipeline enters: leaving it releases its engines.
Which one runs is chosen in realtime.render.choice; the render stage (realtime.stages.render) drives it.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

import numpy as np

from realtime.config import Motion
from realtime.controls import Edits
from realtime.errors import SetupError
from realtime.face.align import CROP_SIZE
from realtime.face.au_head import au_features, load_au_reader
from realtime.face.glasses import frame_zone
from realtime.face.types import AU, AU_ORDER, POSE_SCALE_DEG
from realtime.frames import PreparedSource
from realtime.render.eyes import IRIS_CENTRES, IRIS_RINGS
from realtime.render.folds import rest_folds
from realtime.render.framing import OutputLayout
from realtime.render.landmark_transfer import SourceGeometry, fit_lids, transfer
from realtime.render.meshflow import MeshFlow, PreparedFlow
from realtime.render.neutral import fold_strength, forehead_strength, neutral_rest
from realtime.render.wrinkles import brow_change, gated_lines, rest_forehead
from realtime.stages.driving import DriverSample, DriveState

log = logging.getLogger(__name__)

FROWN_GAIN = 1.6
"""Relative motion: the driver's frown (its expression's part along the AU04 slider row, where it lowers the
brows) is put on the photo this many times over. The face mesh reads back a median 0.66 (0.27-0.78) of a brow
lowering the renderer draws (`scripts/mesh_readback.py`, the AU04 slider at 0.6 on 6 photos of training people),
so it reads about that share of the driver's own frown, and the photo, moved by that reading, frowned less than
the driver by the same share again. Live, 9 held-out pairs: AU04 r 0.176 -> 0.207, AU26 +0.003, AU45 -0.004,
CSIM 0.970 -> 0.969."""
_AU04 = AU_ORDER.index(AU.AU04)
_AU12 = AU_ORDER.index(AU.AU12)

_AU45 = AU_ORDER.index(AU.AU45)
MATCHED_AUS = [AU_ORDER.index(AU.AU12)]
"""AUs whose change on the photo is matched to the driver's in relative motion (`MeshFlowFrame._match_aus`)."""
MATCH_MAX = 0.5
"""The most (AU units) the matching adds per AU: a misread driver cannot pull a caricature."""


class RendererLifecycle:
    """Every renderer is a context manager: the pipeline enters it (its ExitStack), and leaving it (the run
    ends, or the renderer is replaced) releases what it holds: engines, sessions. Leaving twice is harmless."""

    reads_driver_frame = False
    """Whether the renderer draws from the driver's own pixels (DriverSample.mouth, .wrinkles): the driving stage
    cuts them out of each frame only for one that does."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release what the renderer holds (nothing, unless a renderer says otherwise)."""


class CropRenderer(Protocol):
    name: str
    reads_driver_frame: bool

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def set_source(self, src: PreparedSource) -> None: ...

    def render(self, src: PreparedSource, drive: DriveState) -> np.ndarray:
        """(S, S, 3) uint8 RGB face crop."""
        ...


class MeshWarpCrop(RendererLifecycle):
    """Training-free: driver landmark motion -> lt (landmark_transfer) -> piecewise-affine mesh warp."""

    name = "meshwarp"

    def __init__(self, size: int = CROP_SIZE) -> None:
        from realtime.render.meshwarp import MeshWarpRenderer

        self._warp = MeshWarpRenderer(size=size)

    def set_source(self, src: PreparedSource) -> None:
        pass

    def target_landmarks(self, src: PreparedSource, drive: DriveState) -> np.ndarray:
        """lt (478, 2) in crop pixels: the driver's motion put on the photo (relative: the head's own axes)."""
        w = drive.weight  # 0 = neutral source: no expression, no rotation
        expr = np.zeros_like(src.geometry.canonical)
        if drive.expression is not None:
            neutral = drive.driver.neutral if drive.driver is not None else None
            expr = fit_lids(drive.expression, src.geometry.canonical, neutral) * w
        return transfer(src.geometry, expr, drive.pose_delta * w, in_head=True)

    def render(self, src: PreparedSource, drive: DriveState) -> np.ndarray:
        return self._warp.render(src.crop, src.ls_px, self.target_landmarks(src, drive))


class ChainCrop(RendererLifecycle):
    """The trained networks (engines.chain.ReenactmentChain) on the driving vector AUd.

    Like an opened file, it holds its chain from construction (so a chain that cannot start is known where
    the renderer is chosen, and the mesh warp can stand in) until it is closed or its context is left."""

    name = "chain"

    def __init__(self, weights_dir: Path, model: str, backend: str) -> None:
        from engines.chain import ReenactmentChain

        with contextlib.ExitStack() as stack:  # a chain that fails half-way is closed again
            self._chain = stack.enter_context(ReenactmentChain(weights_dir, model, backend))  # type: ignore[arg-type]
            self._resources = stack.pop_all()
        self.name = f"chain ({model}, {self._chain.backend})"

    def set_source(self, src: PreparedSource) -> None:
        crop = src.crop.transpose(2, 0, 1).astype(np.float32) / 255.0  # (3, S, S)
        s = src.crop.shape[0]
        self._chain.set_source(crop, (src.ls_px / s * 2.0 - 1.0).astype(np.float32))

    def render(self, src: PreparedSource, drive: DriveState) -> np.ndarray:
        w = drive.weight  # ease towards the source's own AUs and pose
        aus = w * drive.aus + (1.0 - w) * src.face.aus
        pose = src.face.pose.as_array() + w * drive.pose_delta
        aud = np.concatenate([aus, pose / POSE_SCALE_DEG]).astype(np.float32)[None]  # (1, 20)
        img = self._chain.run(aud).image[0]  # (3, S, S) in [0, 1]
        return np.clip(img.transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def close(self) -> None:
        self._resources.close()


class FrameRenderer(Protocol):
    """A renderer that draws the whole output frame itself (at the photo's own resolution)."""

    name: str
    reads_driver_frame: bool

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def set_source(self, src: PreparedSource, layout: OutputLayout) -> None: ...

    def set_background(self, background: np.ndarray | None, person: np.ndarray | None) -> None: ...

    def render_frame(self, src: PreparedSource, drive: DriveState) -> np.ndarray:
        """(H, W, 3) uint8 RGB output frame."""
        ...


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
    return transfer(geometry, expression, limit_turn(own_pose, np.asarray(pose) - own_pose))


def deepen_frown(expr: np.ndarray, driver: np.ndarray, row: np.ndarray | None) -> np.ndarray:
    """`expr` (478, 3) with the driver's frown put on FROWN_GAIN times: the driver's expression (478, 3) projected
    on the AU04 slider row (478, 3); nothing where it raises the brows or no row ships."""
    if row is None:
        return expr
    amount = float(np.sum(driver * row) / max(float(np.sum(row * row)), 1e-9))
    if amount <= 0.0:
        return expr
    return (expr + (FROWN_GAIN - 1.0) * amount * row).astype(np.float32)


def _moved(
    geometry: SourceGeometry, expr: np.ndarray, turn: np.ndarray, free: np.ndarray | None
) -> np.ndarray:
    """`transfer` of the expression (478, 3) with a glasses photo's frame zone held still (`free` (478, 1): the
    share of each point's motion kept; relative motion: the frame then turns with the head and keeps its shape),
    the turn about the head's own axes."""
    return transfer(geometry, expr if free is None else expr * free, turn, in_head=True)


@dataclass(frozen=True)
class PreparedFrame:
    """A source photo made ready by `MeshFlowFrame.prepare`, for `MeshFlowFrame.install`."""

    src: PreparedSource
    layout: OutputLayout
    keep: bool  # the keep_expression it was made for
    ls_n: np.ndarray  # (1, 478, 2) the photo's landmarks in LT's normalised crop
    rest: tuple[np.ndarray, np.ndarray] | None  # MeshFlowFrame._rest
    free: np.ndarray | None  # MeshFlowFrame._free
    rest_read: np.ndarray | None  # MeshFlowFrame._rest_read (relative motion), None: kept
    smile_back: float
    flow: PreparedFlow


class MeshFlowFrame(RendererLifecycle):
    """The mesh-flow renderer (realtime.render.meshflow) on landmarks from the driver, through LT.

    relative (the default): lt = the driver's own landmark motion put on the source (landmark_transfer, exact
    and sharp) plus the user's AU edits, with AUd = the photo's own AUs + (driver AUs - driver neutral): the
    edit (AUd edited - AUd) moves the face along the shipped AU basis (training.au.basis, fitted from the
    data: the teacher sees 0.52 of an AU12 edit land, LT's answer 0.21; au_basis.md), or, without the
    basis, LT(ls, AUd edited) - LT(ls, AUd). So "AU12 +0.5" widens the photo's smile and "AU45 locked at
    1" shuts its eyes, whatever the driver does.
    absolute (the paper's mode): the driver's AUs and pose as measured (edited) drive the photo: along the AU
    basis with a rigid turn (`absolute_landmarks`), or through LT(ls, AUd) where no basis ships.
    Either way the head turns the photo shows are eased into TURN_LIMITS_DEG (what one photo can show)."""

    name = "meshflow"
    reads_driver_frame = True  # the inner mouth and the expression lines

    def __init__(
        self,
        weights_dir: Path,
        backend: str,
        motion: Motion = "relative",
        use_au_basis: bool = True,
        keep_expression: bool = False,
    ) -> None:
        """`use_au_basis=False`: edits through LT even where the AU basis ships (to compare the two).
        `keep_expression`: relative motion from the photo as it is (its smile kept at the driver's rest; only
        a dropped jaw is shut), not from its face at rest (`realtime.render.neutral`)."""
        from engines import open_runner
        from realtime.render.eyes import load_eye_painter
        from realtime.render.mouth import load_mouth_prior
        from realtime.weights import load_au_basis, load_au_gain

        self.motion = motion
        self._flow = MeshFlow(
            CROP_SIZE, eye_painter=load_eye_painter(weights_dir), mouth_prior=load_mouth_prior(weights_dir)
        )
        self._basis = load_au_basis(weights_dir) if use_au_basis else None
        """(17, 478, 3) how each AU moves the face, the free fit (training.au.basis): absolute motion's
        expression, and a photo's open mouth shut at the driver's rest."""
        self.keep_expression = keep_expression
        self._lip_shape = load_au_basis(weights_dir, "lip_shape.npy") if use_au_basis else None
        """(1 + K, 40, 3) how resting lips differ across people (training.au.shape): what of a photo's lips
        is expression, taken out at rest."""
        self._edit = load_au_basis(weights_dir, "au_edit.npy") if use_au_basis else None
        if self._edit is None:
            self._edit = self._basis
        """(17, 478, 3) the rows the AU edits of relative motion move the face along: each AU kept to its part
        of the face (au_edit.npy; the free fit where it does not ship). The free fit's rows share the mouth
        between AU25 and AU26 (either alone moved the upper lip 0.2-0.3 of the eyes' distance): right for
        shutting a mouth (the photo's, the driver's neutral), not for one slider."""
        self.edit_gain = load_au_gain(weights_dir)
        """(17,) how far along its basis row an AU edit of 1 moves the face (au_basis.json): the ridge rows
        of AUs that move together (brows, lids) carry a share of their motion each, and a slider moving one
        alone drew a quarter of its change (the teacher saw 0.27 of an AU01 edit)."""
        self._edit_reach = (
            np.zeros(len(AU_ORDER), np.float32)
            if self._edit is None
            else np.linalg.norm(self._edit, axis=2).max(axis=1).astype(np.float32)
        )
        """(17,) the furthest any point moves along each AU's slider row per unit (inter-ocular units)."""
        self._reader = None
        """The AU head and mean face (realtime.face.au_head) reading the AUs a target face shows."""
        if use_au_basis and (weights_dir / "au_head.onnx").is_file():
            self._reader = load_au_reader(weights_dir)
        self._rest_read = np.zeros(len(MATCHED_AUS), np.float32)
        self._lt = None
        lt_path = weights_dir / "lt.onnx"
        if lt_path.is_file():
            self._lt = open_runner(lt_path, backend if backend != "auto" else "onnxruntime")  # type: ignore[arg-type]
            self._lt.activate()
        elif motion == "absolute" and self._basis is None:
            raise SetupError(
                f"--motion absolute needs the AU basis or the landmark transformer {lt_path}; neither is there"
            )
        elif self._basis is None:
            log.warning("no %s: AU edits cannot change the expression (only head-angle edits act)", lt_path)
        self.name = f"meshflow ({motion})"
        self._ls_n: np.ndarray | None = None
        self._free: np.ndarray | None = None
        """(478, 1) the share of each point's expression motion kept: less in a glasses photo's frame zone."""
        self._rest: tuple[np.ndarray, np.ndarray] | None = None
        """Relative motion: the motion (478, 3) that takes the photo to its face at the driver's rest
        (realtime.render.neutral) and its AUs then (17,); None: the photo as it is."""
        self._smile_back = 0.0
        """The photo's smile over its face at rest (AU12) where its folds were flattened (0: none were): the
        smile shown over this is the share of the folds shown again."""

    def set_source(self, src: PreparedSource, layout: OutputLayout) -> None:
        self.install(self.prepare(src, layout))

    def prepare(self, src: PreparedSource, layout: OutputLayout, keep: bool | None = None) -> PreparedFrame:
        """What the photo needs (its face at rest, the flow's source), computed without touching what the frames
        being rendered read: another thread may run it while they are (`install` then takes it at once). `keep`:
        the keep_expression it is made for (None: the renderer's)."""
        keep = self.keep_expression if keep is None else keep
        free = None if not src.glasses else (1.0 - frame_zone(src.geometry.canonical))[:, None]
        rest = None
        if self._basis is not None:
            rest = neutral_rest(src.geometry.canonical, src.face.aus, self._basis, self._lip_shape, keep)
        rest_px = None
        rest_read = None
        photo, texture = src.image, None
        smile_back = 0.0
        if self.motion == "relative":
            face = src.geometry.canonical if rest is None else src.geometry.canonical + rest[0]
            rest_read = self._read_aus(face)  # what _match_aus measures the photo's change from
            if rest is not None:
                rest_px = _moved(src.geometry, rest[0], np.zeros(3, np.float32), free)
                # Its raised brows lowered at rest, the photo's forehead is calmed too (the driver's lines show its
                # raise); its smile lowered, its cheeks' folds are flattened.
                strength = forehead_strength(src.face.aus, rest[1])
                photo = rest_forehead(src.image, src.face.landmarks, strength)
                flat = rest_folds(photo, src.face.landmarks, fold_strength(src.face.aus, rest[1]))
                if flat is not photo:  # the folds come back as far as the photo smiles again (render_frame)
                    texture, photo = photo, flat
                    smile_back = float(src.face.aus[_AU12] - rest[1][_AU12])
        flow = self._flow.prepare(photo, src.transform, src.ls_px, layout, rest_px, texture)
        ls_n = (src.ls_px / CROP_SIZE * 2.0 - 1.0).astype(np.float32)[None]  # (1, 478, 2)
        return PreparedFrame(src, layout, keep, ls_n, rest, free, rest_read, smile_back, flow)

    def install(self, prepared: PreparedFrame) -> None:
        """The photo `prepare` made ready, from the next frame on (quick: the render thread's part). Made for the
        other `keep_expression` (toggled meanwhile), it is made again here."""
        if prepared.keep != self.keep_expression:
            prepared = self.prepare(prepared.src, prepared.layout)
        self._ls_n, self._rest, self._free = prepared.ls_n, prepared.rest, prepared.free
        if prepared.rest_read is not None:
            self._rest_read = prepared.rest_read
        self._smile_back = prepared.smile_back
        self._flow.install(prepared.flow)

    def set_background(self, background: np.ndarray | None, person: np.ndarray | None) -> None:
        self._flow.set_background(background, person)

    def _transfer(self, geometry: SourceGeometry, expr: np.ndarray, turn: np.ndarray) -> np.ndarray:
        return _moved(geometry, expr, turn, self._free)

    def _read_aus(self, face: np.ndarray) -> np.ndarray:
        """(len(MATCHED_AUS),) the AUs the run-time AU head reads on a face (478, 3) in a frontal frame."""
        if self._reader is None:
            return np.zeros(len(MATCHED_AUS), np.float32)
        head, mean_face = self._reader
        return head.predict(au_features(face, mean_face)[None])[0, MATCHED_AUS]

    def _match_aus(self, src: PreparedSource, expr: np.ndarray, change: np.ndarray) -> np.ndarray:
        """The expression (478, 3) moved along the sliders' rows so that the photo's MATCHED_AUS change from its
        face at rest by at least as much as the driver's did (`change` (17,), the driver's AUs less its
        neutral's), as the AU head reads both faces. The driver's landmark motion, put on another face, is not the
        same smile: the mouth corners rise as far, but on a face whose mouth turns down at rest the teacher read
        no smile at all (Acosta driven by the DaGAN clip: corners followed with r 0.90, AU12 0.00). Nothing is
        taken away where the motion shows more: matched both ways, strong smiles that followed with r 0.92-0.96
        fell to 0.60-0.73. Nor is anything added where the driver's AU did not rise (its lips pulled down make
        the photo read less smile than at rest; topping that up fought the driver's frown)."""
        want = change[MATCHED_AUS]
        if self._reader is None or self._edit is None or want.max() <= 1e-3:
            return expr  # the driver did not smile more than at its neutral: nothing to match, no head to run
        have = self._read_aus(src.geometry.canonical + expr) - self._rest_read
        gap = np.clip(want - have, 0.0, MATCH_MAX) * (want > 1e-3)
        if gap.max() <= 1e-3:
            return expr
        rows = self._edit[MATCHED_AUS] * self.edit_gain[MATCHED_AUS][:, None, None]
        return expr + np.tensordot(gap, rows, axes=1).astype(np.float32)

    def _run_lt(self, aud: np.ndarray) -> np.ndarray:
        """(B, 20) AUd -> (B, 478, 2) lt in crop pixels."""
        assert self._lt is not None and self._ls_n is not None
        ls = np.repeat(self._ls_n, len(aud), axis=0)
        lt = self._lt.infer({"ls": ls, "aud": aud.astype(np.float32)})["lt"]
        return ((lt + 1.0) * 0.5 * CROP_SIZE).astype(np.float32)

    def target_landmarks(self, src: PreparedSource, drive: DriveState) -> np.ndarray:
        """lt (478, 2) in crop pixels for this state."""
        w, d = drive.weight, drive.driver
        own_aus, own_pose = src.face.aus, src.face.pose.as_array()
        rest = self._rest[0] if self._rest is not None and self.motion == "relative" else None
        if d is None:  # no driver yet: the photo at rest (it eases there, below, when the driver is lost)
            if rest is None:
                return src.ls_px.astype(np.float32)
            return self._transfer(src.geometry, rest, np.zeros(3, np.float32))
        edits = drive.edits
        if self.motion == "absolute":
            aus, pose = (d.aus, d.pose) if edits is None else edits.apply(d.aus, d.pose)
            aus, pose = w * aus + (1 - w) * own_aus, w * pose + (1 - w) * own_pose
            if self._basis is not None:
                return absolute_landmarks(src.geometry, own_aus, own_pose, aus, pose, self._basis)
            pose = own_pose + limit_turn(own_pose, pose - own_pose)
            return self._run_lt(np.concatenate([aus, pose / POSE_SCALE_DEG])[None])[0]
        # The driver's lids scaled to, and kept from crossing on, the photo's eyes at rest (wide ones lowered).
        at_rest = src.geometry.canonical if rest is None else src.geometry.canonical + rest
        expr = fit_lids(d.expression, at_rest, d.neutral)
        expr = deepen_frown(expr, d.expression, None if self._edit is None else self._edit[_AU04])
        if self._rest is not None:
            expr = expr + self._rest[0]

        def eased(expr: np.ndarray) -> np.ndarray:
            """The expression weighted by the driver's presence w, from the photo at rest (w = 0)."""
            return expr * w if rest is None else rest + (expr - rest) * w

        aud, edited = self._relative_aus(src, d, edits)
        expr = self._match_aus(src, expr, d.aus_delta)
        turn = limit_turn(own_pose, drive.pose_delta * w)
        expr = keep_gaze(expr, float(drive.pose_delta[0] * w - turn[0]))
        if self._edit is not None and edits is not None:
            change = eased_edit((np.clip(edited, 0.0, 1.0) - aud) * self.edit_gain, self._edit_reach)
            blink = float(change[_AU45])
            change[_AU45] = (
                0.0  # the lids, not the basis: its AU45 row also lowered the brows (a smeared lid)
            )
            if np.abs(change).max() > 1e-3:
                expr = expr + np.tensordot(change, self._edit, axes=1)
            if abs(blink) > 1e-3:
                after = float(np.clip(aud[_AU45] + blink, 0.0, 1.0))
                expr = fit_lids(expr, src.geometry.canonical, None, (aud[_AU45], after))
            return self._transfer(src.geometry, eased(expr), turn)
        lt = self._transfer(src.geometry, eased(expr), turn)
        if self._lt is not None and np.abs(edited - aud).max() > 1e-3:
            pose = np.broadcast_to(own_pose / POSE_SCALE_DEG, (2, 3))
            pair = self._run_lt(np.concatenate([np.stack([edited, aud]), pose], axis=1))
            lt = lt + w * (pair[0] - pair[1])
        return lt

    def render_still(self, src: PreparedSource, edits: Edits) -> np.ndarray:
        """The photo with only these edits, its driver at rest: how the AU figure and the edit response
        show the sliders."""
        zero3 = np.zeros(3, np.float32)
        still = DriverSample(
            src.face.aus, zero3, np.zeros(17, np.float32), np.zeros((478, 3), np.float32), None
        )
        drive = DriveState(np.zeros(17, np.float32), zero3, None, 1.0, "tracking", still, edits)
        return self.render_frame(src, drive)

    def render_frame(self, src: PreparedSource, drive: DriveState) -> np.ndarray:
        d = drive.driver
        mouth = d.mouth if d is not None else None
        lines = None
        if d is not None and d.wrinkles is not None and drive.weight > 0.0:
            lines = gated_lines(d.wrinkles, brow_change(drive.aus))  # the brows' AUs as edited
            if lines is not None:
                lines *= np.float32(drive.weight)  # eased out with the driver's presence
        if self._smile_back > 0.0:
            self._flow.show_texture(self._smile_shown(src, drive) / self._smile_back)
        return self._flow.render(self.target_landmarks(src, drive), mouth, lines)

    def _relative_aus(
        self, src: PreparedSource, d: DriverSample, edits: Edits | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(AUd, AUd as the user edits it) (17,) each, relative motion: the photo's AUs (at rest where it is
        taken there) plus the driver's change from its neutral."""
        own = src.face.aus if self._rest is None else self._rest[1]
        aud = np.clip(own + d.aus_delta, 0.0, 1.0).astype(np.float32)
        return aud, aud if edits is None else edits.apply(aud, np.zeros(3, np.float32))[0]

    def _smile_shown(self, src: PreparedSource, drive: DriveState) -> float:
        """How far the photo smiles above its face at rest (AU12, relative motion): the driver's smile over its
        neutral and the user's edit of it, eased with the driver's presence."""
        d = drive.driver
        if d is None or self._rest is None:
            return 0.0
        _, edited = self._relative_aus(src, d, drive.edits)
        return float(np.clip(edited[_AU12], 0.0, 1.0) - self._rest[1][_AU12]) * drive.weight

    def close(self) -> None:
        if self._lt is not None:
            self._lt.deactivate()
            self._lt = None
