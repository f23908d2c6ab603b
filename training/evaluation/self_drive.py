"""Self-driving check: a clip drives its own first frame, and the live path's output is compared with the clip's
real frames, which show what that face looks like blinking, talking and looking aside.

    python -m training.evaluation.self_drive --out DIR [--data ../shared/data/dev]

Per clip (CASES): the output is laid onto the real frame by the similarity of their teacher landmarks round the
region (`steady_points`), then the
error (MSE x 1e3, pixels in [0, 1]) is taken inside the eyes at shut-eye frames and inside the mouth at talking
frames, and the iris' move along the eye is compared with the real one's (the slope of output on real, from
the first frame). The other protocols hold no such truth for the live path's relative motion: the paper
protocol's self pairs run in absolute mode on aligned crops, the live protocol measures correlations only.
Writes self_drive.json, self_drive.md and a sheet per clip and region (real | output) into DIR.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.face.align import inter_ocular
from realtime.render.eyes import gaze
from training.evaluation.evaluate import DEFAULT_TEACHER, REPO_ROOT
from training.evaluation.live import read_clip, run_live
from training.evaluation.live_run import still_source
from training.evaluation.metrics import FaceMeasure, TeacherMeasurer, region_masks


@dataclass(frozen=True)
class SelfCase:
    clip: str  # under the data folder
    blinks: tuple[int, ...] = ()  # frames with the eyes shut
    talking: tuple[int, ...] = ()  # frames with the mouth open
    gaze: bool = False  # the clip looks hard aside: the iris' move is measured


CASES: tuple[SelfCase, ...] = (
    SelfCase("LivePortrait/assets/examples/driving/d0.mp4", (65, 66, 67), (20, 35, 50), gaze=True),
    SelfCase("LivePortrait/assets/examples/driving/d11.mp4", (150, 152, 154)),
    SelfCase("LivePortrait/assets/examples/driving/d13.mp4", (43, 44, 80, 103), (60, 120, 200)),
    SelfCase("EDTalk/test_data/mouth_source.mp4", (169, 170, 171), (40, 100, 200)),
    SelfCase("EDTalk/test_data/expression_source.mp4", (), (60, 150, 250)),
    SelfCase("CVPR2022-DaGAN/assets/driving.mp4", (), (60, 100, 150)),
)
"""Clips of people the AU head and the renderer's tuning never saw as photos, with frames picked by eye."""
GROW = 0.15
"""The regions (eye loops, inner lips) grown by this share of the inter-ocular distance: lids, lashes, lips."""
TILE = (330, 200)


def region_mask(landmarks: np.ndarray, shape: tuple[int, ...], region: str) -> np.ndarray:
    """(H, W) bool: the paper protocol's region (`training.evaluation.metrics.region_masks`: both eyes, or the
    inner lips' loop) grown by GROW."""
    m = region_masks(landmarks, shape)[region].astype(np.uint8)
    k = max(1, round(GROW * inter_ocular(landmarks))) | 1
    return cv2.dilate(m, np.ones((k, k), np.uint8)) > 0


def iris_along(landmarks: np.ndarray) -> np.ndarray:
    """(2,) each iris centre's position along its eye, 0 at the outer corner, 1 at the inner (the live protocol's
    `realtime.render.eyes.gaze`, from the corners' middle)."""
    return np.array([gaze(landmarks, eye) for eye in (0, 1)]) + 0.5


@functools.cache
def steady_points(region: str) -> np.ndarray:
    """The mesh points a region's frames are laid on each other by: for the eyes, the upper face's points (over the
    nose's tip) that are not the lids and irises; for the mouth, the face's points that are not the lips. Laid on
    all 478, a mouth drawn differently moved the eyes' comparison by a pixel (d11's eye error 5.8 -> 6.8 from a
    change to the mouth alone)."""
    from realtime.face import topology as topo
    from realtime.weights import weights_dir

    mean = np.load(weights_dir() / "mean_face.npy")
    ids = np.arange(len(mean))
    if region == "eyes":
        moving = topo.LEFT_EYE + topo.RIGHT_EYE + topo.LEFT_IRIS + topo.RIGHT_IRIS
        return ids[(mean[:, 1] < mean[1, 1]) & ~np.isin(ids, list(moving))]
    return ids[~np.isin(ids, list(topo.LIPS))]


def laid_on(
    output: np.ndarray, out_lm: np.ndarray, real_lm: np.ndarray, shape: tuple[int, ...], points: np.ndarray
) -> np.ndarray:
    """The output frame moved onto the real one by the similarity of their landmarks `points`."""
    m, _ = cv2.estimateAffinePartial2D(out_lm[points].astype(np.float32), real_lm[points].astype(np.float32))
    return cv2.warpAffine(output, m, (shape[1], shape[0]), flags=cv2.INTER_LINEAR)


