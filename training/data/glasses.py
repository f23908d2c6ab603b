"""`python -m training.glasses`: fit the glasses detector (realtime/weights/glasses.npz) on hand labels of the
dev photos (training/data/glasses_labels.csv: path, identity, label 1 glasses / 0 none; unsure ones are not in
it), and write its model card with cross-validated numbers.

Each labelled file (a photo, or a video's first frame) is analysed by the product's own FaceAnalyzer, aligned to
the 256 crop, and read as the HOG of its eye band (`realtime.face.glasses.band_features`), mirrored too. A
logistic regression with an L2 penalty is fitted by Newton's method; the penalty and the decision threshold are
chosen by 5-fold cross-validation with whole people held out (GroupKFold on the identity labels): the
threshold is the lowest probability at which held-out precision reaches TARGET_PRECISION (a false warning on a
photo without glasses is worse than a missed one: the output is the same either way).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from realtime.face.glasses import BAND, GlassesModel, mirrored_features

log = logging.getLogger(__name__)

LABELS = Path(__file__).with_name("glasses_labels.csv")
PENALTIES = (1.0, 10.0, 100.0, 1000.0)
"""L2 weights tried (on standardised features; the loss is summed over samples)."""
TARGET_PRECISION = 0.95
FOLDS = 5


def read_labels(path: Path = LABELS) -> list[tuple[str, str, int]]:
    with open(path, newline="") as f:
        return [(r["path"], r["identity"], int(r["label"])) for r in csv.DictReader(f)]


def first_frame(path: Path) -> np.ndarray | None:
    """RGB of a photo, or of a video's first frame; None when it cannot be read."""
    if path.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv", ".webm"):
        import av

        try:
            with av.open(str(path)) as c:
                return next(c.decode(video=0)).to_ndarray(format="rgb24")
        except (av.error.FFmpegError, StopIteration):
            return None
    image = cv2.imread(str(path))
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def features(data: Path, labels: list[tuple[str, str, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 2, D) features (crop, mirrored crop), (N,) labels, (N,) identity group ids of the readable faces."""
    from realtime.face.align import alignment_transform, warp_to_crop
    from realtime.face.analyzer import AnalyzerOptions, FaceAnalyzer

    xs, ys, groups = [], [], []
    names: dict[str, int] = {}
    with FaceAnalyzer(AnalyzerOptions(mode="image")) as analyzer:
        for rel, identity, label in labels:
            image = first_frame(data / rel)
            face = None if image is None else analyzer.analyze(image)
            if face is None:
                log.warning("%s: no face, left out", rel)
                continue
            crop = warp_to_crop(image, alignment_transform(face.landmarks, 256), 256)
            xs.append(mirrored_features(crop))
            ys.append(label)
            groups.append(names.setdefault(identity, len(names)))
    return np.stack(xs), np.array(ys), np.array(groups)


def fit_logistic(x: np.ndarray, y: np.ndarray, penalty: float, steps: int = 30) -> tuple[np.ndarray, float]:
    """Weights (D,) and bias of an L2-penalised logistic regression (bias unpenalised), Newton's method."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, penalty)
    reg[-1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        grad = xb.T @ (p - y) + reg * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w[:-1], float(w[-1])


def fit_model(x: np.ndarray, y: np.ndarray, penalty: float) -> GlassesModel:
    """A model fitted on (N, 2, D) features (both mirror images as samples), threshold 0.5 until chosen."""
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    mean = flat.mean(0)
    scale = flat.std(0) + 1e-3
    w, b = fit_logistic((flat - mean) / scale, np.repeat(y, 2).astype(np.float64), penalty)
    return GlassesModel(mean, scale, w, b, 0.5)


def cross_validate(x: np.ndarray, y: np.ndarray, groups: np.ndarray, penalty: float) -> np.ndarray:
    """(N,) held-out probabilities, FOLDS folds of whole people."""
    people = np.unique(groups)
    rng = np.random.default_rng(0)
    fold_of = dict(zip(rng.permutation(people), np.arange(len(people)) % FOLDS, strict=True))
    fold = np.array([fold_of[g] for g in groups])
    out = np.zeros(len(y))
    for k in range(FOLDS):
        held = fold == k
        out[held] = fit_model(x[~held], y[~held], penalty).probabilities(x[held])
    return out


def auc(p: np.ndarray, y: np.ndarray) -> float:
    pos, neg = p[y == 1], p[y == 0]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def threshold_for_precision(p: np.ndarray, y: np.ndarray, target: float) -> float:
    """The lowest threshold whose held-out precision (over p > threshold) is at least `target`."""
    for t in np.sort(np.unique(p)):
        said = p > t
        if said.any() and y[said].mean() >= target:
            return float(t)
    return 1.0


def scores(p: np.ndarray, y: np.ndarray, t: float) -> dict[str, float]:
    said = p > t
    return {
        "precision": float(y[said].mean()) if said.any() else 0.0,
        "recall": float(said[y == 1].mean()),
        "false_alarm_rate": float(said[y == 0].mean()),
        "auc": auc(p, y),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/dev"), help="the dev data folder")
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--out", type=Path, default=None, help="weights folder (default: the package's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from realtime.weights import weights_dir

    out = args.out or weights_dir()
    start = time.monotonic()
    x, y, groups = features(args.data, read_labels(args.labels))
    log.info("%d faces (%d with glasses) of %d people", len(y), int(y.sum()), len(np.unique(groups)))
    trials = {}
    for penalty in PENALTIES:
        p = cross_validate(x, y, groups, penalty)
        trials[penalty] = (auc(p, y), p)
        log.info("penalty %g: held-out AUC %.3f", penalty, trials[penalty][0])
    penalty = max(trials, key=lambda k: trials[k][0])
    held = trials[penalty][1]
    threshold = threshold_for_precision(held, y, TARGET_PRECISION)
    cv = scores(held, y, threshold)
    model = fit_model(x, y, penalty)
    model = GlassesModel(model.mean, model.scale, model.weight, model.bias, threshold)
    model.save(out / "glasses.npz")
    card = {
        "faces": len(y),
        "features": int(x.shape[-1]),
        "with_glasses": int(y.sum()),
        "people": len(np.unique(groups)),
        "penalty": penalty,
        "threshold": threshold,
        "held_out": cv,
        "held_out_auc_by_penalty": {str(k): v[0] for k, v in trials.items()},
    }
    (out / "glasses.json").write_text(json.dumps(card, indent=1) + "\n")
    (out / "glasses.md").write_text(model_card(card, time.monotonic() - start))
    log.info("wrote %s: %s", out / "glasses.npz", json.dumps(card))
    return 0


def model_card(card: dict, seconds: float) -> str:
    cv = card["held_out"]
    return f"""# glasses.npz: does the source photo's face wear glasses?

Made by `python -m training.glasses --data ../shared/data/dev` (training/data/glasses.py); this card and
glasses.json are written by that command.

## What it is

A logistic regression (`realtime.face.glasses.GlassesModel`) over the HOG of the eye band of the 256x256 aligned
face crop (rows {BAND[0]}-{BAND[1]}, columns {BAND[2]}-{BAND[3]}; 16 px cells, 2x2-cell blocks, 9 bins: {card["features"]} numbers), read on the
crop and its mirror image and averaged. `prepare_source` reads it once per source photo; above the threshold
the photo gets a warning line and the mesh flow holds the skin where a frame sits still on the face
(`realtime.face.glasses.frame_zone`: the frame keeps its shape; the cheeks under the eyes no longer lift with a
smile). A wrong "glasses" costs that cheek motion and a log line; a missed one, a frame that bends a little when
the brows rise.

## Data and labels

`../shared/data/dev` (internal research data, not shipped; no image is stored, only the weights). A seeded
sample of 1100 of its photos and the first frame of each of its videos, analysed by the run time's own
FaceAnalyzer: {card["faces"]} faces of {card["people"]} people, labelled by eye on contact sheets (a second look,
bigger, at every positive and every unsure one; unsure ones are left out) in
training/data/glasses_labels.csv: {card["with_glasses"]} wear glasses (clear, tinted or sunglasses; thin metal
and rimless frames included), the rest none. Most positives are older men in greyscale LFW photos.

## Method and numbers

Standardised features, L2 penalty {card["penalty"]:g} (of {", ".join(card["held_out_auc_by_penalty"])}, the best
held-out AUC), Newton's method. Held out: 5 folds of whole people. At the threshold {card["threshold"]:.3f}
(the lowest whose held-out precision reaches {TARGET_PRECISION}; chosen on the same held-out probabilities
it is scored on, so these are a little optimistic):

| held-out AUC | precision | recall | photos without glasses warned |
|---|---|---|---|
| {cv["auc"]:.3f} | {cv["precision"]:.3f} | {cv["recall"]:.3f} | {cv["false_alarm_rate"]:.3%} |

Hardware: x86_64, 2 CPU cores, no GPU; {seconds:.0f} s.

## Limits

Faces whose eye band is small in the photo (under ~40 px between the eyes) were labelled only where the frame
was visible; a face turned far sideways crops the band unevenly. Goggles pushed up on the forehead are "none".
"""
