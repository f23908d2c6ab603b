"""The AU basis: how each action unit moves the face, fitted from the prepared dataset (a linear blendshape).

    python -m training.au_basis --data /work/prepared/dev --out realtime/weights

The live path (`realtime.stages.render.MeshFlowFrame`, relative motion) turns the user's AU edits into
landmark motion with it: expression += sum_k (edited AU_k - AU_k) * B_k. B (17, 478, 3) is in the units of
`realtime.render.landmark_transfer.driver_expression` (the face's own frontal frame, inter-ocular distance 1),
so the edit is added to the driver's expression and put on the photo by the same `transfer`.

Fit: within every video track of the training people, each frame's landmarks in the face's frontal frame
minus the track's mean, against the frame's AUs minus the track's mean (so identity and the track's head pose
cancel); ridge regression over all frames. Held-out people (training's own split) measure it: the share of
their landmark motion the AUs explain, and each AU's displacement per face region, written to the model card.
A run takes about half a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from realtime.face import topology as topo
from realtime.face.pose import canonical_frame
from realtime.face.types import AU_ORDER

log = logging.getLogger(__name__)

RIDGE = 1.0
"""Ridge weight (in units of summed squared AU deltas): keeps rarely moving AUs from fitting noise."""
REGIONS = {
    "lips": topo.LIPS,
    "eyes": topo.LEFT_EYE + topo.RIGHT_EYE,
    "brows": topo.LEFT_EYEBROW + topo.RIGHT_EYEBROW,
    "oval": topo.FACE_OVAL,
}


def track_deltas(landmarks: np.ndarray, aus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 478*3) frontal landmarks minus their mean, (T, 17) AUs minus their mean, for one track."""
    canon = np.stack([canonical_frame(f) for f in landmarks]).reshape(len(landmarks), -1)
    return canon - canon.mean(0), aus - aus.mean(0)


