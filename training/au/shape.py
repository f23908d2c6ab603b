"""The lips' neutral shapes: how people's closed, resting lips differ, fitted from the prepared dataset.

A photo's lips at rest can hold an expression the 17 AUs do not name (a pucker, an "O", a pressed smirk);
relative motion kept it through the whole call. `realtime.render.neutral` projects the photo's lips onto
the shapes resting lips take across people (this model) and takes the rest out of the photo at the driver's
rest, after the AU basis has taken out what the AUs name (smile, open jaw).

Fit: every frame whose mouth AUs are all below NEUTRAL_AU, in its frontal frame (inter-ocular distance 1), the
lips (`topology.LIPS`); one mean shape per person (so talking people do not outweigh photos, and speech
averages out); principal components of the people's shapes, as many as explain SHAPE_VARIANCE of it.
Written by `python -m training.au_basis` (lip_shape.npy, float16 (1 + K, 40, 3): the mean shape, then each
component times its standard deviation, so a coefficient of 1 is one standard deviation across people).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from realtime.face import topology as topo
from realtime.face.pose import canonical_frame
from realtime.face.types import AU, AU_ORDER

MOUTH_AUS = (AU.AU10, AU.AU12, AU.AU14, AU.AU15, AU.AU17, AU.AU20, AU.AU23, AU.AU25, AU.AU26)
NEUTRAL_AU = 0.15
"""A frame is at rest when each of MOUTH_AUS is below this (the teacher's intensity)."""
SHAPE_VARIANCE = 0.95
"""Share of the variance of people's resting lips the components keep."""
MAX_COMPONENTS = 12


def resting_lips(tracks: list[Any]) -> dict[str, np.ndarray]:
    """Per identity, the mean (40, 3) frontal-frame lips of its resting frames (those that have any)."""
    mouth = [AU_ORDER.index(a) for a in MOUTH_AUS]
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for t in tracks:
        with np.load(t.dir / "meta.npz") as m:
            aus, lms = m["aus"], m["landmarks"]
        rest = np.flatnonzero((aus[:, mouth] < NEUTRAL_AU).all(1))
        if not len(rest):
            continue
        lips = np.stack([canonical_frame(lms[i])[list(topo.LIPS)] for i in rest]).astype(np.float64)
        sums[t.identity] = sums.get(t.identity, 0.0) + lips.sum(0)
        counts[t.identity] = counts.get(t.identity, 0) + len(rest)
    return {k: sums[k] / counts[k] for k in sums}


def fit_lip_shape(shapes: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """(N, 40, 3) people's resting lips -> (1 + K, 40, 3) the mean then the components times their standard
    deviation, and what the fit kept."""
    x = shapes.reshape(len(shapes), -1)
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s**2 / max(len(x) - 1, 1)
    share = np.cumsum(var) / var.sum()
    k = int(min(np.searchsorted(share, SHAPE_VARIANCE) + 1, MAX_COMPONENTS))
    comps = vt[:k] * np.sqrt(var[:k])[:, None]
    model = np.concatenate([mean[None], comps]).reshape(1 + k, -1, 3)
    return model, {"people": len(x), "components": k, "variance_kept": float(share[k - 1])}


def shape_explained(model: np.ndarray, shapes: np.ndarray) -> float:
    """Share of the variance of people's resting lips `shapes` (N, 40, 3) about the model's mean that the
    model's components explain (least squares)."""
    x = shapes.reshape(len(shapes), -1) - model[0].reshape(-1)
    comps = model[1:].reshape(len(model) - 1, -1).astype(np.float64)
    coef = np.linalg.lstsq(comps.T, x.T, rcond=None)[0]
    residual = x - (comps.T @ coef).T
    return float(1.0 - (residual**2).sum() / max((x**2).sum(), 1e-12))
