"""facegan-prepare: videos, frame folders and photos -> a dataset of aligned face tracks (CONTRACTS.md 3).

Per input file, in a process pool (one input per task, photos in small batches):
  1. analyse every frame on the original image (FaceAnalyzer: video mode for videos and frame folders,
     image mode for photos) and reject small, out-of-frame or blurred faces with a counted reason;
  2. cut the frame sequence into tracks at lost faces, rejected frames, shot cuts (colour-histogram change
     or a jump of the landmarks) and where the face drifts out of the track's one fixed crop;
  3. read the frames again and write each track: crops.mp4, masks.npz, meta.npz, then DONE.
A progress/<key>.json per finished input makes a rerun skip it; dataset.json is written at the end.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import math
import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from realtime.face import AnalyzerOptions, FaceAnalysis, FaceAnalyzer
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
from training.segment import CropSegmenter, face_hull_mask
from training.video_io import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    CropWriter,
    FolderFrames,
    VideoFrames,
    natural_key,
    read_image,
)

log = logging.getLogger(__name__)

Kind = Literal["video", "frames", "photo"]
FORMAT = "facegan-dataset"
REJECT_UNITS = {
    "no_face": "frames",
    "small_face": "frames",
    "face_out_of_frame": "frames",
    "blurred": "frames",
    "short_track": "frames",
    "crop_out_of_frame": "frames",
    "unreadable_frame": "frames",
    "unreadable_file": "files",
    "corrupt_video": "files (frames before the damage are kept)",
    "missing_file": "files",
    "failed": "files",
}


@dataclass(frozen=True)
class PrepareOptions:
    crop_size: int = 256
    """Side of the aligned crops (CONTRACTS.md: 256)."""
    min_face: float = 64.0
    """Smallest face kept: the larger side of the face oval's box, in input pixels."""
    min_sharpness: float = 8.0
    """Smallest variance of the Laplacian of the grey crop inside the face hull; below it a face is blurred."""
    max_out_of_frame: float = 0.3
    """Largest fraction of face-oval points outside the image."""
    max_drift: float = 0.08
    """A track ends when the eyes' midpoint moves more than this fraction of the crop side off the fixed crop."""
    max_scale_change: float = 0.15
    """... or when the face's scale differs from the fixed crop's by more than this fraction."""
    cut_histogram: float = 0.5
    """Shot cut: correlation of consecutive frames' hue-saturation histograms below this."""
    cut_jump: float = 0.15
    """Shot cut: the eyes' midpoint jumps more than this fraction of the crop side in one frame."""
    min_track: int = 4
    """Shorter video / frame-folder tracks are dropped (counted as short_track)."""
    min_inside: float = 0.0
    """Smallest fraction of a track's crop that lies inside the input image (the rest is edge-replicated
    padding; tight photo crops such as UTKFace have about 0.3). Below it a track is dropped
    (crop_out_of_frame). Every track entry records its value as "inside", so training can filter too."""
    photo_batch: int = 24
    """Photos per pool task (each task opens its own MediaPipe objects)."""
    weights_dir: Path | None = None
    """Folder with au_head.onnx and mean_face.npy; None: the shipped weights."""


@dataclass(frozen=True)
class InputItem:
    """One input: a video, a frame folder (files in `paths`) or a photo. Paths are relative to the root."""

    key: str
    kind: Kind
    source: str
    identity: str
    paths: tuple[str, ...]


@dataclass
class InputResult:
    """What one input produced; stored as progress/<key>.json."""

    key: str
    source: str
    kind: str
    identity: str
    frames_in: int = 0
    tracks: list[dict] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)
    error: str | None = None


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


# ------------------------------------------------------------------------------------------- inputs


