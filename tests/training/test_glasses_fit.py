"""The glasses detector's fitting (training.data.glasses): the logistic regression, the people-held-out
cross-validation and the threshold, on synthetic features; its labels against the dev data's manifest."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from training.data.glasses import (
    LABELS,
    auc,
    cross_validate,
    fit_logistic,
    read_labels,
    threshold_for_precision,
)


def _features(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 2, 20) features whose first column carries the label with noise; groups of 3 samples a person."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    x = rng.normal(size=(n, 2, 20))
    x[:, :, 0] += 2.5 * y[:, None]
    return x, y, np.arange(n) // 3


def test_the_logistic_fit_recovers_the_informative_feature() -> None:
    x, y, _ = _features(600, 0)
    w, _ = fit_logistic(x[:, 0], y.astype(float), penalty=1.0)
    assert np.argmax(np.abs(w)) == 0 and w[0] > 1.0
    assert np.abs(w[1:]).max() < 0.5 * w[0]


def test_held_out_people_are_scored_by_a_model_that_never_saw_them() -> None:
    x, y, groups = _features(600, 1)
    p = cross_validate(x, y, groups, penalty=1.0)
    assert 0.9 < auc(p, y) < 1.0  # informative, and not a copy of the labels
    # Labels that the features do not carry cannot be read on held-out people (a fold that saw them could).
    noise = np.random.default_rng(2).permutation(y)
    assert abs(auc(cross_validate(x, noise, groups, penalty=1.0), noise) - 0.5) < 0.1


def test_the_threshold_is_the_lowest_that_reaches_the_precision() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    y = np.array([0, 1, 0, 1, 1, 1])
    t = threshold_for_precision(p, y, 0.95)
    assert t == pytest.approx(0.3)
    assert threshold_for_precision(p, np.zeros(6, int), 0.95) == 1.0


def test_every_label_names_a_file_of_the_dev_manifest_with_its_identity(dev_data: Path) -> None:
    with open(dev_data / "MANIFEST.csv", newline="") as f:
        manifest = {r["path"]: r["identity"] for r in csv.DictReader(f)}
    labels = read_labels(LABELS)
    assert len(labels) > 1000 and 100 < sum(label for *_, label in labels) < 300
    assert all(manifest.get(path) == identity for path, identity, _ in labels)
