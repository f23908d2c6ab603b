"""The renderers under test, side by side: facegan (LT -> Gr -> Gb), facegan_no_lt (Gr -> Gb) and mesh_warp."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from training.evaluation.data import FaceImage, FrameRef

log = logging.getLogger(__name__)


METHOD_NAMES = ("facegan", "facegan_no_lt", "mesh_warp", "mesh_warp_transfer", "mesh_flow")
REFERENCE_NAMES = ("mesh_flow_oracle",)
"""References run only when asked (facegan-evaluate --oracle) and never contenders: the report lists them after the
methods, and no verdict, best or goal is drawn from them."""


class Method:
    """A renderer under test: `render(source, driving) -> (S, S, 3) uint8`."""

    name = ""
    lt_source = ""

    def render(self, source: FaceImage, driving: FaceImage) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _to_uint8(chw: np.ndarray) -> np.ndarray:
    return np.clip(np.transpose(chw, (1, 2, 0)) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _to_chw(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(rgb, (2, 0, 1)), dtype=np.float32) / 255.0


class FaceganMethod(Method):
    """The shipped chain: LT -> Gr -> Gb through engines.chain.ReenactmentChain."""

    name = "facegan"
    lt_source = "LT (shipped)"
    uses_lt = True

    def __init__(self, weights: Path, variant: str, backend: str) -> None:
        from engines.chain import ReenactmentChain

        self.chain = ReenactmentChain(weights, variant, backend, lt=self.uses_lt)  # type: ignore[arg-type]
        self.chain.__enter__()
        self.size = self.chain.image_size
        self._key: FrameRef | None = None

    def _set_source(self, source: FaceImage) -> None:
        from realtime.face.align import to_normalized

        if self._key != source.ref:
            self.chain.set_source(
                _to_chw(source.rgb), to_normalized(source.landmarks, self.size).astype(np.float32)
            )
            self._key = source.ref

    def render(self, source: FaceImage, driving: FaceImage) -> np.ndarray:
        self._set_source(source)
        return _to_uint8(self.chain.run(driving.aud[None].astype(np.float32)).image[0])

    def close(self) -> None:
        self.chain.close()


class FaceganNoLtMethod(FaceganMethod):
    """Gr -> Gb driven by the driving landmarks themselves (the aligned crops share one canonical frame, so
    the driver's crop landmarks are its landmarks expressed in the source's crop frame). Needs no LT."""

    name = "facegan_no_lt"
    lt_source = "driving landmarks (no LT)"
    uses_lt = False

    def render(self, source: FaceImage, driving: FaceImage) -> np.ndarray:
        from realtime.face.align import to_normalized

        self._set_source(source)
        lt = to_normalized(driving.landmarks, self.size).astype(np.float32)[None]  # (1, 478, 2)
        return _to_uint8(self.chain.run_lt(lt).image[0])


class MeshWarpMethod(Method):
    """MeshWarpRenderer (training-free) moved to LT's landmarks when LT is shipped, else to the training-free
    `realtime.render.landmark_transfer` (the run-time fallback): the driver's expression relative to its
    neutral frame and its pose change, put on the source's own face shape."""

    name = "mesh_warp"

    def __init__(self, weights: Path, size: int, backend: str, use_lt: bool = True) -> None:
        from realtime.render.meshwarp import MeshWarpRenderer

        self.renderer = MeshWarpRenderer(size)
        self.size = size
        self.lt = None
        self._geometry: tuple[FrameRef, Any] | None = None
        self._neutral: dict[str, np.ndarray] = {}
        lt_path = weights / "lt.onnx"
        if not use_lt:  # what `run_cam.py --renderer meshwarp` does live
            self.name = "mesh_warp_transfer"
            self.lt_source = "landmark_transfer (the live mesh warp)"
        elif lt_path.is_file():
            from engines import open_runner

            self.lt = open_runner(lt_path, backend)  # type: ignore[arg-type]
            self.lt.activate()
            self.lt_source = "LT (shipped)"
        else:
            self.lt_source = "landmark_transfer (no LT weights found)"

    def _transfer(self, source: FaceImage, driving: FaceImage) -> np.ndarray:
        from realtime.face.pose import canonical_frame
        from realtime.render.landmark_transfer import SourceGeometry, driver_expression, transfer

        if self._geometry is None or self._geometry[0] != source.ref:  # crop pixels: the crop transform is I
            self._geometry = (source.ref, SourceGeometry.from_landmarks(source.landmarks3d, np.eye(2, 3)))
        track = driving.ref.track
        if track not in self._neutral:
            self._neutral[track] = canonical_frame(driving.neutral3d)
        expression = driver_expression(driving.landmarks3d, self._neutral[track])
        return transfer(self._geometry[1], expression, driving.pose - driving.neutral_pose, in_head=True)

    def target(self, source: FaceImage, driving: FaceImage) -> np.ndarray:
        """lt (478, 2) in crop pixels: LT's, or landmark_transfer's without LT."""
        from realtime.face.align import from_normalized, to_normalized

        if self.lt is None:
            return self._transfer(source, driving)
        ls = to_normalized(source.landmarks, self.size).astype(np.float32)[None]
        lt = self.lt.infer({"ls": ls, "aud": driving.aud[None].astype(np.float32)})["lt"][0]
        return from_normalized(lt, self.size).astype(np.float32)

    def render(self, source: FaceImage, driving: FaceImage) -> np.ndarray:
        return self.renderer.render(source.rgb, source.landmarks, self.target(source, driving))

    def close(self) -> None:
        if self.lt is not None:
            self.lt.deactivate()