def input_key(source: str) -> str:
    """A file-name-safe, unique key for an input path."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", source).strip("_")[-60:]
    return f"{slug}-{hashlib.sha1(source.encode()).hexdigest()[:8]}"


def discover_inputs(root: Path) -> tuple[list[InputItem], list[str]]:
    """Inputs from root/MANIFEST.csv if present, else from a walk of root. Returns (inputs, missing paths)."""
    manifest = root / "MANIFEST.csv"
    items = _from_manifest(root, manifest) if manifest.is_file() else _from_walk(root)
    missing = [it.source for it in items if not all((root / p).is_file() for p in it.paths[:1])]
    present = [it for it in items if it.source not in set(missing)]
    return sorted(present, key=lambda it: it.source), missing


def _item(kind: Kind, source: str, identity: str, paths: list[str]) -> InputItem:
    return InputItem(input_key(source), kind, source, identity, tuple(paths))


def _from_manifest(root: Path, manifest: Path) -> list[InputItem]:
    """Rows of kind video / photo are inputs; frames rows are grouped by folder; licence, landmark and
    audio rows are skipped. The identity column names the person."""
    items: list[InputItem] = []
    folders: dict[str, list[str]] = {}
    folder_identity: dict[str, str] = {}
    with manifest.open(newline="") as f:
        for row in csv.DictReader(f):
            kind, path = (row.get("kind") or "").strip(), (row.get("path") or "").strip()
            identity = (row.get("identity") or "").strip() or path
            if kind in ("video", "photo"):
                items.append(_item(kind, path, identity, [path]))  # type: ignore[arg-type]
            elif kind == "frames":
                folder = str(Path(path).parent)
                folders.setdefault(folder, []).append(path)
                folder_identity.setdefault(folder, identity)
    for folder, paths in folders.items():
        items.append(_item("frames", folder, folder_identity[folder], paths))
    return items


def _from_walk(root: Path) -> list[InputItem]:
    """No manifest: every video and photo is its own person; a folder of >= 8 same-prefix numbered images
    is a frame sequence (one person)."""
    items: list[InputItem] = []
    images: dict[Path, list[Path]] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        ext = p.suffix.lower()
        if ext in VIDEO_EXTENSIONS:
            rel = str(p.relative_to(root))
            items.append(_item("video", rel, rel, [rel]))
        elif ext in IMAGE_EXTENSIONS:
            images.setdefault(p.parent, []).append(p)
    for folder, files in images.items():
        rels = [str(f.relative_to(root)) for f in files]
        if _is_frame_sequence(files):
            src = str(folder.relative_to(root))
            items.append(_item("frames", src, src, rels))
        else:
            items.extend(_item("photo", r, r, [r]) for r in rels)
    return items


def _is_frame_sequence(files: list[Path]) -> bool:
    prefixes = {re.sub(r"\d+$", "", f.stem) for f in files}
    return len(files) >= 8 and len(prefixes) == 1 and all(re.search(r"\d+$", f.stem) for f in files)


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


def _inside_enough(track: list[FrameObs], opts: PrepareOptions, rejected: Counter[str]) -> bool:
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


def _track_entry(item: InputItem, track_id: str, frames: int, inside: float) -> dict:
    return {
        "id": track_id,
        "identity": item.identity,
        "source": item.source,
        "kind": item.kind,
        "frames": frames,
        "dir": f"tracks/{track_id}",
        "inside": round(inside, 4),
    }


# ------------------------------------------------------------------------------------------- per input


def _frames_of(
    item: InputItem, root: Path, unreadable: list[Path]
) -> tuple[Iterator[np.ndarray | None], VideoFrames | None]:
    if item.kind == "video":
        reader = VideoFrames(root / item.paths[0])
        return iter(reader), reader
    return FolderFrames(tuple(root / p for p in item.paths)).iter_frames(unreadable), None


def process_sequence(item: InputItem, root: Path, out: Path, opts: PrepareOptions) -> InputResult:
    """A video or frame folder: pass 1 analyses, tracks are split, pass 2 writes them."""
    res = InputResult(item.key, item.source, item.kind, item.identity)
    rejected: Counter[str] = Counter()
    obs: list[FrameObs] = []
    unreadable: list[Path] = []
    frames, reader = _frames_of(item, root, unreadable)
    with FaceAnalyzer(AnalyzerOptions(mode="video", weights_dir=opts.weights_dir)) as analyzer:  # 1.
        for i, rgb in enumerate(frames):
            res.frames_in += 1
            r = observe(rgb, i, analyzer, opts, with_hist=True) if rgb is not None else "unreadable_frame"
            if isinstance(r, str):
                rejected[r] += 1
            else:
                obs.append(r)
    if reader is not None and reader.error:
        rejected["corrupt_video" if reader.frames_read else "unreadable_file"] += 1
        res.error = reader.error
    tracks = [t for t in split_tracks(obs, opts, rejected) if _inside_enough(t, opts, rejected)]  # 2.
    if tracks:
        _write_tracks(item, root, out, opts, tracks, res)  # 3.
    res.rejected = dict(rejected)
    return res


def _write_tracks(
    item: InputItem,
    root: Path,
    out: Path,
    opts: PrepareOptions,
    tracks: list[list[FrameObs]],
    res: InputResult,
) -> None:
    """Pass 2: read the frames again; each frame of a track is warped with the track's fixed transform."""
    plan = {o.index: (t, o) for t, track in enumerate(tracks) for o in track}
    writers: dict[int, TrackWriter] = {}
    fps = 25.0
    frames, reader = _frames_of(item, root, [])
    with CropSegmenter() as segmenter:
        for i, rgb in enumerate(frames):
            if reader is not None:
                fps = reader.fps
            if i not in plan or rgb is None:
                continue
            t, o = plan[i]
            if t not in writers:
                M = track_transform(tracks[t], opts.crop_size)
                writers[t] = TrackWriter(out / "tracks" / f"{item.key}-{t:03d}", M, opts.crop_size, fps)
            writers[t].add(rgb, o, segmenter)
            if o is tracks[t][-1]:
                _finish(item, writers.pop(t), res)
    for w in writers.values():  # a second read that ended early: keep what was written
        _finish(item, w, res)


