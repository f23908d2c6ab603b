"""`facegan-bench-analysis`: per-frame time of face analysis (mesh + pose + AUs), video mode, on real frames.

Frames come from a real clip (default: the first suitable video of ../shared/data/dev), centre-cropped to the
target aspect and resized to each size. Prints median and p99 per stage and in total; not a test.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from engines.bench import machine_name

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev"
SIZES = ((256, 256), (640, 480))


def find_clip(data: Path) -> Path:
    """A talking-head clip of at least 640 px width from the manifest."""
    manifest = data / "MANIFEST.csv"
    if not manifest.is_file():
        raise SystemExit(f"facegan-bench-analysis: {manifest} not found; pass --video CLIP")
    with manifest.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["kind"] == "video" and int(row["w"] or 0) >= 640 and int(row["nb_frames"] or 0) >= 100:
                return data / row["path"]
    raise SystemExit("facegan-bench-analysis: no video of 640 px or more in the manifest; pass --video CLIP")


def load_frames(path: Path, count: int) -> list[np.ndarray]:
    import av

    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= count:
                break
    if not frames:
        raise SystemExit(f"facegan-bench-analysis: no frame decodes from {path}")
    return frames


def fit(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre-crop to width:height and resize (what a camera at that size would give)."""
    import cv2

    h, w = rgb.shape[:2]
    target = width / height
    if w / h > target:
        cw = round(h * target)
        rgb = rgb[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = round(w / target)
        rgb = rgb[(h - ch) // 2 : (h - ch) // 2 + ch]
    return np.ascontiguousarray(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))


def bench_size(frames: list[np.ndarray], warmup: int, runs: int) -> dict[str, np.ndarray]:
    """Per-frame ms of mesh, pose + AUs (describe) and both, over `runs` frames after `warmup`."""
    from realtime.face import AnalyzerOptions, FaceAnalyzer

    mesh_ms, rest_ms, faces = [], [], 0
    with FaceAnalyzer(AnalyzerOptions(mode="video", max_faces=1)) as analyzer:
        mesh = analyzer._mesh  # timing the stages separately; analyze() is exactly these two calls
        for i in range(warmup + runs):
            rgb = frames[i % len(frames)]
            t0 = time.perf_counter()
            found = mesh.detect(rgb)
            t1 = time.perf_counter()
            if found:
                analyzer.describe(found[0], num_faces=len(found))
            t2 = time.perf_counter()
            if i >= warmup:
                mesh_ms.append((t1 - t0) * 1e3)
                rest_ms.append((t2 - t1) * 1e3)
                faces += bool(found)
    mesh_a, rest_a = np.array(mesh_ms), np.array(rest_ms)
    return {"mesh": mesh_a, "pose+AUs": rest_a, "total": mesh_a + rest_a, "faces": np.array([faces])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="facegan-bench-analysis", description=__doc__)
    p.add_argument(
        "--video", type=Path, default=None, help="clip to take frames from (default: one from the dev data)"
    )
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dev data folder (default: %(default)s)")
    p.add_argument("--frames", type=int, default=300, help="timed frames per size (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=20, help="untimed frames first (default: %(default)s)")
    args = p.parse_args(argv)

    clip = args.video or find_clip(args.data)
    source = load_frames(clip, min(args.frames, 600))
    print(f"clip: {clip} ({len(source)} frames, {source[0].shape[1]}x{source[0].shape[0]})")
    print(f"machine: {machine_name()}; mode: video")
    print(f"{'size':>9} {'stage':>9} {'median ms':>10} {'p99 ms':>8} {'faces':>8}")
    for width, height in SIZES:
        frames = [fit(f, width, height) for f in source]
        res = bench_size(frames, args.warmup, args.frames)
        for stage in ("mesh", "pose+AUs", "total"):
            t = res[stage]
            print(
                f"{width}x{height:<5} {stage:>9} {np.median(t):10.2f} {np.percentile(t, 99):8.2f}"
                f" {int(res['faces'][0]):>4}/{args.frames}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
