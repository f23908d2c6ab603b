"""Render stage (pure compute): the source is prepared once; per frame a DriveState becomes the output frame.

Once per source photo: analyse it -> aligned 256x256 crop, ls, paste-back transform M, the geometry the
training-free landmark transform needs, and (for blur/picture backgrounds) a person mask.
Per frame: DriveState -> crop renderer (the trained chain LT -> Gr -> Gb when its weights ship, else the
mesh-warp fallback) -> paste back into the full source frame over the chosen background.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from realtime.config import BackgroundMode, Motion, Renderer, SetupError
from realtime.face import FaceAnalysis
from realtime.face.align import (
    CROP_SIZE,
    PasteBack,
    alignment_transform,
    apply_transform,
    warp_to_crop,
)
from realtime.face.types import AU, AU_ORDER, POSE_SCALE_DEG
from realtime.render.landmark_transfer import SourceGeometry, transfer
from realtime.render.meshflow import MeshFlow, OutputLayout
from realtime.sources.picture import MAX_SIDE
from realtime.stages.driving import DriveState

MAX_SOURCE_SIDE = MAX_SIDE
"""A source photo with a longer side is scaled down to it once, on arrival (a 12000x9000 photo would cost
gigabytes and seconds a frame, for detail no output frame shows): the picture reader's limit, for arrays that
did not come through it."""

log = logging.getLogger(__name__)


class Analyzer(Protocol):
    def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> FaceAnalysis | None: ...


@dataclass(frozen=True)
class PreparedSource:
    image: np.ndarray
    """(H, W, 3) uint8 RGB, the full source photo."""
    face: FaceAnalysis
    crop: np.ndarray
    """(S, S, 3) uint8 RGB aligned crop."""
    ls_px: np.ndarray
    """(478, 2) float32 source landmarks in crop pixels."""
    transform: np.ndarray
    """M (2, 3): photo pixels -> crop pixels."""
    geometry: SourceGeometry


def prepare_source(rgb: np.ndarray, analyzer: Analyzer, size: int = CROP_SIZE) -> PreparedSource:
    h, w = rgb.shape[:2]
    if max(h, w) > MAX_SOURCE_SIDE:
        s = MAX_SOURCE_SIDE / max(h, w)
        rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        log.info(
            "source photo %dx%d scaled down to %dx%d (MAX_SOURCE_SIDE)", w, h, rgb.shape[1], rgb.shape[0]
        )
    face = analyzer.analyze(rgb)
    if face is None:
        raise SetupError("no face found in the source photo: use a photo with one clearly visible face")
    for line in source_warnings(face):
        log.warning("source photo: %s", line)
    m = alignment_transform(face.landmarks, size)
    crop = warp_to_crop(rgb, m, size)
    ls_px = apply_transform(m, face.landmarks)[:, :2]
    return PreparedSource(rgb, face, crop, ls_px, m, SourceGeometry.from_landmarks(face.landmarks, m))


SMALL_FACE_IOD_PX = 40.0
"""Below this many pixels between the eyes the photo's face is small: the output cannot be sharper."""
TURNED_DEG = 45.0
OPEN_MOUTH_AU26 = 0.5
CLOSED_EYES_AU45 = 0.6


def source_warnings(face: FaceAnalysis) -> list[str]:
    """What about a source photo limits the result (a best effort follows each): one line per problem."""
    lines = []
    lm = np.asarray(face.landmarks)
    iod = float(np.linalg.norm(lm[263, :2] - lm[33, :2]))
    if iod < SMALL_FACE_IOD_PX:
        lines.append(
            f"the face is small ({iod:.0f} px between the eyes, under {SMALL_FACE_IOD_PX:.0f}): the output "
            "will be soft; a closer or larger photo looks better"
        )
    yaw, pitch = face.pose.yaw, face.pose.pitch
    if max(abs(yaw), abs(pitch)) > TURNED_DEG:
        lines.append(
            f"the face is turned (yaw {yaw:.0f}, pitch {pitch:.0f} degrees): its far side is not in the photo "
            "and stays hidden; a photo facing the camera looks better"
        )
    if face.aus[AU_ORDER.index(AU.AU26)] > OPEN_MOUTH_AU26:
        lines.append("the mouth is open: relative motion keeps it open where the driver's is at rest")
    if face.aus[AU_ORDER.index(AU.AU45)] > CLOSED_EYES_AU45:
        lines.append("the eyes are closed: there are no open eyes to show; a photo with open eyes looks better")
    return lines