def _finish(item: InputItem, writer: TrackWriter, res: InputResult) -> None:
    n = writer.finish()
    res.tracks.append(_track_entry(item, writer.folder.name, n, writer.inside))


def process_photos(items: list[InputItem], root: Path, out: Path, opts: PrepareOptions) -> list[InputResult]:
    """Photos: image mode, one 1-frame track each; a progress file is written per photo."""
    results = []
    with (
        FaceAnalyzer(AnalyzerOptions(mode="image", weights_dir=opts.weights_dir)) as analyzer,
        CropSegmenter() as seg,
    ):
        for item in items:
            res = InputResult(item.key, item.source, item.kind, item.identity)
            try:
                _one_photo(item, root, out, opts, analyzer, seg, res)
            except Exception as e:  # a bad photo is counted and reported, never the end of the run
                log.exception("%s failed", item.source)
                res.rejected, res.error, res.tracks = {"failed": 1}, f"{type(e).__name__}: {e}", []
            write_progress(out, res)
            results.append(res)
    return results


def _one_photo(
    item: InputItem,
    root: Path,
    out: Path,
    opts: PrepareOptions,
    analyzer: FaceAnalyzer,
    seg: CropSegmenter,
    res: InputResult,
) -> None:
    rgb = read_image(root / item.paths[0])
    if rgb is None:
        res.rejected, res.error = {"unreadable_file": 1}, "not a readable image"
        return
    res.frames_in = 1
    r = observe(rgb, 0, analyzer, opts, with_hist=False)
    if isinstance(r, str):
        res.rejected = {r: 1}
        return
    rejected: Counter[str] = Counter()
    if not _inside_enough([r], opts, rejected):
        res.rejected = dict(rejected)
        return
    M = alignment_transform(r.analysis.landmarks, opts.crop_size)
    writer = TrackWriter(out / "tracks" / f"{item.key}-000", M, opts.crop_size, 25.0)
    writer.add(rgb, r, seg)
    _finish(item, writer, res)


# ------------------------------------------------------------------------------------------- pool


def write_progress(out: Path, res: InputResult) -> None:
    path = out / "progress" / f"{res.key}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(res)))
    tmp.replace(path)


