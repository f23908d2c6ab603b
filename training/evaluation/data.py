"""The prepared dataset as evaluation sees it (docs/CONTRACTS.md section 3): `training.data.dataset.open_dataset`
plus per-reason counts of unusable tracks, decoded frames on demand, and who is held out."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from realtime.face.types import HeadPose, driving_vector

if TYPE_CHECKING:
    from training.data.dataset import Dataset, TrackInfo


DEFAULT_VAL_FRACTION = 0.1
"""training.fitting.train's default share of held-out people, used when the weights' spec records none."""


@dataclass(frozen=True)
class DatasetIndex:
    """What `training.data.dataset.open_dataset` reports, plus why each left-out track was left out."""

    root: Path
    crop_size: int
    tracks: tuple[TrackInfo, ...]
    """Complete tracks only (DONE, meta.npz and crops.mp4 present)."""
    problems: dict[str, int]
    """Counted missing pieces (reason -> tracks), never silently dropped."""
    problem_tracks: tuple[tuple[str, str], ...]
    """(track id, reason) for each incomplete track."""
    dataset: Dataset
    """open_dataset's own view, which training's identity split reads."""


def index_dataset(root: Path) -> DatasetIndex:
    """Open the dataset with the project's one reader and count every track it or we cannot use by reason.

    open_dataset reports only the ids of the tracks it ignores; their reason is read back from the track
    folder (`tracks/<id>`, docs/CONTRACTS.md section 3). It does not need crops.mp4, which evaluation does."""
    from training.data.dataset import open_dataset  # deferred: pulls in torch

    try:
        dataset = open_dataset(root)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{root / 'dataset.json'}: a track entry lacks or mistypes {exc}") from exc
    problems = [(tid, _skip_reason(root / "tracks" / tid)) for tid in dataset.skipped]
    tracks = []
    for t in dataset.tracks:
        if not (t.dir / "crops.mp4").is_file():
            problems.append((t.id, "missing crops.mp4"))
            continue
        tracks.append(t)
    counts = Counter(r for _, r in problems)
    return DatasetIndex(root, dataset.crop_size, tuple(tracks), dict(counts), tuple(problems), dataset)


def _skip_reason(tdir: Path) -> str:
    """Why open_dataset ignored a track (its checks, in its order)."""
    if not (tdir / "DONE").is_file():
        return "half-written (no DONE)"
    if not (tdir / "meta.npz").is_file():
        return "missing meta.npz"
    return "no frames (frames < 1)"


class FrameStore:
    """Meta arrays and decoded crops of the tracks, loaded on demand and kept (one pass per track)."""

    def __init__(self, index: DatasetIndex) -> None:
        self.index = index
        self.tracks = {t.id: t for t in index.tracks}
        self._meta: dict[str, dict[str, np.ndarray]] = {}
        self._frames: dict[FrameRef, np.ndarray] = {}

    def meta(self, track: str) -> dict[str, np.ndarray]:
        if track not in self._meta:
            with np.load(self.tracks[track].dir / "meta.npz") as z:
                self._meta[track] = {k: z[k] for k in ("landmarks", "aus", "pose")}
        return self._meta[track]

    def load(self, refs: Iterable[FrameRef]) -> None:
        """Decode every requested frame, each track's video once."""
        import av  # deferred: only needed when frames are read

        wanted: dict[str, set[int]] = defaultdict(set)
        for r in refs:
            if r not in self._frames:
                wanted[r.track].add(r.frame)
        for track, idx in wanted.items():
            last = max(idx)
            with av.open(str(self.tracks[track].dir / "crops.mp4")) as container:
                for i, frame in enumerate(container.decode(video=0)):
                    if i in idx:
                        self._frames[FrameRef(track, i)] = frame.to_ndarray(format="rgb24")
                    if i >= last:
                        break
            missing = [i for i in idx if FrameRef(track, i) not in self._frames]
            if missing:
                raise ValueError(
                    f"track {track}: crops.mp4 has fewer frames than meta says (missing {missing[:5]})"
                )

    def face(self, ref: FrameRef) -> FaceImage:
        m = self.meta(ref.track)
        pose = m["pose"][ref.frame]
        aud = driving_vector(m["aus"][ref.frame], HeadPose(float(pose[0]), float(pose[1]), float(pose[2])))
        lm = m["landmarks"][ref.frame].astype(np.float32)  # (478, 3)
        # The track's least active frame stands for the driver's neutral (run time calibrates one instead).
        neutral = int(np.argmin(m["aus"].sum(axis=1)))
        return FaceImage(
            ref,
            self._frames[ref],
            np.ascontiguousarray(lm[:, :2]),
            aud,
            lm,
            pose.astype(np.float32),
            m["landmarks"][neutral].astype(np.float32),
            m["pose"][neutral].astype(np.float32),
        )

    def aud_all(self, track: str) -> np.ndarray:
        """(T, 20) driving vectors of a whole track (from meta, no decoding)."""
        m = self.meta(track)
        return np.stack(
            [
                driving_vector(a, HeadPose(float(p[0]), float(p[1]), float(p[2])))
                for a, p in zip(m["aus"], m["pose"], strict=True)
            ]
        )


@dataclass(frozen=True, order=True)
class FrameRef:
    track: str
    frame: int


@dataclass(frozen=True)
class FaceImage:
    ref: FrameRef
    rgb: np.ndarray
    """(S, S, 3) uint8 aligned crop."""
    landmarks: np.ndarray
    """(478, 2) float32 crop pixels."""
    aud: np.ndarray
    """(20,) float32 driving vector (17 AUs, pose / 90) from the dataset's run-time analysis."""
    landmarks3d: np.ndarray
    """(478, 3) float32 crop pixels (z in the same scale)."""
    pose: np.ndarray
    """(3,) yaw, pitch, roll in degrees."""
    neutral3d: np.ndarray
    """(478, 3) the track's most neutral frame (lowest AU sum): the driver's calibration stand-in."""
    neutral_pose: np.ndarray
    """(3,) pose of that frame."""


def heldout_identities(dataset: Dataset, weights: Path) -> tuple[set[str], str]:
    """The people training never saw, by training's own rule (`training.data.dataset.split_identities`) with
    the val_fraction and seed recorded in the shipped LT/Gr specs (training defaults when none is)."""
    from training.data.dataset import split_identities

    cfg: dict[str, Any] = {}
    for name in ("lt", "gr_lite", "gr_full"):
        spec = weights / f"{name}.spec.json"
        if spec.is_file():
            try:
                cfg = json.loads(spec.read_text()).get("training", {}).get("config", {}) or {}
            except (json.JSONDecodeError, AttributeError):
                cfg = {}
            if "val_fraction" in cfg:
                break
    fraction, seed = float(cfg.get("val_fraction", DEFAULT_VAL_FRACTION)), int(cfg.get("seed", 0))
    _, val = split_identities(dataset, fraction, seed)
    return {
        t.identity for t in val
    }, f"training.data.dataset.split_identities(val_fraction={fraction}, seed={seed})"