class CropRenderer(Protocol):
    name: str

    def set_source(self, src: PreparedSource) -> None: ...

    def render(self, src: PreparedSource, drive: DriveState) -> np.ndarray:
        """(S, S, 3) uint8 RGB face crop."""
        ...


class MeshWarpCrop:
    """Training-free: driver landmark motion -> lt (landmark_transfer) -> piecewise-affine mesh warp."""

    name = "meshwarp"

    def __init__(self, size: int = CROP_SIZE) -> None:
        from realtime.render.meshwarp import MeshWarpRenderer

        self._warp = MeshWarpRenderer(size=size)

    def set_source(self, src: PreparedSource) -> None:
        pass

    def target_landmarks(self, src: PreparedSource, drive: DriveState) -> np.ndarray:
        w = drive.weight  # 0 = neutral source: no expression, no rotation
        expr = np.zeros_like(src.geometry.canonical) if drive.expression is None else drive.expression * w
        return transfer(src.geometry, expr, drive.pose_delta * w)

    def render(self, src: PreparedSource, drive: DriveState) -> np.ndarray:
        return self._warp.render(src.crop, src.ls_px, self.target_landmarks(src, drive))


class ChainCrop:
    """The trained networks (engines.chain.ReenactmentChain) on the driving vector AUd."""

    name = "chain"

    def __init__(self, weights_dir: Path, model: str, backend: str) -> None:
        from engines.chain import ReenactmentChain

        self._chain = ReenactmentChain(weights_dir, model, backend)  # type: ignore[arg-type]
        self._chain.__enter__()
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
        self._chain.close()


class FrameRenderer(Protocol):
    """A renderer that draws the whole output frame itself (at the photo's own resolution)."""

    name: str

    def set_source(self, src: PreparedSource, layout: OutputLayout) -> None: ...

    def set_background(self, background: np.ndarray | None, person: np.ndarray | None) -> None: ...

    def render_frame(self, src: PreparedSource, drive: DriveState) -> np.ndarray:
        """(H, W, 3) uint8 RGB output frame."""
        ...


