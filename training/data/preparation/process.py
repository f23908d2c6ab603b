"""Per input (a video, a frame folder, a batch of photos) and the process pool that runs them, resumable."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from realtime.face import AnalyzerOptions, FaceAnalyzer
from realtime.face.align import (
    alignment_transform,
)
from training.data.preparation.inputs import InputItem, InputResult, PrepareOptions
from training.data.preparation.tracks import (
    FrameObs,
    TrackWriter,
    inside_enough,
    observe,
    split_tracks,
    track_entry,
    track_transform,
)
from training.data.segment import CropSegmenter
from training.data.video_io import (
    FolderFrames,
    VideoFrames,
    read_image,
)

log = logging.getLogger(__name__)


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
    tracks = [t for t in split_tracks(obs, opts, rejected) if inside_enough(t, opts, rejected)]  # 2.
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
    res.tracks.append(track_entry(item, writer.folder.name, n, writer.inside))


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
    if not inside_enough([r], opts, rejected):
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
        res = InputResult.failed(item, f"{type(e).__name__}: {e}")
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
                res = InputResult.failed(it, "the worker process died on this input")
                write_progress(out, res)
                results.append(res)
                bar.update(1)
    return results
