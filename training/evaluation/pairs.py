"""The seeded source/driving pairs of each protocol: self-reenactment, cross-reenactment and LSIM."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from training.evaluation.data import FrameRef, FrameStore

if TYPE_CHECKING:
    from training.data.dataset import TrackInfo


@dataclass(frozen=True)
class Pair:
    kind: Literal["self", "cross", "lsim"]
    source: FrameRef
    driving: FrameRef
    target: FrameRef | None = None
    """LSIM only: the second image of the source person."""


@dataclass(frozen=True)
class PairPlan:
    self_pairs: tuple[Pair, ...]
    cross_pairs: tuple[Pair, ...]
    lsim_pairs: tuple[Pair, ...]
    skipped: dict[str, int]


@dataclass(frozen=True)
class Budget:
    self_per_track: int
    max_self: int
    cross: int
    lsim: int
    lsim_per_person: int
    grid_rows: int
    video_pairs: int
    video_frames: int
    live_pairs: int = 9
    """Live protocol: (source photo, driving clip) pairs, one per held-out driver at most."""
    live_frames: int = 120
    """Live protocol: driving frames per pair."""


QUICK = Budget(
    self_per_track=1,
    max_self=3,
    cross=3,
    lsim=2,
    lsim_per_person=1,
    grid_rows=3,
    video_pairs=1,
    video_frames=6,
    live_pairs=1,
    live_frames=8,
)
FULL = Budget(
    self_per_track=4,
    max_self=120,
    cross=120,
    lsim=60,
    lsim_per_person=8,
    grid_rows=8,
    video_pairs=3,
    video_frames=60,
    live_pairs=9,
    live_frames=120,
)


def plan_pairs(
    store: FrameStore, tracks: list[TrackInfo], budget: Budget, rng: np.random.Generator
) -> PairPlan:
    skipped: Counter[str] = Counter()
    self_pairs = _self_pairs(tracks, budget, rng, skipped)
    cross = _cross_pairs(tracks, budget, rng, skipped)
    lsim = _lsim_pairs(store, tracks, budget, rng, skipped)
    return PairPlan(tuple(self_pairs), tuple(cross), tuple(lsim), dict(skipped))


def _self_pairs(
    tracks: list[TrackInfo], budget: Budget, rng: np.random.Generator, skipped: Counter[str]
) -> list[Pair]:
    pairs = []
    for t in tracks:
        if t.frames < 2:
            skipped["self: track too short for a pair (< 2 frames)"] += 1
            continue
        gap = max(1, t.frames // 3)  # far enough apart that the pose and expression differ
        for _ in range(budget.self_per_track):
            i = int(rng.integers(0, t.frames - gap))
            j = int(rng.integers(i + gap, t.frames))
            a, b = (i, j) if rng.random() < 0.5 else (j, i)
            pairs.append(Pair("self", FrameRef(t.id, a), FrameRef(t.id, b)))
    if len(pairs) > budget.max_self:
        keep = np.sort(rng.choice(len(pairs), budget.max_self, replace=False))
        pairs = [pairs[k] for k in keep]
    return pairs


def _cross_pairs(
    tracks: list[TrackInfo], budget: Budget, rng: np.random.Generator, skipped: Counter[str]
) -> list[Pair]:
    if len({t.identity for t in tracks}) < 2:
        skipped["cross: fewer than two identities"] += budget.cross
        return []
    pairs = []
    for _ in range(budget.cross):
        s = tracks[int(rng.integers(len(tracks)))]
        others = [t for t in tracks if t.identity != s.identity]
        d = others[int(rng.integers(len(others)))]
        pairs.append(
            Pair(
                "cross",
                FrameRef(s.id, int(rng.integers(s.frames))),
                FrameRef(d.id, int(rng.integers(d.frames))),
            )
        )
    return pairs


def _lsim_pairs(
    store: FrameStore,
    tracks: list[TrackInfo],
    budget: Budget,
    rng: np.random.Generator,
    skipped: Counter[str],
) -> list[Pair]:
    """Paper's LSIM: two images of one person (two tracks where the person has them, else the two ends of
    one track), and the driver of another identity whose 20-d driving vector is nearest the second."""
    by_person: dict[str, list[TrackInfo]] = defaultdict(list)
    for t in tracks:
        by_person[t.identity].append(t)
    candidates = []
    for person, ts in sorted(by_person.items()):
        if len(ts) < 2 and ts[0].frames < 6:
            skipped["lsim: person has one image only"] += 1
            continue
        for _ in range(budget.lsim_per_person):
            if len(ts) >= 2:  # two different tracks: the closest we have to the paper's two photos
                a, b = rng.choice(len(ts), 2, replace=False)
                first = FrameRef(ts[a].id, int(rng.integers(ts[a].frames)))
                second = FrameRef(ts[b].id, int(rng.integers(ts[b].frames)))
            else:  # one track: its two ends
                t = ts[0]
                first = FrameRef(t.id, int(rng.integers(0, t.frames // 3)))
                second = FrameRef(t.id, int(rng.integers(2 * t.frames // 3, t.frames)))
            candidates.append((first, second))
    if len(candidates) > budget.lsim:
        keep = np.sort(rng.choice(len(candidates), budget.lsim, replace=False))
        candidates = [candidates[k] for k in keep]
    pool = [(t, store.aud_all(t.id)) for t in tracks]
    pairs = []
    for src, tgt in candidates:
        person = store.tracks[src.track].identity
        want = store.aud_all(tgt.track)[tgt.frame]
        best: tuple[float, FrameRef] | None = None
        for t, auds in pool:
            if t.identity == person:
                continue
            k = int(np.argmin(np.linalg.norm(auds - want, axis=1)))
            dist = float(np.linalg.norm(auds[k] - want))
            if best is None or dist < best[0]:
                best = (dist, FrameRef(t.id, k))
        if best is None:
            skipped["lsim: no driver of another identity"] += 1
            continue
        pairs.append(Pair("lsim", src, best[1], tgt))
    return pairs