class MeshFlowFrame:
    """The mesh-flow renderer (realtime.render.meshflow) on landmarks from the driver, through LT.

    relative (the default): lt = the driver's own landmark motion put on the source (landmark_transfer, exact
    and sharp) plus the user's AU edits, with AUd = the photo's own AUs + (driver AUs - driver neutral): the
    edit (AUd edited - AUd) moves the face along the shipped AU basis (training.au.basis, fitted from the
    data: the teacher sees 0.52 of an AU12 edit land, LT's answer 0.21; au_basis.md), or, without the
    basis, LT(ls, AUd edited) - LT(ls, AUd). So "AU12 +0.5" widens the photo's smile and "AU45 locked at
    1" shuts its eyes, whatever the driver does.
    absolute (the paper's mode): lt = LT(ls, the driver's AUs and pose as measured, edited)."""

    name = "meshflow"

    def __init__(self, weights_dir: Path, backend: str, motion: Motion = "relative") -> None:
        from engines import open_runner

        self.motion = motion
        self._flow = MeshFlow(CROP_SIZE)
        self._lt = None
        lt_path = weights_dir / "lt.onnx"
        if lt_path.is_file():
            self._lt = open_runner(lt_path, backend if backend != "auto" else "onnxruntime")  # type: ignore[arg-type]
            self._lt.activate()
        elif motion == "absolute":
            raise SetupError(
                f"--motion absolute needs the landmark transformer {lt_path}, which is not there"
            )
        else:
            log.warning("no %s: AU edits cannot change the expression (only head-angle edits act)", lt_path)
        self.name = f"meshflow ({motion})"
        self._ls_n: np.ndarray | None = None
        basis_path = weights_dir / "au_basis.npy"
        self._basis: np.ndarray | None = None
        """(17, 478, 3) how each AU moves the face (training.au.basis): the AU edits of relative motion."""
        if basis_path.is_file():
            self._basis = np.load(basis_path).astype(np.float32)

    def set_source(self, src: PreparedSource, layout: OutputLayout) -> None:
        self._flow.set_source(src.image, src.transform, src.ls_px, layout)
        self._ls_n = (src.ls_px / CROP_SIZE * 2.0 - 1.0).astype(np.float32)[None]  # (1, 478, 2)

    def set_background(self, background: np.ndarray | None, person: np.ndarray | None) -> None:
        self._flow.set_background(background, person)

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
        if d is None:
            return src.ls_px.astype(np.float32)
        edits = drive.edits
        if self.motion == "absolute":
            aus, pose = (d.aus, d.pose) if edits is None else edits.apply(d.aus, d.pose)
            aus, pose = w * aus + (1 - w) * own_aus, w * pose + (1 - w) * own_pose
            return self._run_lt(np.concatenate([aus, pose / POSE_SCALE_DEG])[None])[0]
        aud = np.clip(own_aus + d.aus_delta, 0.0, 1.0).astype(np.float32)
        expr = d.expression
        if self._basis is not None and edits is not None:
            edited, _ = edits.apply(aud, np.zeros(3, np.float32))
            change = np.clip(edited, 0.0, 1.0) - aud
            if np.abs(change).max() > 1e-3:
                expr = expr + np.tensordot(change, self._basis, axes=1)
            return transfer(src.geometry, expr * w, drive.pose_delta * w)
        lt = transfer(src.geometry, expr * w, drive.pose_delta * w)
        if self._lt is not None and edits is not None:
            edited, _ = edits.apply(aud, np.zeros(3, np.float32))
            if np.abs(edited - aud).max() > 1e-3:
                pose = np.broadcast_to(own_pose / POSE_SCALE_DEG, (2, 3))
                pair = self._run_lt(np.concatenate([np.stack([edited, aud]), pose], axis=1))
                lt = lt + w * (pair[0] - pair[1])
        return lt

    def render_frame(self, src: PreparedSource, drive: DriveState) -> np.ndarray:
        mouth = drive.driver.mouth if drive.driver is not None else None
        return self._flow.render(self.target_landmarks(src, drive), mouth)

    def close(self) -> None:
        if self._lt is not None:
            self._lt.deactivate()
            self._lt = None


def make_crop_renderer(
    weights_dir: Path, model: str, backend: str, renderer: Renderer = "auto", motion: Motion = "relative"
) -> CropRenderer | FrameRenderer:
    """facegan: the trained chain (its weights must ship); meshflow: the full-resolution mesh flow with the
    driver's mouth; meshwarp: the training-free crop warp; auto: what the shipped weights recommend
    (renderer.json, decided by facegan-evaluate --decide), else the chain when its weights ship, else the mesh
    warp. Every choice is said in the log."""
    choice = renderer if renderer != "auto" else recommended_renderer(weights_dir)
    if choice == "meshflow":
        log.info("rendering with the mesh flow, %s motion (--renderer %s)", motion, renderer)
        return MeshFlowFrame(weights_dir, backend, motion)
    if choice == "meshwarp":
        log.info("rendering with the training-free mesh warp (--renderer %s)", renderer)
        return MeshWarpCrop()
    if (weights_dir / f"gr_{model}.onnx").is_file():
        try:
            return ChainCrop(weights_dir, model, backend)
        except Exception as e:
            if renderer == "facegan":
                raise SetupError(f"the trained {model} networks could not start: {e}") from e
            log.warning("trained %s chain could not start (%s): using the mesh-warp fallback", model, e)
    elif renderer == "facegan":
        raise SetupError(f"--renderer facegan needs gr_{model}.onnx in {weights_dir}, which is not there")
    else:
        log.info(
            "no trained weights (gr_%s.onnx) in %s: rendering with the training-free mesh-warp fallback",
            model,
            weights_dir,
        )
    return MeshWarpCrop()


