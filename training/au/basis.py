"""The AU basis: how each action unit moves the face, fitted from the prepared dataset (a linear blendshape).

    python -m training.au_basis --data /work/prepared/dev --out realtime/weights

Two fits are written. au_basis.npy, the free fit B, takes a smile or an open mouth out of a neutral face (the
driver's first frames, a photo caught mid-word) and drives the paper's absolute mode. au_edit.npy, E, fits each
AU only on its part of the face (`region_mask`), and the live path (`realtime.render.renderers.MeshFlowFrame`,
relative motion) turns the user's AU edits into landmark motion with it: expression += sum_k (edited AU_k -
AU_k) * gain_k * E_k. Both are (17, 478, 3) in the units of
`realtime.render.landmark_transfer.driver_expression` (the face's own frontal frame, inter-ocular distance 1),
so the edit is added to the driver's expression and put on the photo by the same `transfer`. A third file,
lip_shape.npy (training.au.shape), holds how resting lips differ across people; with the free fit it takes a
photo's expression out at the driver's rest (realtime.render.neutral).

Fit: within every video track of the training people, each frame's landmarks in the face's frontal frame
minus the track's mean, against the frame's AUs minus the track's mean (so identity and the track's head pose
cancel); ridge regression over all frames. Held-out people (training's own split) measure it: the share of
their landmark motion the AUs explain, and each AU's displacement per face region, written to the model card.

Edit gain (au_basis.json): the ridge rows of AUs that move together share their motion, so one slider alone
moved a part of what its AU means (the teacher saw 0.27 of an AU01 edit). Each AU's edit is scaled so the Face
Landmarker teacher sees it land in full on training people's photos (`calibrate_gain`); the held-out people's
response is written to the model card. A run takes about 70 s on 2 cores.
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
from realtime.face.types import AU, AU_ORDER
from training.au.shape import NEUTRAL_AU, fit_lip_shape, resting_lips, shape_explained

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


def fit_basis(
    x: np.ndarray, y: np.ndarray, ridge: float = RIDGE, support: np.ndarray | None = None
) -> np.ndarray:
    """Ridge solution B (17, 478, 3) of y (N, 478*3) ~ x (N, 17) @ B. `support` (17, 478) bool: where each AU
    may move the face; each point is fitted on the AUs allowed there only (the others' rows are 0 there), so
    the motion an AU may not make is explained by the AUs that may, not dropped."""
    xtx, xty = x.T @ x, x.T @ y  # (17, 17), (17, 478*3)
    if support is None:
        return np.linalg.solve(xtx + ridge * np.eye(x.shape[1]), xty).reshape(x.shape[1], -1, 3)
    out = np.zeros((x.shape[1], y.shape[1]))
    cols = np.repeat(np.asarray(support, bool), 3, axis=1)  # (17, 478*3)
    for pattern in np.unique(cols.T, axis=0):  # the points allowing the same AUs, solved together
        js = np.flatnonzero((cols.T == pattern).all(1))
        ks = np.flatnonzero(pattern)
        if len(ks):
            a = xtx[np.ix_(ks, ks)] + ridge * np.eye(len(ks))
            out[np.ix_(ks, js)] = np.linalg.solve(a, xty[np.ix_(ks, js)])
    return out.reshape(x.shape[1], -1, 3)


UPPER_AUS = ("AU01", "AU02", "AU04", "AU05", "AU07", "AU45")
"""AUs of the brows and lids: their rows keep the face above the nose (REGION_FADE)."""
LOWER_AUS = ("AU10", "AU12", "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26")
"""AUs of the mouth and jaw: their rows keep the face below the eyes."""
REGION_FADE = {"upper": (-0.25, -0.05), "lower": (0.1, -0.15)}
"""(full, none): the frontal-frame height (y down, inter-ocular units; the eyes at -0.37, the nose's tip at 0.05,
the upper lip at 0.28) from which a row keeps its motion in full, and the height at which none is left (linear
in between). In the data a jaw drop comes with raised brows and widened eyes (speech), and the ridge fit gave
AU26's row brow motion of 0.11 and eye motion of 0.09: a slider opening the jaw lifted the brows and
stretched the whole face. Each AU moves its own half of the face."""


UPPER_LIP = (185, 40, 39, 37, 0, 267, 269, 270, 409, 191, 80, 81, 82, 13, 312, 311, 310, 415)
LOWER_LIP = (146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324)
LIPS_APART_FADE = (0.25, 0.13)
"""(full, none) heights of AU25's (lips part) row: the lips, not the nose (the nose's base is at 0.13). Its
row moved the nostrils with the upper lip, and the slider at 1 pulled the nose down into the mouth."""
LIP_CORNERS = (61, 291, 78, 308)
JAW_FADE = (0.55, 0.3)
"""(full, none) heights of AU26's (jaw drop) row off the lips: the jaw moves the lower lip and the chin, never
the upper lip. Fitted freely, AU26 (which comes with AU25 in speech) moved the upper lip down 0.22 and AU25
moved it up 0.34: either slider alone shifted the whole mouth (the jaw slider stretched the nose down to the
mouth; the lips-apart slider lifted the upper lip to the nose)."""
NO_SIDEWAYS = ("AU26",)
"""AUs whose edit row moves nothing sideways (its x column is zeroed after the fit): the jaw drops down and
back. In the data a wide jaw drop comes with the lips funnelled into an "O" (MEAD's surprise), and the row
drew the lower lip's sides in by 0.07 inter-ocular a unit: at the slider's gain of 2 the mouth narrowed to a V
whose point reached the chin (the AU sweep, three photos)."""


def region_mask(canonical: np.ndarray) -> np.ndarray:
    """(17, 478) float32: how much of each AU's row is kept at each point of a face in its frontal frame
    (REGION_FADE; AU26 also JAW_FADE, the lower lip in full, the upper lip not at all); AUs of neither list
    (AU06, AU09) keep all of theirs."""
    y = np.asarray(canonical, np.float64)[:, 1]
    mask = np.ones((len(AU_ORDER), len(y)), np.float32)
    for k, au in enumerate(AU_ORDER):
        region = "upper" if au.value in UPPER_AUS else "lower" if au.value in LOWER_AUS else None
        if region is not None:
            full, none = REGION_FADE[region]
            mask[k] = np.clip((y - none) / (full - none), 0.0, 1.0)
    jaw = AU_ORDER.index(AU.AU26)
    full, none = JAW_FADE
    mask[jaw] = np.clip((y - none) / (full - none), 0.0, 1.0)
    mask[jaw, list(LOWER_LIP)] = 1.0
    mask[jaw, list(UPPER_LIP)] = 0.0
    mask[jaw, list(LIP_CORNERS)] = 0.5
    full, none = LIPS_APART_FADE
    mask[AU_ORDER.index(AU.AU25)] = np.clip((y - none) / (full - none), 0.0, 1.0)
    return mask


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


PROBE_OFFSET = {"AU45": 0.8}
"""What the slider adds to an AU to probe it (0.5 where not listed): a blink is probed near shut."""
MIN_ROW = 0.01
"""Mean displacement (inter-ocular units, over the face regions) below which an AU's row moves nothing (AU06,
AU09: no landmark motion of their own in the data): it is not probed and keeps gain 1."""
GAIN_GRID = (0.5, 0.75, 1.0, 1.5, 2.0)
"""The edit gains tried for each AU. The teacher's answer is neither linear nor always rising in the motion
(pushed 3 times along its row, a lip tightener, AU23, squeezed the lips into a shape the teacher no longer read
as one: response 0.23 at gain 1, 0.04 at 3), so the gain is chosen from its measured response at each of these,
not by dividing by one response. At most 2: the teacher asked for 3 and 4 on the brows and the mouth, and the
AU sweep's sliders at 1 were caricatures (a brow folded over the eye, a jaw in a V to the chin) - the teacher
misses what a warp cannot draw (creases, shadows), and more motion is not the answer to that."""
MAX_GAIN = {"AU25": 1.0, "AU17": 1.5}
"""Lower ceilings where more motion drew what a face cannot do: lips apart (AU25) at gain 2 lifted the upper lip
into the nose (the teacher reads parted lips by the teeth they show, not by the lip's height); a chin raiser
(AU17) at 2 pushed the lower lip over the upper, a dark wedge between them."""
GAIN_PRICE = 0.2
"""What a gain away from 1 costs in the choice (per unit of |log gain|, in units of response error): an AU the
teacher hardly sees at any gain (AU10's row: 0.00 at every gain) keeps gain 1 rather than moving the face
twice as far for nothing."""


GAIN_TIE = 0.01
"""Costs this close are a tie, and the gain whose edit the teacher sees land further wins it: AU04's gain
flipped from 2 to 1 on a cost 0.001 lower (0.947 against 0.948), and its slider's held-out response fell from
0.57 to 0.21."""


def probed_aus(basis: np.ndarray) -> list[str]:
    """The AUs whose basis row moves the face (MIN_ROW), in AU_ORDER."""
    table = region_table(basis)
    return [a for a, row in table.items() if float(np.mean(list(row.values()))) >= MIN_ROW]


def edit_response(
    photos: list[np.ndarray],
    weights: Path,
    aus: list[str],
    gains: dict[str, np.ndarray | None],
) -> dict[str, dict[str, float]]:
    """How far the Face Landmarker teacher sees each AU move when its slider alone adds PROBE_OFFSET to it,
    over that offset (1: the edit lands in full), on the live renderer (mesh flow, relative motion, driver at
    rest). One column per entry of `gains`: the AU basis with those edit gains (17,), or LT's answer to the
    edit where the gain is None. A photo whose AU is too high to take the whole offset is not probed for it.
    The median over the photos whose face both sides find."""
    from realtime.controls import Controls, Edit
    from realtime.face import AnalyzerOptions, FaceAnalyzer
    from realtime.face.types import AU
    from realtime.render.framing import OutputLayout
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.render import prepare_source
    from training.data.teacher import DEFAULT_TEACHER
    from training.evaluation.metrics import TeacherMeasurer

    res: dict[str, dict[str, list[float]]] = {m: {a: [] for a in aus} for m in gains}
    with FaceAnalyzer(AnalyzerOptions()) as analyzer, TeacherMeasurer(DEFAULT_TEACHER) as teacher:
        sources = [prepare_source(rgb, analyzer) for rgb in photos]
        for mode, gain in gains.items():
            with MeshFlowFrame(weights, "onnxruntime", "relative", use_au_basis=gain is not None) as r:
                if gain is not None:
                    r.edit_gain = np.asarray(gain, np.float32)
                for src in sources:
                    r.set_source(src, OutputLayout.identity(src.image.shape))
                    before = teacher.measure(r.render_still(src, Controls().edits))
                    if before is None:
                        continue
                    for au in aus:
                        k, offset = AU_ORDER.index(AU(au)), PROBE_OFFSET.get(au, 0.5)
                        if src.face.aus[k] + offset > 1.0:
                            continue
                        edits = Controls().edits.with_edit(au, Edit(1.0, offset, False))
                        after = teacher.measure(r.render_still(src, edits))
                        if after is not None:
                            res[mode][au].append(float(after.aus[k] - before.aus[k]) / offset)
    # The median: a photo the teacher misreads (a face turned 58 degrees) does not move it.
    return {m: {a: float(np.median(v)) for a, v in d.items() if v} for m, d in res.items()}


def calibrate_gain(
    photos: list[np.ndarray], weights: Path, aus: list[str]
) -> tuple[np.ndarray, dict[str, dict[str, float]]]:
    """(17,) each AU's edit gain, chosen from GAIN_GRID so that the teacher sees its slider's edit land as
    nearly in full on these photos as the price of a gain far from 1 (GAIN_PRICE) allows (a tie, GAIN_TIE, to
    the larger response); and the response per AU at each gain tried."""
    from realtime.face.types import AU

    columns = {f"{g:g}": np.full(len(AU_ORDER), g, np.float32) for g in GAIN_GRID}
    resp = edit_response(photos, weights, aus, columns)  # type: ignore[arg-type]
    gain = np.ones(len(AU_ORDER), np.float32)
    table: dict[str, dict[str, float]] = {}
    for au in aus:
        table[au] = {g: resp[g][au] for g in columns if au in resp[g]}
        if table[au]:
            top = MAX_GAIN.get(au, max(GAIN_GRID))
            cost = {
                g: abs(r - 1.0) + GAIN_PRICE * abs(np.log(float(g)))
                for g, r in table[au].items()
                if float(g) <= top
            }
            best = min(cost.values())
            near = [g for g, c in cost.items() if c <= best + GAIN_TIE]  # a tie: the edit that lands further
            gain[AU_ORDER.index(AU(au))] = float(max(near, key=table[au].__getitem__))
    return gain, table


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
    p.add_argument(
        "--out",
        type=Path,
        default=weights_dir(),
        help="folder for au_basis.npy, au_edit.npy, lip_shape.npy, au_basis.json and au_basis.md",
    )
    p.add_argument("--ridge", type=float, default=RIDGE)
    p.add_argument(
        "--raw",
        type=Path,
        default=Path("../shared/data/dev"),
        help="the folder the dataset was prepared from",
    )
    p.add_argument("--photos", type=int, default=6, help="held-out people whose first frame probes the edits")
    p.add_argument(
        "--calibration-photos",
        type=int,
        default=32,
        help="training people whose first frame sets each AU's edit gain",
    )
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
    mean_face = canonical_frame(np.load(weights_dir() / "mean_face.npy").astype(np.float64))
    mask = region_mask(mean_face)
    basis = fit_basis(x, y, a.ridge)
    edit = fit_basis(x, y, a.ridge, support=mask > 0) * mask[..., None]
    for au in NO_SIDEWAYS:
        edit[AU_ORDER.index(AU(au)), :, 0] = 0.0
    xv, yv, n_val = _gather(ds, val)
    r2 = {
        name: (explained(x, y, b), explained(xv, yv, b) if n_val else None)
        for name, b in (("au_basis.npy", basis), ("au_edit.npy", edit))
    }
    a.out.mkdir(parents=True, exist_ok=True)
    np.save(a.out / "au_basis.npy", basis.astype(np.float16))
    np.save(a.out / "au_edit.npy", edit.astype(np.float16))
    lips_train, lips_val = resting_lips(train), resting_lips(val)
    lip_model, lip_info = fit_lip_shape(np.stack(list(lips_train.values())))
    np.save(a.out / "lip_shape.npy", lip_model.astype(np.float16))
    lip_held = shape_explained(lip_model, np.stack(list(lips_val.values()))) if lips_val else None
    seconds = time.perf_counter() - t0
    lines = [
        "# au_basis, au_edit: how each action unit moves the face (linear, fitted)",
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
        (
            "- `au_basis.npy`: the free fit. Used to take a smile or an open mouth out of a neutral face (the "
            "driver's first frames, a photo caught mid-word): the AUs of speech share the mouth between them, "
            "and together they shut it as the data does."
        ),
        (
            "- `au_edit.npy`: each AU fitted only where it may move the face (brow and lid AUs above the nose, "
            f"mouth AUs below the eyes {REGION_FADE}; the jaw drop AU26 the lower lip and chin only {JAW_FADE}; "
            f"lips apart AU25 the lips only {LIPS_APART_FADE}), the others explaining the rest. Used by the AU "
            "sliders and relative motion's smile matching (absolute mode runs on the free fit): in the free fit AU26 alone moved the upper lip down 0.22 and "
            "AU25 alone moved it up 0.34 (a jaw slider stretched the nose down to the mouth). "
            f"{', '.join(NO_SIDEWAYS)}: nothing moved sideways (the fitted row drew the lower lip's sides in, and "
            "the jaw slider at 1 opened a V)."
        ),
        f"- Files: float16 (17, 478, 3), inter-ocular units; {seconds:.0f} s on this machine",
        *(
            f"- Share of landmark motion explained by the AUs, {n}: training {t:.3f}, held-out "
            + ("-" if v is None else f"{v:.3f}")
            for n, (t, v) in r2.items()
        ),
        "",
        (
            f"- `lip_shape.npy` (training.au.shape): how resting lips differ across people, from "
            f"{lip_info['people']} training people's frames with every mouth AU below {NEUTRAL_AU} (one mean "
            f"shape each); {lip_info['components']} components keep {lip_info['variance_kept']:.3f} of their "
            "variance; share of held-out people's resting lips they explain: "
            + ("-" if lip_held is None else f"{lip_held:.3f} ({len(lips_val)} people)")
            + ". Used to take a pucker or a twist out of a photo's lips at rest (realtime.render.neutral)."
        ),
        "",
        "## au_edit: mean displacement per region for AU 0 -> 1 (inter-ocular units; 0.1 is about 6 px of a 256 crop)",
        "",
        "| AU | " + " | ".join(REGIONS) + " |",
        "|---" * (len(REGIONS) + 1) + "|",
    ]
    for au, row in region_table(edit).items():
        lines.append(f"| {au} | " + " | ".join(f"{row[r]:.3f}" for r in REGIONS) + " |")
    folder = a.out if (a.out / "lt.onnx").is_file() else weights_dir()
    aus = probed_aus(edit)
    fit_photos = _first_frames(train, a.raw, a.calibration_photos)
    gain = np.ones(len(AU_ORDER), np.float32)
    if fit_photos:
        gain, tried = calibrate_gain(fit_photos, folder, aus)
        record = {
            "edit_gain": {au.value: round(float(g), 3) for au, g in zip(AU_ORDER, gain, strict=True)},
            "calibration": {
                "photos": f"first frame of {len(fit_photos)} training people",
                "response_at_gain": {au: {g: round(v, 3) for g, v in r.items()} for au, r in tried.items()},
            },
        }
        (a.out / "au_basis.json").write_text(json.dumps(record, indent=1) + "\n")
    lines += [
        "",
        "## Edit gain (au_basis.json)",
        "",
        (
            "An AU's slider moves the face by (edit) x gain x its row. The ridge rows of AUs that move together "
            "(the brows' AU01, AU02, AU04; the lids) each carry a share of the motion, so one slider alone drew "
            f"a part of its change. Each gain is the one of {GAIN_GRID} at which the teacher sees the edit land "
            f"most nearly in full (median over the first frames of {len(fit_photos)} training people), a gain "
            f"far from 1 costing {GAIN_PRICE} per unit of |log gain|; the response at each gain is in the json."
        ),
        "",
        "| AU | gain |",
        "|---|---|",
        *(f"| {au.value} | {g:.2f} |" for au, g in zip(AU_ORDER, gain, strict=True)),
    ]
    photos = _first_frames(val, a.raw, a.photos)
    if photos:
        ones = np.ones(len(AU_ORDER), np.float32)
        resp = edit_response(photos, folder, aus, {"au_edit": ones, "with gain": gain, "lt": None})
        lines += [
            "",
            f"## Edit response on {len(photos)} held-out people (the teacher's AU change over the slider's)",
            "",
            (
                "The live renderer (mesh flow, relative motion) on each person's first frame, one AU slider moved "
                "at a time; 1 means the Face Landmarker teacher sees the whole edit. `au_edit`: the rows as "
                "fitted; `with gain`: as shipped; `lt`: the same renderer with LT's answer to the edit instead."
            ),
            "",
            "| edit | " + " | ".join(resp) + " |",
            "|---" * (len(resp) + 1) + "|",
        ]
        for au in aus:
            lines.append(
                f"| {au} +{PROBE_OFFSET.get(au, 0.5)} | "
                + " | ".join(f"{resp[m].get(au, float('nan')):.2f}" for m in resp)
                + " |"
            )
    else:
        lines += ["", f"No held-out photo could be read from {a.raw}: edit response not measured."]
    (a.out / "au_basis.md").write_text("\n".join(lines) + "\n")
    print(json.dumps({"r2": r2, "frames": len(x), "seconds": round(seconds, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