class MeshFlowMethod(MeshWarpMethod):
    """The mesh-flow renderer in the paper's absolute mode as `run_cam.py --motion absolute` runs it: the
    driver's AUs and pose as they are, through the AU basis and a rigid turn
    (`realtime.render.shown_motion.absolute_landmarks`; LT's landmarks where no basis ships), and the driving
    frame's own inner mouth where the opening outgrows the source's (`realtime.render.meshflow`). On the aligned
    crops, so the crop transform and the output layout are the identity. The mouth's pixels come from the
    driving frame: in self-reenactment that is the true mouth, an advantage the other methods do not have (said
    in the report)."""

    name = "mesh_flow"

    def __init__(self, weights: Path, size: int, backend: str) -> None:
        from realtime.render.eyes import load_eye_painter
        from realtime.render.meshflow import MeshFlow
        from realtime.render.mouth import load_mouth_prior
        from realtime.weights import load_au_basis

        super().__init__(weights, size, backend)
        self.name = type(self).name  # MeshWarpMethod names itself for its LT choice
        self.flow = MeshFlow(
            size, eye_painter=load_eye_painter(weights), mouth_prior=load_mouth_prior(weights)
        )
        self._key: FrameRef | None = None
        self.basis = load_au_basis(weights)
        self.mean_face = np.load(weights / "mean_face.npy") if (weights / "mean_face.npy").is_file() else None
        if self.basis is not None and self.mean_face is not None:
            self.lt_source = "AU basis + rigid turn (absolute)"

    def target(self, source: FaceImage, driving: FaceImage) -> np.ndarray:
        from realtime.face.align import alignment_transform, apply_transform
        from realtime.face.pose import estimate_pose
        from realtime.render.landmark_transfer import SourceGeometry
        from realtime.render.shown_motion import absolute_landmarks

        if self.basis is None or self.mean_face is None:
            return super().target(source, driving)
        if self._geometry is None or self._geometry[0] != source.ref:  # crop pixels: the crop transform is I
            self._geometry = (source.ref, SourceGeometry.from_landmarks(source.landmarks3d, np.eye(2, 3)))
        # Poses as the run-time estimator sees the images rendered here, the aligned crops. The dataset's pose
        # is the original frame's: its roll differs from the crop's by each track's alignment (up to 14 deg
        # between two tracks), which turned the output by that much (PSIM 0.63 -> see docs/EVALUATION.md).
        own_pose, pose = (estimate_pose(f.landmarks3d, self.mean_face).as_array() for f in (source, driving))
        lt = absolute_landmarks(
            self._geometry[1], source.aud[:17], own_pose, driving.aud[:17], pose, self.basis
        )
        # Into the aligned crop's frame, as the driver's own crop is (and as LT's landmarks are, learnt from
        # aligned crops): the alignment scales by the eyes' and the mouth's distances, so an opened jaw or a
        # turned head sits smaller in its crop than the source's face turned in place (self MSE 0.0219 ->
        # 0.0175, face 0.025 -> 0.016, mouth 0.055 -> 0.044 on the 9 held-out people).
        return apply_transform(alignment_transform(lt, self.size), lt)[:, :2].astype(np.float32)

    def render(self, source: FaceImage, driving: FaceImage) -> np.ndarray:
        from realtime.render.framing import OutputLayout
        from realtime.render.mouth import cut_mouth, mesh_loops

        if self._key != source.ref:
            self.flow.install(
                self.flow.prepare(
                    source.rgb, np.eye(2, 3), source.landmarks, OutputLayout.identity(source.rgb.shape)
                )
            )
            self._key = source.ref
        mouth = cut_mouth(driving.rgb, driving.landmarks, *mesh_loops())
        return self.flow.render(self.target(source, driving), mouth)


class MeshFlowOracleMethod(MeshFlowMethod):
    """mesh_flow moved to the driving frame's own landmarks (its aligned crop's), not to landmarks made from its
    AUs and pose: a reference for what a landmark-driven warp can reach on these pairs and estimators. In
    self-reenactment they are the answer; in cross-reenactment they carry the driver's face shape (identity
    falls), so it is never a contender."""

    name = "mesh_flow_oracle"

    def __init__(self, weights: Path, size: int, backend: str) -> None:
        super().__init__(weights, size, backend)
        self.lt_source = "the driving frame's own landmarks (oracle)"

    def target(self, source: FaceImage, driving: FaceImage) -> np.ndarray:
        return np.asarray(driving.landmarks, np.float32)[:, :2]


def build_methods(
    weights: Path, size: int, variant: str, backend: str, oracle: bool = False
) -> tuple[list[Method], dict[str, str]]:
    """Every method that can run, and for each one that cannot, why; with `oracle`, the references
    (REFERENCE_NAMES) after them."""
    methods: list[Method] = []
    skipped: dict[str, str] = {}
    makers: dict[str, Callable[[], Method]] = {
        "facegan": lambda: FaceganMethod(weights, variant, backend),
        "facegan_no_lt": lambda: FaceganNoLtMethod(weights, variant, backend),
        "mesh_warp": lambda: MeshWarpMethod(weights, size, backend),
        "mesh_warp_transfer": lambda: MeshWarpMethod(weights, size, backend, use_lt=False),
        "mesh_flow": lambda: MeshFlowMethod(weights, size, backend),
        "mesh_flow_oracle": lambda: MeshFlowOracleMethod(weights, size, backend),
    }
    for name in METHOD_NAMES + (REFERENCE_NAMES if oracle else ()):
        try:
            methods.append(makers[name]())
        except Exception as exc:  # noqa: BLE001 - a missing/broken weight file skips the method, reported
            skipped[name] = f"{type(exc).__name__}: {exc}"
            log.warning("method %s skipped: %s", name, skipped[name])
    return methods, skipped
