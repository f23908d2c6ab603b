"""Pass 1 (analyse and reject frames), cutting tracks, and writing a track folder (CONTRACTS.md 3)."""

from __future__ import annotations

import math
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.face import FaceAnalysis, FaceAnalyzer
from realtime.face import topology as topo
from realtime.face.align import (
    EYE_CENTER,
    alignment_transform,
    apply_transform,
    invert_transform,
    similarity_matrix,
    transform_params,
    warp_to_crop,
)
from training.data.preparation.inputs import InputItem, PrepareOptions
from training.data.segment import CropSegmenter, face_hull_mask
from training.data.video_io import (
    CropWriter,
)


@dataclass(frozen=True)
class FrameObs:
    """Pass 1 result for one kept frame."""

    index: int
    analysis: FaceAnalysis
    eye_mid: np.ndarray  # (2,) source pixels
    angle: float
    scale: float  # crop pixels per source pixel
    hist: np.ndarray | None  # hue-saturation histogram (videos and folders only)
    frame_hw: tuple[int, int] = (0, 0)  # the input frame's height and width


# ------------------------------------------------------------------------------------------- pass 1


def face_size(landmarks: np.ndarray) -> float:
    oval = landmarks[list(topo.FACE_OVAL), :2]
    return float((oval.max(axis=0) - oval.min(axis=0)).max())


def out_of_frame(landmarks: np.ndarray, shape: tuple[int, ...]) -> float:
    oval = landmarks[list(topo.FACE_OVAL), :2]
    h, w = shape[:2]
    outside = (oval[:, 0] < 0) | (oval[:, 1] < 0) | (oval[:, 0] >= w) | (oval[:, 1] >= h)
    return float(outside.mean())


def sharpness(crop: np.ndarray, crop_landmarks: np.ndarray) -> float:
    """Variance of the Laplacian of the grey crop inside the face hull (background blur does not count)."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    mask = face_hull_mask(crop_landmarks, crop.shape[0])
    return float(lap[mask].var()) if mask.sum() > 16 else 0.0


def crop_inside_fraction(M: np.ndarray, frame_hw: tuple[int, int], size: int) -> float:
    """Fraction of the (size, size) crop made by M that comes from inside a frame of that height and width."""
    h, w = frame_hw
    if h < 1 or w < 1:
        return 0.0
    inside = cv2.warpAffine(
        np.ones((h, w), np.uint8), M, (size, size), flags=cv2.INTER_NEAREST, borderValue=0
    )
    return float(inside.mean())


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 16], [0, 180, 0, 256])
    return cv2.normalize(hist, hist).astype(np.float32)


def observe(
    rgb: np.ndarray, index: int, analyzer: FaceAnalyzer, opts: PrepareOptions, with_hist: bool
) -> FrameObs | str:
    """Analyse one frame: a FrameObs, or the reason it is rejected."""
    analysis = analyzer.analyze(rgb)
    if analysis is None:
        return "no_face"
    lm = analysis.landmarks
    if face_size(lm) < opts.min_face:
        return "small_face"
    if out_of_frame(lm, rgb.shape) > opts.max_out_of_frame:
        return "face_out_of_frame"
    M = alignment_transform(lm, opts.crop_size)
    crop = warp_to_crop(rgb, M, opts.crop_size)
    if sharpness(crop, apply_transform(M, lm)) < opts.min_sharpness:
        return "blurred"
    angle, scale, _ = transform_params(M)
    eye_mid = apply_transform(invert_transform(M), np.array([EYE_CENTER], np.float64) * opts.crop_size)[0]
    hist = colour_histogram(rgb) if with_hist else None
    return FrameObs(index, analysis, eye_mid.astype(np.float64), angle, scale, hist, rgb.shape[:2])


# ------------------------------------------------------------------------------------------- tracks


def track_transform(obs: list[FrameObs], size: int) -> np.ndarray:
    """The one crop of a track: the median eyes' midpoint, angle and scale of its frames."""
    ref = obs[0].angle
    angles = [ref + math.remainder(o.angle - ref, 2 * math.pi) for o in obs]  # unwrapped around the first
    centre = np.median(np.stack([o.eye_mid for o in obs]), axis=0)
    return similarity_matrix(
        centre,
        float(np.median(angles)),
        float(np.median([o.scale for o in obs])),
        np.array(EYE_CENTER) * size,
    )


