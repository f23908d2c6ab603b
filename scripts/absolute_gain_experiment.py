"""The paper protocol's mesh flow (absolute mode) with the AU basis' rows scaled per AU, on training people.

Measures what a gain on the free fit's rows (realtime/weights/au_basis.npy, absolute mode's AU -> landmark map)
trades: the teacher sees the brows' rows land at about half their AU change, so a gain lowers ED, and moves the
brows as far as the driver's, whose shape is the driver's identity as much as its expression, so CSIM falls.
Drawn on 40 training people with video (never the held-out ones, so nothing is tuned on them); the mesh flow
alone; the report as facegan-evaluate writes it.

    python scripts/absolute_gain_experiment.py --data /work/prepared/dev --out /work/exp/base
    python scripts/absolute_gain_experiment.py --data /work/prepared/dev --out /work/exp/brows15 \\
        --gain AU01=1.5 --gain AU02=1.5 --gain AU04=1.5            # about 1 minute each on 2 cores

A gain `uAU01=1.5` scales the row above the nose only (the brows' part of it). The fourteenth session's table is
in docs/EVALUATION.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import realtime.weights as rw
import training.evaluation.evaluate as ev
from realtime.face.types import AU_ORDER
from realtime.render.neutral import upper_face
from training.evaluation import methods

PEOPLE = 40
"""Training people drawn (with a video track of 20 frames or more), seeded."""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="dataset folder made by facegan-prepare")
    p.add_argument("--out", type=Path, required=True, help="report folder (created)")
    p.add_argument("--gain", action="append", default=[], metavar="AU=G", help="scale an AU's row; repeat")
    a = p.parse_args(argv)
    names = [x.value for x in AU_ORDER]
    gains = {k: float(v) for k, v in (g.split("=", 1) for g in a.gain)}
    for k in gains:
        if k.removeprefix("u") not in names:
            p.error(f"unknown AU {k!r}")
    load = rw.load_au_basis

    def scaled(*args, **kwargs):
        basis = load(*args, **kwargs)
        if basis is None or args[1:] or kwargs:  # another file than au_basis.npy: as it is
            return basis
        basis = np.array(basis, np.float32)
        upper = upper_face(np.load(rw.weight_path("mean_face.npy")))[:, None].astype(np.float32)
        for k, g in gains.items():
            row = names.index(k.removeprefix("u"))
            basis[row] *= 1.0 + (g - 1.0) * upper if k.startswith("u") else g
        return basis

    rw.load_au_basis = scaled  # type: ignore[assignment]
    methods.METHOD_NAMES = ("mesh_flow",)  # type: ignore[misc]
    held_out = ev.heldout_identities

    def training_people(dataset, weights):
        held, _ = held_out(dataset, weights)
        ids = sorted({t.identity for t in dataset.tracks if t.kind != "photo" and t.frames >= 20} - set(held))
        chosen = np.random.default_rng(1).choice(ids, min(PEOPLE, len(ids)), replace=False)
        return set(chosen), f"{len(chosen)} training people with video (absolute_gain_experiment)"

    ev.heldout_identities = training_people  # type: ignore[assignment]
    return ev.main(["--data", str(a.data), "--out", str(a.out), "--no-live"])


if __name__ == "__main__":
    sys.exit(main())