def load_progress(out: Path, item: InputItem) -> InputResult | None:
    """A finished input's result, if its progress file and all its tracks' DONE markers exist. An input
    that failed (an exception, a dead worker) is tried again."""
    path = out / "progress" / f"{item.key}.json"
    try:
        res = InputResult(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if "failed" not in res.rejected and all((out / t["dir"] / "DONE").is_file() for t in res.tracks):
        return res
    return None


def _clear_tracks(out: Path, key: str) -> None:
    for d in (out / "tracks").glob(f"{key}-*"):
        shutil.rmtree(d, ignore_errors=True)


def _init_worker(log_dir: Path) -> None:
    """Send a worker's stderr (MediaPipe's native log lines, warnings) to OUT/logs/worker-<pid>.log so
    that the progress bar stays readable; the file is there to read when something goes wrong."""
    log_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_dir / f"worker-{os.getpid()}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_task(items: list[InputItem], root: Path, out: Path, opts: PrepareOptions) -> list[InputResult]:
    """One pool task (runs in a worker process with its own MediaPipe objects)."""
    cv2.setNumThreads(1)  # one process per core already
    for it in items:
        _clear_tracks(out, it.key)
    if items[0].kind == "photo":
        return process_photos(items, root, out, opts)
    item = items[0]
    try:
        res = process_sequence(item, root, out, opts)
    except Exception as e:  # a bad file is counted and reported, never the end of the run
        log.exception("%s failed", item.source)
        _clear_tracks(out, item.key)
        res = InputResult(
            item.key,
            item.source,
            item.kind,
            item.identity,
            rejected={"failed": 1},
            error=f"{type(e).__name__}: {e}",
        )
    write_progress(out, res)
    return [res]


def make_tasks(items: list[InputItem], root: Path, photo_batch: int) -> list[list[InputItem]]:
    """Sequences one per task, largest (bytes on disk) first so the pool ends evenly; photos in batches."""

    def size(it: InputItem) -> int:
        return sum((root / p).stat().st_size for p in it.paths if (root / p).is_file())

    seqs = sorted((it for it in items if it.kind != "photo"), key=lambda it: -size(it))
    photos = [it for it in items if it.kind == "photo"]
    return [[it] for it in seqs] + [photos[i : i + photo_batch] for i in range(0, len(photos), photo_batch)]


def run_pool(
    tasks: list[list[InputItem]], root: Path, out: Path, opts: PrepareOptions, workers: int, total: int
) -> list[InputResult]:
    """Runs the tasks; a worker that dies (a crash inside a native library) costs only a retry."""
    import multiprocessing

    from tqdm import tqdm

    results: list[InputResult] = []
    pending = tasks
    with tqdm(total=total, unit="input", desc="prepare", dynamic_ncols=True) as bar:
        if workers == 1:  # in this process: no start-up cost, and a debugger sees everything
            for task in pending:
                results.extend(done := run_task(task, root, out, opts))
                bar.update(len(done))
            return results
        for _attempt in range(3):
            failed: list[list[InputItem]] = []
            ctx = multiprocessing.get_context("spawn")  # never fork a process that has loaded MediaPipe
            logs = (out / "logs",)
            with ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=_init_worker, initargs=logs
            ) as pool:
                futures = {pool.submit(run_task, t, root, out, opts): t for t in pending}
                for fut in as_completed(futures):
                    try:
                        done = fut.result()
                    except BrokenProcessPool:
                        failed.append(futures[fut])
                        continue
                    results.extend(done)
                    bar.update(len(done))
                    bar.set_postfix(tracks=sum(len(r.tracks) for r in results), refresh=False)
            pending = [[it for it in t if load_progress(out, it) is None] for t in failed]
            pending = [t for t in pending if t]
            if not pending:
                break
            log.warning("a worker process died; retrying %d task(s)", len(pending))
        for task in pending:
            for it in task:
                res = InputResult(
                    it.key,
                    it.source,
                    it.kind,
                    it.identity,
                    rejected={"failed": 1},
                    error="the worker process died on this input",
                )
                write_progress(out, res)
                results.append(res)
                bar.update(1)
    return results


# ------------------------------------------------------------------------------------------- summary


def summarise(results: list[InputResult], missing: list[str], wall_s: float) -> dict:
    rejected: Counter[str] = Counter({"missing_file": len(missing)} if missing else {})
    by_kind: dict[str, Counter[str]] = {}
    for r in results:
        rejected.update(r.rejected)
        k = by_kind.setdefault(r.kind, Counter())
        k.update(
            inputs=1, tracks=len(r.tracks), frames=sum(t["frames"] for t in r.tracks), frames_in=r.frames_in
        )
    errors = [{"source": r.source, "error": r.error} for r in results if r.error]
    errors += [{"source": m, "error": "listed in MANIFEST.csv but missing"} for m in missing]
    return {
        "inputs": len(results) + len(missing),
        "tracks": sum(len(r.tracks) for r in results),
        "frames": sum(t["frames"] for r in results for t in r.tracks),
        "identities": len({t["identity"] for r in results for t in r.tracks}),
        "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
        "rejected": dict(sorted(rejected.items())),
        "rejected_units": {k: REJECT_UNITS.get(k, "frames") for k in sorted(rejected)},
        "errors": errors,
        "wall_s_this_run": round(wall_s, 1),
    }


def analysis_fingerprint(weights_dir: Path | None) -> dict[str, str]:
    """sha256 of the AU head and mean face that gave a dataset's AUs and poses (provenance)."""
    from realtime.weights import weights_dir as shipped

    folder = weights_dir or shipped()
    return {
        f"{name}_sha256": hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in ("au_head.onnx", "mean_face.npy")
    }


