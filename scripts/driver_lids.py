"""Where the driving stage's neutral leaves the photo's eyes: the driver's upper lids over or under its neutral's.

Runs each driving clip through the product's driving stage (no calibration profile, as `run_cam.py` does) and
counts the frames whose upper lids' middles stand over the neutral's by more than 0.03 of the inter-ocular
distance (the photo's eyes drawn wider than at rest: a neutral taken while the driver blinked, looked down or
squinted) and those whose lids stand under it by as much (the photo's eyes drawn narrowed). A clip whose driver
rests with open eyes should read near 0 on both; a narrow neutral shows as a large first share.

    python scripts/driver_lids.py CLIP [CLIP ...]     # about 3 s a clip of 250 frames on 2 cores
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np

from realtime.controls import Controls
from realtime.face import AnalyzerOptions, FaceAnalyzer
from realtime.render.landmark_transfer import LID_PAIRS
from realtime.stages.driving import DrivingStage
from realtime.weights import load_au_basis, weights_dir

UPPER_LIDS = [up for eye in LID_PAIRS for up, _ in eye[2:5]]
"""The mesh's upper lids' middle three points, both eyes (`realtime.render.landmark_transfer.LID_PAIRS`): the
points by the corners hardly move with the lid."""
OVER = 0.03
"""Inter-ocular units past which a lid counts as over (or under) the neutral's."""


def lid_offsets(clip: Path, frames: int) -> np.ndarray:
    """(n,) the median upper lid's height over the neutral's (inter-ocular units, + over) per tracked frame."""
    folder = weights_dir()
    stage = DrivingStage(au_basis=load_au_basis(folder), lip_shape=load_au_basis(folder, "lip_shape.npy"))
    edits = Controls().edits
    out = []
    with FaceAnalyzer(AnalyzerOptions()) as analyzer, av.open(str(clip)) as container:
        rate = float(container.streams.video[0].average_rate or 25)
        for i, frame in enumerate(container.decode(video=0)):
            if i >= frames:
                break
            rgb = frame.to_ndarray(format="rgb24")
            state = stage(analyzer.analyze(rgb, int(i * 1000 / rate)), i / rate, edits, rgb)
            if state.driver is not None and state.status == "tracking":
                out.append(-float(np.median(state.driver.expression[UPPER_LIDS, 1])))  # y down
    return np.array(out, np.float64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--frames", type=int, default=250, help="frames read from each clip (default 250)")
    args = parser.parse_args(argv)
    print(f"| clip | frames | lids over the neutral by > {OVER} | under it | largest over |")
    print("|---|---|---|---|---|")
    for clip in args.clips:
        lids = lid_offsets(clip, args.frames)
        if not len(lids):
            print(f"| {clip.name} | 0 | - | - | - |")
            continue
        over, under = float(np.mean(lids > OVER)), float(np.mean(lids < -OVER))
        print(f"| {clip.name} | {len(lids)} | {over:.2f} | {under:.2f} | {lids.max():.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
