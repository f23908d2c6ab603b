"""Render stage (pure compute): the source is prepared once; per frame a DriveState becomes the output frame.

Once per source photo: analyse it -> aligned 256x256 crop, ls, paste-back transform M, the geometry the
training-free landmark transform needs, and (for blur/picture backgrounds) a person mask.
Per frame: DriveState -> crop renderer (the trained chain LT -> Gr -> Gb when its weights ship, else the
mesh-warp fallback) -> paste back into the full source frame over the chosen background.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Protocol, TypeGuard, cast

import cv2
import numpy as np

from realtime.config import BackgroundMode
from realtime.errors import SetupError
from realtime.face import FaceAnalysis
from realtime.face.align import (
    CROP_SIZE,
    PasteBack,
    alignment_transform,
    apply_transform,
    inter_ocular,
    invert_transform,
    similarity_matrix,
    warp_to_crop,
)
from realtime.face.glasses import load_glasses_model
from realtime.face.pose import canonical_frame
from realtime.face.types import AU, AU_ORDER
from realtime.frames import PreparedSource
from realtime.render.eyes import eye_opening
from realtime.render.framing import OutputLayout, surround
from realtime.render.landmark_transfer import SourceGeometry
from realtime.render.neutral import CORNER_FLOOR, LIPS_MIDDLE, corner_lift
from realtime.render.padding import fill_corners, trim_bars
from realtime.render.renderers import CropRenderer, FrameRenderer
from realtime.render.segmentation import person_mask
from realtime.sources.picture import MAX_SIDE
from realtime.stages.driving import DriveState
from realtime.weights import weights_dir

MAX_SOURCE_SIDE = MAX_SIDE
"""A source photo with a longer side is scaled down to it once, on arrival (a 12000x9000 photo would cost
gigabytes and seconds a frame, for detail no output frame shows): the picture reader's limit, for arrays that
did not come through it."""

__all__ = [
    "Analyzer",
    "PreparedSource",
    "RenderStage",
    "prepare_source",
    "source_warnings",
]

log = logging.getLogger(__name__)

MAX_FRAME_ENLARGE = 2.0
"""The most a photo is enlarged into the frame a frame renderer draws (the mesh flow): a photo enlarged further is
drawn into a frame that much smaller and the frame enlarged at the end (bicubic, about 1 ms at 1280x720). Its pixels
hold no more detail either way, and the renderer's work grows with the face's area in the frame: a 150-px photo
(face-api.js's amy2.png) filling a 1280x720 frame took 55 ms a frame, 17 fps."""


class Analyzer(Protocol):
    def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> FaceAnalysis | None: ...

    def analyze_all(self, rgb: np.ndarray) -> list[FaceAnalysis]: ...


def prepare_source(
    rgb: np.ndarray, analyzer: Analyzer, size: int = CROP_SIZE, weights: Path | None = None
) -> PreparedSource:
    """The source photo analysed once: its face (found in windows where it is small), aligned crop, landmarks,
    glasses check (the model in `weights`, default the package's) and the warnings a user sees."""
    rgb, bars = trim_bars(rgb)
    if any(bars):
        log.info("source photo: black bars cut (left, top, right, bottom: %s px)", bars)
    h, w = rgb.shape[:2]
    if max(h, w) > MAX_SOURCE_SIDE:
        s = MAX_SOURCE_SIDE / max(h, w)
        rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        log.info(
            "source photo %dx%d scaled down to %dx%d (MAX_SOURCE_SIDE)", w, h, rgb.shape[1], rgb.shape[0]
        )
    rgb, corners = fill_corners(rgb)
    if corners > 0.0:
        log.info(
            "source photo: black corners filled (%.1f %% of it: a photo turned inside its frame)",
            100 * corners,
        )
    face = find_face(rgb, analyzer)
    if face is None:
        raise SetupError("no face found in the source photo: use a photo with one clearly visible face")
    m = alignment_transform(face.landmarks, size)
    crop = warp_to_crop(rgb, m, size)
    glasses = load_glasses_model(weights or weights_dir())
    if glasses is not None:
        ruler = (
            crop if size == CROP_SIZE else warp_to_crop(rgb, alignment_transform(face.landmarks), CROP_SIZE)
        )
        wears = glasses.wears_glasses(ruler)
    else:
        wears = False
    warnings = tuple(source_warnings(face, wears))
    for line in warnings:
        log.warning("source photo: %s", line)
    ls_px = apply_transform(m, face.landmarks)[:, :2]
    geometry = SourceGeometry.from_landmarks(face.landmarks, m)
    return PreparedSource(rgb, face, crop, ls_px, m, geometry, warnings, wears)


SEARCH_WINDOWS = (0.5, 0.25, 0.125)
"""Where no face is found in the whole photo, square windows of these shares of its longer side (overlapping by
half) are searched, larger first: the face detector looks at the whole picture at a small size, and a face a
twentieth of a 4000x3000 photo's width (a group or full-length shot) was "no face found"."""


def find_face(rgb: np.ndarray, analyzer: Analyzer) -> FaceAnalysis | None:
    """The photo's largest face (of several, the largest found again in a crop round it, `found_again`); where
    there is none at the photo's scale, a face found in SEARCH_WINDOWS and found again in a crop round it, from
    the window that holds it most centrally (a face cut by a window's edge is read worse), its landmarks in the
    photo's pixels; None where no window holds one. Its `num_faces`: the faces found again."""
    face = analyzer.analyze(rgb)
    if face is not None and face.num_faces > 1:
        # Asked for several faces, the mesh finds "faces" in a building's facade (face-api.js's happy.jpg: one
        # larger than the woman's, and she stood still while a mouth moved on the wall): the largest face that is
        # found again is taken, the largest as it is where none is.
        found = [f for f in analyzer.analyze_all(rgb) if found_again(rgb, f, analyzer)]
        if found and not np.array_equal(found[0].landmarks, face.landmarks):
            log.info(
                "source photo: %d faces found, the largest not found again: the next is used", face.num_faces
            )
            face = found[0]
        return replace(face, num_faces=max(len(found), 1))  # the faces that are faces, for the warning
    if face is not None:
        return face
    h, w = rgb.shape[:2]
    for share in SEARCH_WINDOWS:
        side = round(share * max(h, w))
        if side < 64 or side >= max(h, w):
            continue
        found_in: list[tuple[float, FaceAnalysis]] = []
        for y0 in _window_starts(h, side):
            for x0 in _window_starts(w, side):
                found = analyzer.analyze(np.ascontiguousarray(rgb[y0 : y0 + side, x0 : x0 + side]))
                if found is None:
                    continue
                xy = found.landmarks[:, :2]
                room = float(min(xy.min(), side - xy[:, 0].max(), side - xy[:, 1].max()))
                lm = found.landmarks.copy()
                lm[:, 0] += x0
                lm[:, 1] += y0
                found_in.append((room, replace(found, landmarks=lm)))
        for _, face in sorted(found_in, key=lambda f: -f[0]):
            if found_again(rgb, face, analyzer):
                log.info("source photo: no face at its own scale; found one in its %d-pixel windows", side)
                return face
    return None


CONFIRM_SIDE = 256
"""A face found in a window is confirmed in a square crop round it (twice its landmarks' extent) at this side."""
CONFIRM_AGREE = 0.04
"""... where the mesh must find it again within this mean distance (inter-ocular units). Asked about some hundred
small windows, the detector found "faces" in smooth colour noise: most were not found again, one was, 0.061 away;
real faces pasted small into a large picture (18-36 px between the eyes) came back 0.013-0.024 away."""


def found_again(rgb: np.ndarray, face: FaceAnalysis, analyzer: Analyzer) -> bool:
    """Whether the mesh finds `face` (landmarks in `rgb`'s pixels) again in a crop round it (CONFIRM_SIDE,
    CONFIRM_AGREE): a face a window search or a several-face photo turned up is a face, not a facade's windows."""
    xy = face.landmarks[:, :2].astype(np.float64)
    extent = float((xy.max(0) - xy.min(0)).max())
    centre = (xy.min(0) + xy.max(0)) / 2
    m = similarity_matrix(centre, 0.0, CONFIRM_SIDE / (2 * extent), np.full(2, CONFIRM_SIDE / 2))
    again = analyzer.analyze(warp_to_crop(rgb, m, CONFIRM_SIDE))  # the crop: twice the face's extent
    if again is None:
        return False
    back = apply_transform(invert_transform(m), again.landmarks)[:, :2]
    iod = max(inter_ocular(xy), 1e-6)
    return float(np.linalg.norm(back - xy, axis=1).mean()) / iod < CONFIRM_AGREE


def _window_starts(length: int, side: int) -> list[int]:
    """Starts of windows `side` long over `length`, half overlapping, the last flush with the end."""
    if side >= length:
        return [0]
    starts = list(range(0, length - side, side // 2))
    return [*starts, length - side]


SMALL_FACE_IOD_PX = 40.0
"""Below this many pixels between the eyes the photo's face is small: the output cannot be sharper."""
TURNED_DEG = 45.0
OPEN_MOUTH_AU26 = 0.5
OPEN_LIPS = 0.2
"""The inner lips' gap at their middle (mesh points 13 and 14), over the distance between the eyes, above which the
photo's mouth is open though the AU head may not read its jaw dropped past OPEN_MOUTH_AU26: 341 of the dataset's
2533 photos (13 %; median 0.09, the mean face 0.105), by eye mid-word, laughing, shouting or baring its teeth.
face-api.js's penny1.png (its tongue out: 0.336, AU26 0.44) and the MEAD M024 photo (a surprised "O": 0.313, AU26
0.44) had no warning, and their mouths were shut at rest."""
CLOSED_EYES_AU45 = 0.6
NARROW_EYES = 0.075
"""An eye opening (`realtime.render.eyes.eye_opening`: lid area over squared corner distance) under which the
photo's eyes are nearly shut, squinting, laughing or mid-blink, though the AU head may not read them closed: 106 of
the dataset's 2441 photos (4.3 %; median 0.19), by eye squints and laughs. The output's eyes cannot open wider than
the photo shows them: they stayed slits under an open-eyed driver (a mid-blink frame of LivePortrait's d8 clip,
opening 0.071, AU45 0.38)."""


def source_warnings(face: FaceAnalysis, glasses: bool = False) -> list[str]:
    """What about a source photo limits the result (a best effort follows each): one line per problem.
    `glasses`: the face wears glasses (`realtime.face.glasses`, read by prepare_source)."""
    lines = []
    lm = np.asarray(face.landmarks)
    iod = inter_ocular(lm)
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
    lips = float(np.linalg.norm(lm[LIPS_MIDDLE[1], :2] - lm[LIPS_MIDDLE[0], :2])) / max(iod, 1e-6)
    if face.aus[AU_ORDER.index(AU.AU26)] > OPEN_MOUTH_AU26 or lips > OPEN_LIPS:
        lines.append(
            "the mouth is open (mid-word, laughing, shouting or baring the teeth): the mesh flow shuts it while "
            "the driver rests, pulling the lips together over "
            "what the photo shows between them (the other renderers keep it open); a photo with the mouth "
            "closed looks better"
        )
    if corner_lift(canonical_frame(lm)) < CORNER_FLOOR:
        lines.append(
            "the mouth is turned down (a frown, a pout or a grimace): the mesh flow lifts it while the driver "
            "rests, but its folds and its chin stay as the photo shows them; a photo with a relaxed mouth looks "
            "better"
        )
    if face.aus[AU_ORDER.index(AU.AU45)] > CLOSED_EYES_AU45:
        lines.append(
            "the eyes are closed: there are no open eyes to show; a photo with open eyes looks better"
        )
    elif min(eye_opening(lm, e) for e in (0, 1)) < NARROW_EYES:
        lines.append(
            "the eyes are nearly shut (squinting, looking down or mid-blink): they cannot open wider than the photo shows "
            "them; a photo with open eyes looks better"
        )
    if face.num_faces > 1:
        lines.append(
            f"the photo shows {face.num_faces} faces: the largest moves, the others stay as they are; a photo "
            "cropped to the face you want looks better"
        )
    if glasses:
        lines.append(
            "the face wears glasses: the skin where their frame sits is held still (the frame keeps its shape), so "
            "the cheeks under the eyes do not lift with a smile; a photo without glasses looks better"
        )
    return lines


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
        self._surround: np.ndarray | None = None
        """The output frame around the photo for the crop renderers (`_to_output`); None: to be made."""
        self.size: tuple[int, int] = size or (int(src.image.shape[1]), int(src.image.shape[0]))
        """(width, height) of every output frame."""
        self._staging = threading.Lock()
        self._staged: tuple[PreparedSource, OutputLayout, object, np.ndarray | None] | None = None
        """What `stage` made ready: the photo, its layout, the renderer's prepared state, the frame round it."""
        self._keep_job: threading.Thread | None = None
        self._keep_ready: tuple[PreparedSource, bool, object | None] | None = None
        """The photo made again for the other keep_expression (`set_keep_expression`): the photo, the value, the
        renderer's prepared state (None: making it failed)."""
        self.set_source(src)

    def _layout_for(self, src: PreparedSource) -> OutputLayout:
        """Where the photo lands in the frame the renderer draws: the output frame, or for a frame renderer and a
        photo enlarged past MAX_FRAME_ENLARGE a frame as much smaller (`__call__` enlarges it to `size`)."""
        h, w = src.image.shape[:2]
        if (w, h) == self.size:
            return OutputLayout.identity(src.image.shape)
        layout = OutputLayout.fit(src.image.shape, self.size, src.face.landmarks)
        k = layout.scale / MAX_FRAME_ENLARGE
        if k <= 1.0 or not _draws_frames(self.renderer):
            return layout
        size = (max(round(self.size[0] / k), 1), max(round(self.size[1] / k), 1))
        return OutputLayout(layout.transform / k, size)

    def stage(self, src: PreparedSource) -> None:
        """Any thread: the heavy part of setting `src` (the mesh flow's photo at rest, the crop renderers' frame
        round the photo), done now while frames are still rendered with the current photo, so the `set_source`
        that follows in the render thread only installs it. A photo uploaded to the page (40-460 ms of work)
        paused the stream that long."""
        layout = self._layout_for(src)
        made, around = None, None
        if _draws_frames(self.renderer):
            prepare = getattr(self.renderer, "prepare", None)
            made = None if prepare is None else prepare(src, layout)
        elif layout.size != (src.image.shape[1], src.image.shape[0]):
            around = surround(src.image, layout)
        with self._staging:
            self._staged = (src, layout, made, around)

    def set_source(self, src: PreparedSource) -> None:
        """`src` from the next frame on: installed at once if `stage` made it ready, else made here."""
        with self._staging:
            staged, self._staged = self._staged, None
        if staged is None or staged[0] is not src:
            staged = (src, self._layout_for(src), None, None)
        _, self.layout, made, around = staged
        self.src = src
        h, w = src.image.shape[:2]
        if _draws_frames(self.renderer):
            install = getattr(self.renderer, "install", None)
            if made is not None and install is not None:
                install(made)
            else:
                self.renderer.set_source(src, self.layout)
        else:
            cast(CropRenderer, self.renderer).set_source(src)
            self._paste = PasteBack(src.transform, src.image.shape, src.crop.shape[0], self._feather)
        self._bg_key = None  # recompute the background for the new photo
        self._base, self._alpha, self._surround = src.image, None, None
        if not _draws_frames(self.renderer) and self.layout.size != (w, h):
            # Around the photo in a frame of another shape, its extension (made once, 60-100 ms at 1280x720);
            # each frame is warped over it where it reaches (`_to_output`).
            self._surround = around if around is not None else surround(src.image, self.layout)

    def set_keep_expression(self, keep: bool) -> None:
        """The photo's expression kept (or taken to rest) by a renderer that can do either (the mesh flow's
        `keep_expression`), called with the wanted value before each frame: on a change the photo is made again
        in a thread beside the stream (the frames go on as they were) and installed by the first call after it is
        ready; a no-op otherwise. Made in the render thread, the page's checkbox stood the stream still 40-460 ms."""
        if getattr(self.renderer, "keep_expression", keep) == keep:
            return
        prepare = getattr(self.renderer, "prepare", None)
        if prepare is None:
            self.renderer.keep_expression = keep  # type: ignore[union-attr]
            self.set_source(self.src)
            return
        with self._staging:
            ready, job = self._keep_ready, self._keep_job
        if ready is not None and ready[0] is self.src and ready[1] == keep:
            if ready[2] is None:
                return  # it failed for this photo (logged once)
            self.renderer.keep_expression = keep  # type: ignore[union-attr]
            self.renderer.install(ready[2])  # type: ignore[union-attr]
            with self._staging:
                self._keep_ready = None
            return
        if job is not None and job.is_alive():
            return
        src, layout = self.src, self.layout

        def make() -> None:
            # A failure leaves the stream with the photo as it is shown; it is tried again for another photo.
            try:
                made = prepare(src, layout, keep)
            except Exception:
                log.exception("keeping the photo's expression (%s) failed", keep)
                made = None
            with self._staging:
                self._keep_ready = (src, keep, made)

        job = threading.Thread(target=make, name="keep-expression", daemon=True)
        with self._staging:
            self._keep_job = job
        job.start()

    def set_background(self, mode: BackgroundMode, picture: np.ndarray | None) -> None:
        key = (id(self.src), mode, id(picture))
        if key == self._bg_key:
            return
        self._bg_key = key
        if mode is BackgroundMode.SOURCE:
            if self._base is not self.src.image or self._alpha is not None:
                self._base, self._alpha, self._surround = self.src.image, None, None
            if _draws_frames(self.renderer):
                self.renderer.set_background(None, None)
            return
        self._base, self._surround = background_frame(self.src, mode, picture), None
        self._alpha = person_mask(self.src.image)[..., None]  # (H, W, 1)
        if _draws_frames(self.renderer):
            base_out = self._to_output(self._base)
            self.renderer.set_background(base_out, self._alpha[..., 0])

    def _to_output(self, frame: np.ndarray) -> np.ndarray:
        if self.layout.size == (frame.shape[1], frame.shape[0]) and np.allclose(
            self.layout.transform, np.eye(2, 3)
        ):
            return frame
        if self._surround is None:  # the first frame after a change of photo or background
            self._surround = surround(self._base, self.layout)
        out = self._surround.copy()
        cv2.warpAffine(
            frame,
            self.layout.transform,
            self.layout.size,
            dst=out,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_TRANSPARENT,
        )
        return out

    def __call__(self, drive: DriveState) -> np.ndarray:
        if _draws_frames(self.renderer):
            frame = self.renderer.render_frame(self.src, drive)
            if (frame.shape[1], frame.shape[0]) != self.size:  # drawn smaller (MAX_FRAME_ENLARGE)
                frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_CUBIC)
            return frame
        crop = cast(CropRenderer, self.renderer).render(self.src, drive)
        frame = self._paste(self.src.image, crop)
        if self._alpha is not None:
            out = frame * self._alpha + self._base * (1.0 - self._alpha)
            frame = np.clip(out + 0.5, 0, 255).astype(np.uint8)
        return self._to_output(frame)


def _draws_frames(renderer: object) -> TypeGuard[FrameRenderer]:
    return hasattr(renderer, "render_frame")
