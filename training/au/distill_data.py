"""The AU distillation's data (facegan-distill-au, steps 1-2): sample frames of ../shared/data/dev, run the
run-time mesh and the teacher on each, cache what both agree on in an .npz outside the repo."""

from __future__ import annotations

import csv
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------- sampling


@dataclass(frozen=True)
class SampleFrame:
    rgb: np.ndarray
    identity: str
    source: str
    """Path relative to the data folder."""
    index: int
    """Frame index inside a video (0 for images)."""
    kind: str


@dataclass(frozen=True)
class SamplingConfig:
    video_every: int = 3
    """Take every k-th frame of each video."""
    frames_every: int = 2
    """Take every k-th image of the frame folders (rows of kind 'frames')."""
    photos: bool = True
    """Take every still photo."""
    max_frames: int = 0
    """Stop after this many sampled frames (0: no limit); for smoke tests."""


def read_manifest(data_dir: Path) -> list[dict[str, str]]:
    path = data_dir / "MANIFEST.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: --data must be a folder with a MANIFEST.csv")
    with path.open(newline="") as f:
        return [r for r in csv.DictReader(f) if r["kind"] in ("video", "frames", "photo")]


def iter_frames(data_dir: Path, cfg: SamplingConfig) -> Iterator[SampleFrame]:
    """Sampled RGB frames of every usable file in the manifest; unreadable files are logged and skipped."""
    import av

    rows = read_manifest(data_dir)
    frame_rows = [r for r in rows if r["kind"] == "frames"]
    keep_frames = {r["path"] for r in sorted(frame_rows, key=lambda r: r["path"])[:: cfg.frames_every]}
    count = 0
    for row in rows:
        if row["kind"] == "video":
            gen = _video_frames(data_dir / row["path"], cfg.video_every)
        elif row["kind"] == "photo" and cfg.photos or row["path"] in keep_frames:
            gen = _image_frame(data_dir / row["path"])
        else:
            continue
        try:
            for index, rgb in gen:
                yield SampleFrame(rgb, row["identity"], row["path"], index, row["kind"])
                count += 1
                if cfg.max_frames and count >= cfg.max_frames:
                    return
        except (OSError, ValueError, av.error.FFmpegError) as exc:  # a corrupt file must not stop a long run
            log.warning("skipping the rest of %s: %s", row["path"], exc)


def _image_frame(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        log.warning("unreadable image %s", path)
        return
    yield 0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _video_frames(path: Path, every: int) -> Iterator[tuple[int, np.ndarray]]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i % every == 0:
                yield i, frame.to_ndarray(format="rgb24")


# ---------------------------------------------------------------------------------------------- extraction


def same_face(a: np.ndarray, b: np.ndarray, tol: float = 0.25) -> bool:
    """Mesh and teacher found the same face: nose tips within `tol` of the eye-corner distance."""
    iod = float(np.linalg.norm(a[263, :2] - a[33, :2]))
    return float(np.linalg.norm(a[1, :2] - b[1, :2])) < tol * max(iod, 1.0)


def extract(data_dir: Path, cache: Path, cfg: SamplingConfig, teacher_path: Path | None = None) -> Path:
    """Run mesh + teacher on the sampled frames and write the cache .npz; returns its path."""
    from tqdm import tqdm

    from realtime.face.mesh import FaceMesh, MeshOptions
    from training.data.teacher import DEFAULT_TEACHER, Teacher

    out: dict[str, list] = {
        k: [] for k in ("landmarks", "aus", "blendshapes", "pose", "identity", "source", "index", "kind")
    }
    reasons: Counter[str] = Counter()
    names: list[str] | None = None
    t0 = time.perf_counter()
    with (
        FaceMesh(MeshOptions(mode="image", max_faces=4)) as mesh,
        Teacher(teacher_path or DEFAULT_TEACHER) as teacher,
    ):
        for s in tqdm(iter_frames(data_dir, cfg), desc="mesh+teacher", unit="frame", mininterval=5):
            faces = mesh.detect(s.rgb)
            res = teacher.analyze(s.rgb)
            if not faces or res is None:
                reasons["no face (mesh)" if not faces else "no face (teacher)"] += 1
                continue
            if not same_face(faces[0], res.landmarks):
                reasons["mesh and teacher chose different faces"] += 1
                continue
            names = names or sorted(res.blendshapes)
            out["landmarks"].append(faces[0])
            out["aus"].append(res.aus)
            out["blendshapes"].append(np.array([res.blendshapes[n] for n in names], np.float32))
            out["pose"].append(res.pose.as_array())
            for k in ("identity", "source", "index", "kind"):
                out[k].append(getattr(s, k))
    if not out["landmarks"]:
        raise RuntimeError(f"no frame of {data_dir} gave a face to both mesh and teacher ({dict(reasons)})")
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        landmarks=np.stack(out["landmarks"]).astype(np.float32),  # (N, 478, 3) pixels
        aus=np.stack(out["aus"]).astype(np.float32),  # (N, 17) teacher
        blendshapes=np.stack(out["blendshapes"]),  # (N, 52)
        blendshape_names=np.array(names),
        pose=np.stack(out["pose"]).astype(np.float32),  # (N, 3) teacher yaw/pitch/roll
        identity=np.array(out["identity"]),
        source=np.array(out["source"]),
        index=np.array(out["index"], np.int32),
        kind=np.array(out["kind"]),
        sampling=np.array(repr(asdict(cfg))),
        rejected=np.array(repr(dict(reasons))),
    )
    os.replace(tmp, cache)
    log.info(
        "cached %d frames in %.0f s to %s; rejected %s",
        len(out["aus"]),
        time.perf_counter() - t0,
        cache,
        dict(reasons),
    )
    return cache


@dataclass(frozen=True)
class DistillData:
    landmarks: np.ndarray
    """(N, 478, 3) float32 mesh landmarks in pixels."""
    aus: np.ndarray
    """(N, 17) float32 teacher AUs."""
    identity: np.ndarray
    """(N,) str."""
    source: np.ndarray
    kind: np.ndarray
    rejected: str = ""
    extra: dict = field(default_factory=dict)


def load_cache(cache: Path) -> DistillData:
    with np.load(cache, allow_pickle=False) as z:
        return DistillData(
            landmarks=z["landmarks"],
            aus=z["aus"],
            identity=z["identity"],
            source=z["source"],
            kind=z["kind"],
            rejected=str(z["rejected"]),
        )
