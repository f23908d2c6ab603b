"""dataset.json: the run's summary, the analysis fingerprint, and refreshing AUs and poses in place."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from realtime.face import AnalyzerOptions, FaceAnalyzer
from realtime.face.align import (
    apply_transform,
    invert_transform,
)
from training.data.preparation.inputs import InputResult, PrepareOptions
from training.data.preparation.tracks import crop_inside_fraction
from training.data.video_io import (
    IMAGE_EXTENSIONS,
    VideoFrames,
    natural_key,
    read_image,
)

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
