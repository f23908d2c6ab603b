"""The AU basis: the fit recovers known directions; the shipped basis moves the face as the AUs say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from realtime.face.types import AU, AU_ORDER
from training.au.basis import explained, fit_basis

SHIPPED = Path(__file__).resolve().parents[2] / "realtime" / "weights" / "au_basis.npy"


def test_the_fit_recovers_a_known_basis_and_explains_what_it_should() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(0, 0.05, (17, 478, 3))
    x = rng.uniform(-0.5, 0.5, (4000, 17))
    y = x @ truth.reshape(17, -1)
    basis = fit_basis(x, y, ridge=1e-6)
    np.testing.assert_allclose(basis, truth, atol=1e-6)
    assert explained(x, y, basis) == pytest.approx(1.0)
    noisy = y + rng.normal(0, y.std(), y.shape)  # as much noise as signal: half the variance explained
    assert explained(x, noisy, fit_basis(x, noisy)) == pytest.approx(0.5, abs=0.03)
    assert explained(x, y, np.zeros_like(truth)) == pytest.approx(0.0)


def test_the_shipped_basis_opens_the_jaw_widens_the_smile_and_shuts_the_eyes() -> None:
    if not SHIPPED.is_file():
        pytest.skip(f"{SHIPPED} not shipped")
    b = np.load(SHIPPED).astype(np.float32)  # frontal frame: x to the subject's left eye, y down to the chin
    k = {a: AU_ORDER.index(a) for a in (AU.AU12, AU.AU26, AU.AU45)}
    assert b[k[AU.AU26], 152, 1] > 0.05  # chin down by a twentieth of the eyes' distance
    assert b[k[AU.AU26], 14, 1] > b[k[AU.AU26], 13, 1]  # lower lip moves down more than the upper
    assert b[k[AU.AU12], 291, 0] - b[k[AU.AU12], 61, 0] > 0.02  # the mouth corners move apart
    upper, lower = 159, 145  # right eye: upper and lower lid centre
    assert b[k[AU.AU45], upper, 1] - b[k[AU.AU45], lower, 1] > 0.02  # the lids close on each other
