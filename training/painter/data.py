"""Eye-painter samples: self-reenactment pairs of one track, rendered by the run-time mesh flow.

For a pair (s, t) of frames of one track whose eye closes by more than EYE_CHANGE (the run time's rule for
painting an eye), the source crop s is warped to t's true landmarks by `realtime.render.meshflow`
(exactly as run time warps a photo), and each such eye's window (realtime.render.eyes) is cut from the warped
crop, from s at its own eye, and from the frame t (the target); the target eye's outline is drawn as the mask.
People are split as the shipped networks
were (training.data.dataset.split_identities, val_fraction 0.1, seed 0): the held-out people's samples are the
validation set.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime.render.eyes import EYE_CHANGE, cut_window, eye_mask, eye_opening, eye_window
from training.data.dataset import TrackInfo, load_track, open_dataset, split_identities
from training.painter import HELD_OUT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EyeSamples:
    warped: np.ndarray
    """(N, h, w, 3) uint8: the run-time warp's window."""
    source: np.ndarray
    """(N, h, w, 3) uint8: the source frame's own eye window."""
    mask: np.ndarray
    """(N, h, w) uint8 0-255: the target eye's outline."""
    target: np.ndarray
    """(N, h, w, 3) uint8: the true frame's window."""
    ratio: np.ndarray
    """(N,) float32: target eye opening over source eye opening."""
    identity: np.ndarray
    """(N,) str: whose eye."""

    def __len__(self) -> int:
        return len(self.ratio)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{k: getattr(self, k) for k in self.__dataclass_fields__})

    @staticmethod
    def load(path: Path) -> EyeSamples:
        with np.load(path) as z:
            return EyeSamples(**{k: z[k] for k in EyeSamples.__dataclass_fields__})

    @staticmethod
    def concat(parts: list[EyeSamples]) -> EyeSamples:
        return EyeSamples(
            *(np.concatenate([getattr(p, k) for p in parts]) for k in EyeSamples.__dataclass_fields__)
        )


def closing_pairs(
    openings: np.ndarray, rng: np.random.Generator, n: int, tries: int = 4000
) -> list[tuple[int, int]]:
    """Up to n (s, t) frame pairs whose eye closes: opening ratio t / s below 1 - EYE_CHANGE (what run time
    paints). A first recipe also drew opening pairs; the painter it made painted white blotches on closing lids
    of an unseen photo, and opening a photo's shut eyes is rare (the photo gets a warning)."""
    T = len(openings)
    pairs: list[tuple[int, int]] = []
    for _ in range(tries):
        s, t = (int(v) for v in rng.integers(0, T, 2))
        if openings[t] / max(openings[s], 1e-6) < 1.0 - EYE_CHANGE:
            pairs.append((s, t))
            if len(pairs) >= n:
                break
    return pairs


def track_samples(
    info: TrackInfo, crop_size: int, per_eye: int, rng: np.random.Generator
) -> EyeSamples | None:
    """Samples of one track (None where it has too few frames or no eye that moves)."""
    from realtime.render.framing import OutputLayout
    from realtime.render.meshflow import MeshFlow

    arrays = load_track(info, crop_size)
    if arrays.images is None or len(arrays.images) < 8:
        return None
    lm = (arrays.landmarks + 1.0) * 0.5 * crop_size  # (T, 478, 2) crop px
    flow = MeshFlow(crop_size)
    rows: dict[str, list] = {k: [] for k in EyeSamples.__dataclass_fields__}
    current = -1
    for eye in (0, 1):
        openings = np.array([eye_opening(f, eye) for f in lm])
        for s, t in closing_pairs(openings, rng, per_eye):
            if s != current:
                flow.install(
                    flow.prepare(
                        arrays.images[s], np.eye(2, 3), lm[s], OutputLayout.identity(arrays.images[s].shape)
                    )
                )
                current = s
            warped = flow.render(lm[t])
            win_t, win_s = eye_window(lm[t], eye), eye_window(lm[s], eye)
            rows["warped"].append(cut_window(warped, win_t))
            rows["source"].append(cut_window(arrays.images[s], win_s))
            rows["mask"].append((eye_mask(lm[t], eye, win_t) * 255).astype(np.uint8))
            rows["target"].append(cut_window(arrays.images[t], win_t))
            rows["ratio"].append(openings[t] / max(openings[s], 1e-6))
            rows["identity"].append(info.identity)
    if not rows["ratio"]:
        return None
    return EyeSamples(
        np.stack(rows["warped"]),
        np.stack(rows["source"]),
        np.stack(rows["mask"]),
        np.stack(rows["target"]),
        np.asarray(rows["ratio"], np.float32),
        np.asarray(rows["identity"]),
    )


def make_samples(root: Path, per_eye: int, seed: int) -> tuple[EyeSamples, EyeSamples]:
    """(training samples, held-out samples) from every multi-frame track of a prepared dataset."""
    dataset = open_dataset(root)
    train, val = split_identities(dataset, *HELD_OUT)
    rng = np.random.default_rng(seed)
    out = []
    for tracks in (train, val):
        parts = []
        for info in tracks:
            if info.frames < 8:
                continue
            part = track_samples(info, dataset.crop_size, per_eye, rng)
            if part is not None:
                parts.append(part)
                log.info("%s: %d samples", info.id, len(part))
        out.append(EyeSamples.concat(parts))
    return out[0], out[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.painter.data", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="dataset folder made by facegan-prepare")
    p.add_argument(
        "--out", type=Path, required=True, help="samples file (.npz); the held-out ones go to *.val.npz"
    )
    p.add_argument("--per-eye", type=int, default=40, help="pairs per eye and track (default 40)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.time()
    train, val = make_samples(args.data, args.per_eye, args.seed)
    train.save(args.out)
    val.save(args.out.with_suffix(".val.npz"))
    print(
        f"{len(train)} training and {len(val)} held-out eye samples in {time.time() - t0:.0f} s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
