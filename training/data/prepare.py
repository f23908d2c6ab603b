"""facegan-prepare: videos, frame folders and photos -> a dataset of aligned face tracks (CONTRACTS.md 3).

Per input file, in a process pool (one input per task, photos in small batches):
  1. analyse every frame on the original image (FaceAnalyzer: video mode for videos and frame folders,
     image mode for photos) and reject small, out-of-frame or blurred faces with a counted reason;
  2. cut the frame sequence into tracks at lost faces, rejected frames, shot cuts (colour-histogram change
     or a jump of the landmarks) and where the face drifts out of the track's one fixed crop;
  3. read the frames again and write each track: crops.mp4, masks.npz, meta.npz, then DONE.
A progress/<key>.json per finished input makes a rerun skip it; dataset.json is written at the end.

This module is the command; its parts live in `training.data.preparation`: inputs (discovery and options), tracks
(pass 1, track cutting, the track writer), process (per input and the pool) and dataset_file (summary,
dataset.json, --refresh-analysis). Their public names are re-exported here.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from realtime.face import AnalyzerOptions, FaceAnalyzer
from training.data.preparation.dataset_file import (
    FORMAT,
    REJECT_UNITS,
    analysis_fingerprint,
    refresh_analysis,
    summarise,
    write_dataset,
)
from training.data.preparation.inputs import (
    InputItem,
    InputResult,
    Kind,
    PrepareOptions,
    discover_inputs,
    input_key,
)
from training.data.preparation.process import (
    load_progress,
    make_tasks,
    process_photos,
    process_sequence,
    run_pool,
    run_task,
    write_progress,
)
from training.data.preparation.tracks import (
    FrameObs,
    TrackWriter,
    colour_histogram,
    crop_inside_fraction,
    face_size,
    observe,
    out_of_frame,
    sharpness,
    split_tracks,
    track_transform,
)

__all__ = [
    "FORMAT",
    "REJECT_UNITS",
    "FrameObs",
    "InputItem",
    "InputResult",
    "Kind",
    "PrepareOptions",
    "TrackWriter",
    "analysis_fingerprint",
    "build_parser",
    "colour_histogram",
    "crop_inside_fraction",
    "discover_inputs",
    "face_size",
    "input_key",
    "load_progress",
    "main",
    "make_tasks",
    "observe",
    "out_of_frame",
    "prepare",
    "print_summary",
    "process_photos",
    "process_sequence",
    "refresh_analysis",
    "run_pool",
    "run_task",
    "sharpness",
    "split_tracks",
    "summarise",
    "track_transform",
    "write_dataset",
    "write_progress",
]

log = logging.getLogger(__name__)


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
