"""The renderers (DESIGN.md section 3): a DriveState and the prepared source photo become a face crop
(CropRenderer: the mesh warp, the trained chain) or the whole output frame (FrameRenderer: the mesh flow).

Each is a context manager (RendererLifecycle) that the pipeline enters: leaving it releases its engines.
Which one runs is chosen in realtime.render.choice; the render stage (realtime.stages.render) drives it.
What one photo can show of the driver's motion (turns, gaze, edits, the frown): realtime.render.shown_motion.
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
from realtime.render.folds import rest_folds
from realtime.render.framing import OutputLayout
from realtime.render.landmark_transfer import SourceGeometry, fit_lids, transfer
from realtime.render.meshflow import MeshFlow, PreparedFlow
from realtime.render.neutral import fold_strength, forehead_strength, neutral_rest
from realtime.render.shown_motion import (
    absolute_landmarks,
    deepen_frown,
    eased_edit,
    keep_gaze,
    limit_turn,
    turn_landmarks,
)
from realtime.render.wrinkles import brow_change, gated_lines, rest_forehead
from realtime.stages.driving import DriverSample, DriveState

log = logging.getLogger(__name__)

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
    Either way the head turns the photo shows are eased into TURN_LIMITS_DEG (what one photo can show:
    realtime.render.shown_motion)."""

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
        flow = self._flow.prepare(photo, src.transform, src.ls_px, layout, rest_px, texture, src.glasses)
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

    def _transfer(
        self, geometry: SourceGeometry, expr: np.ndarray, turn: np.ndarray, own_yaw: float
    ) -> np.ndarray:
        """lt for the expression turned by `turn` from the photo's own pose (its yaw `own_yaw`): a turn back
        towards the camera holds the far side (`hold_far_side`)."""
        return turn_landmarks(lambda t: _moved(geometry, expr, t, self._free), turn, own_yaw)

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
            return self._transfer(src.geometry, rest, np.zeros(3, np.float32), float(own_pose[0]))
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
            return self._transfer(src.geometry, eased(expr), turn, float(own_pose[0]))
        lt = self._transfer(src.geometry, eased(expr), turn, float(own_pose[0]))
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