def fit_basis(x: np.ndarray, y: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """Ridge solution B (17, 478, 3) of y (N, 478*3) ~ x (N, 17) @ B."""
    a = x.T @ x + ridge * np.eye(x.shape[1])
    return np.linalg.solve(a, x.T @ y).reshape(x.shape[1], -1, 3)


def explained(x: np.ndarray, y: np.ndarray, basis: np.ndarray) -> float:
    """Share of the landmark motion's variance the AUs explain through the basis (R^2 over all coordinates)."""
    pred = x @ basis.reshape(len(basis), -1)
    return float(1.0 - ((y - pred) ** 2).sum() / max((y**2).sum(), 1e-12))


def _gather(dataset, tracks) -> tuple[np.ndarray, np.ndarray, int]:
    xs, ys = [], []
    for t in tracks:
        if t.kind != "video" or t.frames < 10:
            continue
        with np.load(t.dir / "meta.npz") as m:
            dy, dx = track_deltas(m["landmarks"].astype(np.float64), m["aus"].astype(np.float64))
        xs.append(dx)
        ys.append(dy)
    if not xs:
        return np.zeros((0, len(AU_ORDER))), np.zeros((0, topo.NUM_LANDMARKS * 3)), 0
    return np.concatenate(xs), np.concatenate(ys), len(xs)


def region_table(basis: np.ndarray) -> dict[str, dict[str, float]]:
    """Mean landmark displacement per region for AU 0 -> 1, in inter-ocular units."""
    return {
        au.value: {r: float(np.linalg.norm(basis[k, list(pts)], axis=1).mean()) for r, pts in REGIONS.items()}
        for k, au in enumerate(AU_ORDER)
    }


PROBES = (("AU12", 0.5), ("AU25", 0.5), ("AU26", 0.5), ("AU45", 0.8), ("AU01", 0.5), ("AU04", 0.5))
"""AU edits probed by `edit_response` (AU, offset added by the slider)."""


def edit_response(photos: list[np.ndarray], weights: Path) -> dict[str, dict[str, float]]:
    """How far the Face Landmarker teacher sees each AU move when the slider adds `offset` to it, over the
    offset (1: the edit lands in full), on the live renderer (mesh flow, relative motion), once with the AU
    basis and once with LT's answer instead. Averaged over the photos whose face both sides find."""
    from realtime.controls import Controls, Edit
    from realtime.face import AnalyzerOptions, FaceAnalyzer
    from realtime.face.types import AU
    from realtime.render.meshflow import OutputLayout
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.render import prepare_source
    from training.data.teacher import DEFAULT_TEACHER
    from training.evaluation.metrics import TeacherMeasurer

    res: dict[str, dict[str, list[float]]] = {m: {a: [] for a, _ in PROBES} for m in ("au_basis", "lt")}
    with FaceAnalyzer(AnalyzerOptions()) as analyzer, TeacherMeasurer(DEFAULT_TEACHER) as teacher:
        for rgb in photos:
            src = prepare_source(rgb, analyzer)
            for mode in res:
                with MeshFlowFrame(weights, "onnxruntime", "relative", use_au_basis=mode == "au_basis") as r:
                    r.set_source(src, OutputLayout.identity(src.image.shape))
                    before = teacher.measure(r.render_still(src, Controls().edits))
                    for au, offset in PROBES:
                        edits = Controls().edits.with_edit(au, Edit(1.0, offset, False))
                        after = teacher.measure(r.render_still(src, edits))
                        if before is not None and after is not None:
                            k = AU_ORDER.index(AU(au))
                            res[mode][au].append(float(after.aus[k] - before.aus[k]) / offset)
    return {m: {a: float(np.mean(v)) for a, v in d.items() if v} for m, d in res.items()}


def _first_frames(tracks, raw: Path, limit: int) -> list[np.ndarray]:
    """The first frame of one track per person (at most `limit`), read as the live protocol reads sources."""
    from training.evaluation.live_run import first_frame

    photos, seen = [], set()
    for t in tracks:
        path = raw / t.source
        if t.identity in seen or not path.exists():
            continue
        try:
            photos.append(first_frame(path))
        except (OSError, ValueError) as e:
            log.warning("%s: %s; not used to probe the edits", path, e)
            continue
        seen.add(t.identity)
        if len(photos) >= limit:
            break
    return photos


def main(argv: list[str] | None = None) -> int:
    from realtime.weights import weights_dir
    from training.data.dataset import open_dataset
    from training.evaluation.data import heldout_identities

    p = argparse.ArgumentParser(prog="python -m training.au_basis", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="dataset folder made by facegan-prepare")
    p.add_argument("--out", type=Path, default=weights_dir(), help="folder for au_basis.npy and au_basis.md")
    p.add_argument("--ridge", type=float, default=RIDGE)
    p.add_argument(
        "--raw",
        type=Path,
        default=Path("../shared/data/dev"),
        help="the folder the dataset was prepared from",
    )
    p.add_argument("--photos", type=int, default=6, help="held-out people whose first frame probes the edits")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    ds = open_dataset(a.data)
    held, rule = heldout_identities(ds, weights_dir())
    train = [t for t in ds.tracks if t.identity not in held]
    val = [t for t in ds.tracks if t.identity in held]
    x, y, n_train = _gather(ds, train)
    if n_train == 0:
        print(f"{a.data}: no video track of a training person; nothing to fit", file=sys.stderr)
        return 1
    basis = fit_basis(x, y, a.ridge)
    xv, yv, n_val = _gather(ds, val)
    r2_train = explained(x, y, basis)
    r2_val = explained(xv, yv, basis) if n_val else None
    a.out.mkdir(parents=True, exist_ok=True)
    np.save(a.out / "au_basis.npy", basis.astype(np.float16))
    table = region_table(basis)
    seconds = time.perf_counter() - t0
    lines = [
        "# au_basis: how each action unit moves the face (linear, fitted)",
        "",
        "Generated by `python -m training.au_basis`; numbers below are computed by it, not typed.",
        "",
        (
            f"- Data: `{a.data}`; {n_train} video tracks ({len(x)} frames) of the training people; "
            f"held-out people by {rule}: {n_val} tracks ({len(xv)} frames)"
        ),
        (
            f"- Fit: ridge regression (weight {a.ridge}) of frontal-frame landmark deltas on AU deltas, "
            "both relative to each track's mean; no network, no iterations"
        ),
        f"- File: `au_basis.npy`, float16 (17, 478, 3), inter-ocular units; {seconds:.0f} s on this machine",
        f"- Share of landmark motion explained by the AUs: training {r2_train:.3f}, held-out "
        + ("-" if r2_val is None else f"{r2_val:.3f}"),
        (
            "- Use: the AU sliders of the default renderer (mesh flow, relative motion) move the photo by "
            "(edited AU - AU) times these directions"
        ),
        "",
        "## Mean displacement per region for AU 0 -> 1 (inter-ocular units; 0.1 is about 6 px of a 256 crop)",
        "",
        "| AU | " + " | ".join(REGIONS) + " |",
        "|---" * (len(REGIONS) + 1) + "|",
    ]
    for au, row in table.items():
        lines.append(f"| {au} | " + " | ".join(f"{row[r]:.3f}" for r in REGIONS) + " |")
    photos = _first_frames(val, a.raw, a.photos)
    if photos:
        resp = edit_response(photos, a.out if (a.out / "lt.onnx").is_file() else weights_dir())
        lines += [
            "",
            f"## Edit response on {len(photos)} held-out people (the teacher's AU change over the slider's)",
            "",
            (
                "The live renderer (mesh flow, relative motion) on each person's first frame, one AU slider moved at a "
                "time; 1 means the Face Landmarker teacher sees the whole edit. `lt` is the same renderer with LT's "
                "answer to the edit instead of the basis."
            ),
            "",
            "| edit | " + " | ".join(resp) + " |",
            "|---" * (len(resp) + 1) + "|",
        ]
        for au, offset in PROBES:
            lines.append(
                f"| {au} +{offset} | "
                + " | ".join(f"{resp[m].get(au, float('nan')):.2f}" for m in resp)
                + " |"
            )
    else:
        lines += ["", f"No held-out photo could be read from {a.raw}: edit response not measured."]
    (a.out / "au_basis.md").write_text("\n".join(lines) + "\n")
    print(
        json.dumps({"r2_train": r2_train, "r2_val": r2_val, "frames": len(x), "seconds": round(seconds, 1)})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