def _crop(image: np.ndarray, landmarks: np.ndarray, region: str) -> np.ndarray:
    iod = inter_ocular(landmarks)
    c = (landmarks[33] + landmarks[263]) / 2 if region == "eyes" else (landmarks[13] + landmarks[14]) / 2
    hw, hh = (0.8 * iod, 0.3 * iod) if region == "eyes" else (0.6 * iod, 0.38 * iod)
    h, w = image.shape[:2]
    x0, x1 = int(max(c[0] - hw, 0)), int(min(c[0] + hw, w))
    y0, y1 = int(max(c[1] - hh, 0)), int(min(c[1] + hh, h))
    return cv2.resize(image[y0:y1, x0:x1], TILE, interpolation=cv2.INTER_AREA)


def run_case(case: SelfCase, data: Path, teacher: TeacherMeasurer, out: Path) -> dict[str, object]:
    """One clip driving its own first frame: region errors, the iris' slope, and its sheets in `out`."""
    clip = data / case.clip
    frames = max((*case.blinks, *case.talking, 77 if case.gaze else 0)) + 1
    real = read_clip(clip, frames)
    with tempfile.TemporaryDirectory() as tmp:
        photo = still_source(clip, Path(tmp))
        output = run_live(photo, clip, "meshflow", frames)
    row: dict[str, object] = {"clip": case.clip}
    name = Path(case.clip).stem
    measured: dict[int, tuple[FaceMeasure | None, FaceMeasure | None]] = {}

    def measure(i: int) -> tuple[FaceMeasure | None, FaceMeasure | None]:
        """The teacher on real frame `i` and on the output's, once (the gaze reads frames the regions read)."""
        if i not in measured:
            measured[i] = (teacher.measure(real[i]), teacher.measure(output[i]))
        return measured[i]

    for region, picked in (("eyes", case.blinks), ("mouth", case.talking)):
        errors, tiles = [], []
        for i in picked:
            r, o = measure(i)
            if r is None or o is None:
                continue
            laid = laid_on(output[i], o.landmarks, r.landmarks, real[i].shape, steady_points(region))
            mask = region_mask(r.landmarks, real[i].shape, region)
            d = laid.astype(np.float64)[mask] - real[i].astype(np.float64)[mask]
            errors.append(float(np.mean(d * d)) / 255.0**2 * 1e3)
            tiles.append(np.hstack([_crop(real[i], r.landmarks, region), _crop(laid, r.landmarks, region)]))
        if errors:
            row[f"{region}_mse_e3"] = float(np.mean(errors))
            row[f"{region}_frames"] = len(errors)
            sheet = cv2.cvtColor(np.vstack(tiles), cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(out / f"self_{name}_{region}.png"), sheet)
    if case.gaze:
        pairs = [measure(i) for i in range(0, frames, 2)]
        a = np.array([iris_along(r.landmarks) for r, o in pairs if r is not None and o is not None])
        b = np.array([iris_along(o.landmarks) for r, o in pairs if r is not None and o is not None])
        if len(a) > 3:
            row["gaze_slope"] = [
                float(np.polyfit(a[:, e] - a[0, e], b[:, e] - b[0, e], 1)[0]) for e in (0, 1)
            ]
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for self_drive.json, .md and the sheets")
    p.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "dev")
    p.add_argument("--teacher", type=Path, default=DEFAULT_TEACHER)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with TeacherMeasurer(args.teacher) as teacher:
        for case in CASES:
            if not (args.data / case.clip).is_file():
                print(f"skipped (not found): {case.clip}", file=sys.stderr)
                continue
            rows.append(run_case(case, args.data, teacher, args.out))
            print(json.dumps(rows[-1]), flush=True)
    eyes = [r["eyes_mse_e3"] for r in rows if "eyes_mse_e3" in r]
    mouth = [r["mouth_mse_e3"] for r in rows if "mouth_mse_e3" in r]
    gaze = [s for r in rows for s in r.get("gaze_slope", [])]  # type: ignore[attr-defined]
    summary = {
        "eyes_mse_e3": float(np.mean(eyes)) if eyes else None,
        "mouth_mse_e3": float(np.mean(mouth)) if mouth else None,
        "gaze_slope": float(np.mean(gaze)) if gaze else None,
        "clips": rows,
    }
    (args.out / "self_drive.json").write_text(json.dumps(summary, indent=1))
    lines = ["| clip | eyes MSE x1e3 (shut) | mouth MSE x1e3 (talking) | gaze slope |", "|---|---|---|---|"]
    for r in rows:
        g = r.get("gaze_slope")
        lines.append(
            f"| {r['clip']} | {r.get('eyes_mse_e3', float('nan')):.2f} | {r.get('mouth_mse_e3', float('nan')):.2f} "
            f"| {'' if g is None else ' / '.join(f'{v:.2f}' for v in g)} |"  # type: ignore[union-attr]
        )
    fmt = lambda v: "-" if v is None else f"{v:.3f}"
    lines.append(
        f"| mean | {fmt(summary['eyes_mse_e3'])} | {fmt(summary['mouth_mse_e3'])} | {fmt(summary['gaze_slope'])} |"
    )
    (args.out / "self_drive.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