def _drifted(M: np.ndarray, o: FrameObs, opts: PrepareOptions) -> bool:
    eye = M[:, :2] @ o.eye_mid + M[:, 2]
    moved = float(np.linalg.norm(eye - np.array(EYE_CENTER) * opts.crop_size)) / opts.crop_size
    scale_change = abs(math.log(o.scale / transform_params(M)[1]))
    return moved > opts.max_drift or scale_change > math.log1p(opts.max_scale_change)


def _is_cut(prev: FrameObs, o: FrameObs, opts: PrepareOptions) -> bool:
    if (
        prev.hist is not None
        and o.hist is not None
        and cv2.compareHist(prev.hist, o.hist, cv2.HISTCMP_CORREL) < opts.cut_histogram
    ):
        return True
    jump = float(np.linalg.norm(o.eye_mid - prev.eye_mid)) * o.scale / opts.crop_size  # in crop sides
    return jump > opts.cut_jump or abs(math.log(o.scale / prev.scale)) > math.log1p(2 * opts.max_scale_change)


def inside_enough(track: list[FrameObs], opts: PrepareOptions, rejected: Counter[str]) -> bool:
    M = track_transform(track, opts.crop_size)
    if opts.min_inside <= 0 or crop_inside_fraction(M, track[0].frame_hw, opts.crop_size) >= opts.min_inside:
        return True
    rejected["crop_out_of_frame"] += len(track)
    return False


def split_tracks(obs: list[FrameObs], opts: PrepareOptions, rejected: Counter[str]) -> list[list[FrameObs]]:
    """Consecutive kept frames -> tracks; breaks at gaps (lost or rejected frames), cuts and drift."""
    tracks: list[list[FrameObs]] = []
    current: list[FrameObs] = []

    def close() -> None:
        if len(current) >= opts.min_track:
            tracks.append(list(current))
        elif current:
            rejected["short_track"] += len(current)
        current.clear()

    for o in obs:
        if current:
            prev = current[-1]
            if (
                o.index != prev.index + 1
                or _is_cut(prev, o, opts)
                or _drifted(track_transform(current, opts.crop_size), o, opts)
            ):
                close()
        current.append(o)
    close()
    return tracks


# ------------------------------------------------------------------------------------------- writing


class TrackWriter:
    """Writes one track folder; DONE last, so a half-written track is recognisable."""

    def __init__(self, folder: Path, M: np.ndarray, size: int, fps: float) -> None:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        self.folder, self.M, self.size = folder, M, size
        self.inside = 0.0
        self._video = CropWriter(folder / "crops.mp4", size, fps=fps)
        self._seg: list[np.ndarray] = []
        self._obs: list[FrameObs] = []

    def add(self, rgb: np.ndarray, o: FrameObs, segmenter: CropSegmenter) -> None:
        if not self._obs:
            self.inside = crop_inside_fraction(self.M, rgb.shape[:2], self.size)
        crop = warp_to_crop(rgb, self.M, self.size)
        lm = apply_transform(self.M, o.analysis.landmarks)
        self._video.write(crop)
        self._seg.append(segmenter.segment(crop, lm))
        self._obs.append(o)

    def finish(self) -> int:
        self._video.close()
        n = len(self._obs)
        np.savez_compressed(self.folder / "masks.npz", seg=np.stack(self._seg).astype(np.uint8))
        np.savez_compressed(
            self.folder / "meta.npz",
            landmarks=np.stack([apply_transform(self.M, o.analysis.landmarks) for o in self._obs]).astype(
                np.float32
            ),
            aus=np.stack([o.analysis.aus for o in self._obs]).astype(np.float32),
            pose=np.stack([o.analysis.pose.as_array() for o in self._obs]).astype(np.float32),
            frame_index=np.array([o.index for o in self._obs], np.int32),
            transform=self.M.astype(np.float64),
        )
        (self.folder / "DONE").write_text(f"{n}\n")
        return n


def track_entry(item: InputItem, track_id: str, frames: int, inside: float) -> dict:
    return {
        "id": track_id,
        "identity": item.identity,
        "source": item.source,
        "kind": item.kind,
        "frames": frames,
        "dir": f"tracks/{track_id}",
        "inside": round(inside, 4),
    }