def recommended_renderer(weights_dir: Path) -> str:
    """renderer.json beside the weights names the renderer that measured best with them; without it, the
    trained chain is preferred. A malformed file is reported, and ignored."""
    path = weights_dir / "renderer.json"
    if not path.is_file():
        return "facegan"
    try:
        choice = json.loads(path.read_text())["default"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("%s is unreadable (%s): preferring the trained networks", path, e)
        return "facegan"
    if choice not in ("facegan", "meshwarp", "meshflow"):
        log.warning("%s names an unknown renderer %r: preferring the trained networks", path, choice)
        return "facegan"
    log.info("renderer %s, as %s recommends for these weights", choice, path.name)
    return str(choice)


def person_mask(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1]: MediaPipe selfie segmentation, softened at the edge."""
    import mediapipe as mp

    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        mask = seg.process(rgb).segmentation_mask
    mask = cv2.GaussianBlur(np.clip(mask.astype(np.float32), 0, 1), (0, 0), 3)
    return mask


def background_frame(src: PreparedSource, mode: BackgroundMode, picture: np.ndarray | None) -> np.ndarray:
    h, w = src.image.shape[:2]
    if mode is BackgroundMode.BLUR:
        return cv2.GaussianBlur(src.image, (0, 0), max(h, w) / 40)
    if mode is BackgroundMode.IMAGE and picture is not None:
        return cv2.resize(picture, (w, h), interpolation=cv2.INTER_AREA)
    return src.image


class RenderStage:
    """DriveState -> full output frame (H, W, 3) uint8 RGB.

    The output's size is fixed for the stage's life: `size` (the user's --size), else the first source
    photo's. A later source of another size is fitted into it (OutputLayout.fit), so every open sink keeps
    receiving frames of the size it was opened with."""

    def __init__(
        self,
        renderer: CropRenderer | FrameRenderer,
        src: PreparedSource,
        feather: float = 0.08,
        size: tuple[int, int] | None = None,
    ) -> None:
        self.renderer = renderer
        self._feather = feather
        self._bg_key: tuple[object, ...] | None = None
        self._base = src.image
        self._alpha: np.ndarray | None = None
        self.size: tuple[int, int] = size or (int(src.image.shape[1]), int(src.image.shape[0]))
        """(width, height) of every output frame."""
        self.set_source(src)

    def set_source(self, src: PreparedSource) -> None:
        self.src = src
        h, w = src.image.shape[:2]
        if (w, h) == self.size:
            self.layout = OutputLayout.identity(src.image.shape)
        else:
            centre = src.face.landmarks[:, :2].mean(axis=0)
            self.layout = OutputLayout.fit(src.image.shape, self.size, centre)
        if _draws_frames(self.renderer):
            self.renderer.set_source(src, self.layout)
        else:
            self.renderer.set_source(src)
            self._paste = PasteBack(src.transform, src.image.shape, src.crop.shape[0], self._feather)
        self._bg_key = None  # recompute the background for the new photo

    def set_background(self, mode: BackgroundMode, picture: np.ndarray | None) -> None:
        key = (id(self.src), mode, id(picture))
        if key == self._bg_key:
            return
        self._bg_key = key
        if mode is BackgroundMode.SOURCE:
            self._base, self._alpha = self.src.image, None
            if _draws_frames(self.renderer):
                self.renderer.set_background(None, None)
            return
        self._base = background_frame(self.src, mode, picture)
        self._alpha = person_mask(self.src.image)[..., None]  # (H, W, 1)
        if _draws_frames(self.renderer):
            base_out = self._to_output(self._base)
            self.renderer.set_background(base_out, self._alpha[..., 0])

    def _to_output(self, frame: np.ndarray) -> np.ndarray:
        if self.layout.size == (frame.shape[1], frame.shape[0]) and np.allclose(
            self.layout.transform, np.eye(2, 3)
        ):
            return frame
        return cv2.warpAffine(
            frame,
            self.layout.transform,
            self.layout.size,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )

    def __call__(self, drive: DriveState) -> np.ndarray:
        if _draws_frames(self.renderer):
            return self.renderer.render_frame(self.src, drive)
        crop = self.renderer.render(self.src, drive)
        frame = self._paste(self.src.image, crop)
        if self._alpha is not None:
            out = frame * self._alpha + self._base * (1.0 - self._alpha)
            frame = np.clip(out + 0.5, 0, 255).astype(np.uint8)
        return self._to_output(frame)


def _draws_frames(renderer: object) -> bool:
    return hasattr(renderer, "render_frame")