def write_dataset(out: Path, results: list[InputResult], summary: dict, opts: PrepareOptions) -> Path:
    order = sorted(results, key=lambda r: r.source)
    meta = {
        "format": FORMAT,
        "version": 1,
        "crop_size": opts.crop_size,
        "tracks": [t for r in order for t in sorted(r.tracks, key=lambda t: t["id"])],
        "summary": summary,
        "analysis": analysis_fingerprint(opts.weights_dir),
    }
    return _write_json(out / "dataset.json", meta)


def _write_json(path: Path, obj: dict) -> Path:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    tmp.replace(path)
    return path


def _source_hw(root: Path, entry: dict) -> tuple[int, int]:
    """Height and width of a track's input frames, as preparation read them (first frame / the photo)."""
    src = root / entry["source"]
    if entry["kind"] == "video":
        first = next(iter(VideoFrames(src)), None)
    elif entry["kind"] == "frames":
        files = sorted(
            (f for f in src.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS),
            key=lambda f: natural_key(f.name),
        )
        first = read_image(files[0]) if files else None
    else:
        first = read_image(src)
    return (0, 0) if first is None else first.shape[:2]


def refresh_analysis(out: Path, weights_dir: Path | None, root: Path | None = None) -> int:
    """Recompute the AUs and poses of every finished track from its stored landmarks with the current AU
    head and mean face, without decoding anything again. Exact: the crop landmarks mapped back through the
    track's transform are the analysed ones (up to float32), and pose and AU features come from a rigid
    fit of those. With `root` (the input folder), tracks without an "inside" entry get one (datasets made
    before it existed). Returns the number of frames refreshed."""
    from tqdm import tqdm

    path = out / "dataset.json"
    meta = json.loads(path.read_text())
    analyzer = FaceAnalyzer(AnalyzerOptions(weights_dir=weights_dir))  # describe() needs no mesh: not entered
    frames = 0
    for t in tqdm(meta["tracks"], unit="track", desc="refresh AUs and pose"):
        folder = out / t["dir"]
        if not (folder / "DONE").is_file():
            continue
        with np.load(folder / "meta.npz") as m:
            arrays = {k: m[k] for k in m.files}
        inv = invert_transform(arrays["transform"])
        if root is not None and "inside" not in t:
            t["inside"] = round(
                crop_inside_fraction(arrays["transform"], _source_hw(root, t), meta["crop_size"]), 4
            )
        described = [analyzer.describe(apply_transform(inv, lm)) for lm in arrays["landmarks"]]
        arrays["aus"] = np.stack([a.aus for a in described]).astype(np.float32)  # (T, 17)
        arrays["pose"] = np.stack([a.pose.as_array() for a in described]).astype(np.float32)  # (T, 3)
        with open(folder / "meta.tmp.npz", "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(folder / "meta.tmp.npz", folder / "meta.npz")
        frames += len(described)
    meta["analysis"] = analysis_fingerprint(weights_dir)
    _write_json(path, meta)
    return frames


def prepare(
    root: Path, out: Path, opts: PrepareOptions, workers: int = 1, max_files: int | None = None
) -> dict:
    """The whole preparation; returns the summary (also stored in out/dataset.json)."""
    start = time.monotonic()
    items, missing = discover_inputs(root)
    if max_files is not None:
        items = items[:max_files]
    (out / "progress").mkdir(parents=True, exist_ok=True)
    (out / "tracks").mkdir(exist_ok=True)
    done = {it.key: res for it in items if (res := load_progress(out, it)) is not None}
    todo = [it for it in items if it.key not in done]
    log.info(
        "%d inputs (%d already done, %d missing files), %d to process",
        len(items),
        len(done),
        len(missing),
        len(todo),
    )
    results = list(done.values())
    if todo:
        results += run_pool(make_tasks(todo, root, opts.photo_batch), root, out, opts, workers, len(todo))
    summary = summarise(results, missing, time.monotonic() - start)
    write_dataset(out, results, summary, opts)
    return summary


# ------------------------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    d = PrepareOptions()
    p = argparse.ArgumentParser(
        prog="facegan-prepare",
        description="Turn videos, frame folders and photos into a dataset of aligned 256x256 face tracks "
        "(crops.mp4, masks.npz, meta.npz per track; dataset.json). Identities come from INPUT_DIR/MANIFEST.csv "
        "(identity column; frames rows grouped by folder) or else each file is its own person. Resumable: "
        "finished inputs are skipped on a rerun.",
        epilog="Rejected frames are counted by reason in the summary: no_face, small_face, face_out_of_frame, "
        "blurred, short_track, crop_out_of_frame, unreadable_frame (frames); unreadable_file, corrupt_video, missing_file, failed "
        "(files). Several faces in a frame: the largest is used.",
    )
    p.add_argument(
        "input_dir", type=Path, metavar="INPUT_DIR", help="folder of videos, frame folders and photos"
    )
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="dataset folder (created; reused to resume)")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)"
    )
    p.add_argument(
        "--max-files", type=int, default=None, help="process only the first N inputs (sorted by path)"
    )
    p.add_argument(
        "--min-face", type=float, default=d.min_face, help="smallest face side in input pixels (%(default)s)"
    )
    p.add_argument(
        "--min-sharpness",
        type=float,
        default=d.min_sharpness,
        help="smallest Laplacian variance inside the face; lower is blurred (%(default)s)",
    )
    p.add_argument(
        "--min-track", type=int, default=d.min_track, help="shortest video track kept (%(default)s)"
    )
    p.add_argument(
        "--max-drift",
        type=float,
        default=d.max_drift,
        help="eye movement, in crop sides, that ends a track's fixed crop (%(default)s)",
    )
    p.add_argument(
        "--max-scale-change",
        type=float,
        default=d.max_scale_change,
        help="face scale change that ends a track's fixed crop (%(default)s)",
    )
    p.add_argument(
        "--weights-dir", type=Path, default=None, help="folder with au_head.onnx and mean_face.npy"
    )
    p.add_argument(
        "--min-inside",
        type=float,
        default=d.min_inside,
        help="smallest fraction of a track's crop inside the input image; the rest is edge-replicated "
        "(%(default)s: keep all; each track records its value as 'inside' in dataset.json)",
    )
    p.add_argument(
        "--refresh-analysis",
        action="store_true",
        help="only recompute AUs and pose of an existing OUT_DIR from its stored landmarks with the current "
        "AU head and mean face (after retraining them), and add 'inside' to tracks that lack it; no crop "
        "is made again",
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="log each step (workers log to OUT_DIR/logs/)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    os.environ.setdefault("GLOG_minloglevel", "2")  # inherited by the workers: quiet MediaPipe
    if not args.input_dir.is_dir():
        print(f"facegan-prepare: input folder {args.input_dir} does not exist", file=sys.stderr)
        return 2
    opts = PrepareOptions(
        min_face=args.min_face,
        min_sharpness=args.min_sharpness,
        min_track=args.min_track,
        min_inside=args.min_inside,
        max_drift=args.max_drift,
        max_scale_change=args.max_scale_change,
        weights_dir=args.weights_dir,
    )
    try:
        FaceAnalyzer(AnalyzerOptions(weights_dir=opts.weights_dir))  # fail now, not in every worker
    except (FileNotFoundError, ValueError) as e:
        print(f"facegan-prepare: {e}", file=sys.stderr)
        return 2
    if args.refresh_analysis:
        if not (args.out_dir / "dataset.json").is_file():
            print(f"facegan-prepare: {args.out_dir} holds no dataset.json to refresh", file=sys.stderr)
            return 2
        frames = refresh_analysis(args.out_dir, opts.weights_dir, args.input_dir)
        print(f"refreshed AUs and pose of {frames} frames")
        return 0
    summary = prepare(
        args.input_dir, args.out_dir, opts, workers=max(1, args.workers), max_files=args.max_files
    )
    print_summary(summary, args.out_dir)
    return 0


def print_summary(s: dict, out: Path) -> None:
    print(f"dataset: {out / 'dataset.json'}")
    print(
        f"inputs {s['inputs']}, tracks {s['tracks']}, frames {s['frames']}, identities {s['identities']}, "
        f"wall {s['wall_s_this_run']} s"
    )
    for kind, c in s["by_kind"].items():
        print(
            f"  {kind:7s} inputs {c.get('inputs', 0):5d}  frames read {c.get('frames_in', 0):6d}  "
            f"tracks {c.get('tracks', 0):5d}  frames kept {c.get('frames', 0):6d}"
        )
    print(
        "rejected: "
        + (", ".join(f"{k} {v} {s['rejected_units'][k]}" for k, v in s["rejected"].items()) or "none")
    )
    for e in s["errors"][:20]:
        print(f"  {e['source']}: {e['error']}")
    if len(s["errors"]) > 20:
        print(f"  ... {len(s['errors']) - 20} more in dataset.json")


if __name__ == "__main__":
    sys.exit(main())
