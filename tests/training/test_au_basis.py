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


def test_edit_gains_are_read_by_au_and_default_to_one(tmp_path: Path) -> None:
    from realtime.weights import load_au_gain

    np.testing.assert_array_equal(load_au_gain(tmp_path), np.ones(17, np.float32))  # no au_basis.json
    folder = tmp_path / "with"
    folder.mkdir()
    (folder / "au_basis.json").write_text('{"edit_gain": {"AU04": 2.5, "AU25": 0.75}}')
    gain = load_au_gain(folder)
    assert gain[AU_ORDER.index(AU.AU04)] == 2.5 and gain[AU_ORDER.index(AU.AU25)] == 0.75
    assert np.count_nonzero(gain != 1.0) == 2


def test_the_shipped_gains_stay_in_bounds_and_leave_motionless_aus_alone() -> None:
    from realtime.weights import load_au_gain
    from training.au.basis import GAIN_GRID, probed_aus

    if not SHIPPED.with_suffix(".json").is_file():
        pytest.skip("au_basis.json not shipped")
    gain = load_au_gain(SHIPPED.parent)
    assert set(gain.tolist()) <= set(GAIN_GRID)
    probed = probed_aus(np.load(SHIPPED).astype(np.float32))
    for k, au in enumerate(AU_ORDER):
        if au.value not in probed:  # AU06, AU09: no motion of their own, nothing to calibrate
            assert gain[k] == 1.0
    assert {"AU12", "AU26", "AU01", "AU04"} <= set(probed)


def test_the_edit_rows_keep_each_au_to_its_part_of_the_face() -> None:
    """au_edit.npy: the jaw drop moves the chin and lower lip, never the upper lip or the nose, and nothing
    sideways; lips apart does not move the nose; a brow raiser does not move the mouth; a smile does not move the
    brows."""
    edit_path = SHIPPED.with_name("au_edit.npy")
    if not edit_path.is_file():
        pytest.skip("au_edit.npy not shipped")
    e = np.load(edit_path).astype(np.float32)
    k = {a: AU_ORDER.index(a) for a in (AU.AU01, AU.AU12, AU.AU25, AU.AU26)}
    upper_lip, nose_tip, lower_lip, chin, brow, mouth_corner = 13, 1, 14, 152, 105, 61
    assert e[k[AU.AU26], chin, 1] > 0.1 and e[k[AU.AU26], lower_lip, 1] > 0.1
    assert np.abs(e[k[AU.AU26], [upper_lip, nose_tip]]).max() == 0.0
    assert np.abs(e[k[AU.AU25], nose_tip]).max() == 0.0
    assert e[k[AU.AU25], lower_lip, 1] - e[k[AU.AU25], upper_lip, 1] > 0.1  # the lips part
    assert np.abs(e[k[AU.AU01], [upper_lip, lower_lip, mouth_corner]]).max() == 0.0
    assert e[k[AU.AU01], brow, 1] < -0.03  # the brow goes up
    assert np.abs(e[k[AU.AU12], brow]).max() == 0.0
    assert np.abs(e[k[AU.AU26], :, 0]).max() == 0.0  # the jaw drops; the mouth's sides are not drawn in (a V)


def test_a_constrained_fit_gives_the_forbidden_motion_to_the_allowed_aus() -> None:
    """Two AUs that always move together: fitted freely, each takes a share of a point's motion; with the
    first forbidden at that point, the second explains all of it there (not dropped)."""
    rng = np.random.default_rng(1)
    a = rng.uniform(-0.5, 0.5, 3000)
    x = np.zeros((3000, 17))
    x[:, 0], x[:, 1] = a, a + rng.normal(0, 0.05, 3000)  # AU01 and AU02 nearly the same signal
    y = np.zeros((3000, 478 * 3))
    y[:, 0] = 0.2 * a  # point 0 moves in x with the pair
    support = np.ones((17, 478), bool)
    support[0, 0] = False  # AU01 may not move point 0
    free, fit = fit_basis(x, y, 1e-6), fit_basis(x, y, 1e-6, support=support)
    assert abs(free[0, 0, 0]) > 0.05  # the free fit gives AU01 a share
    assert fit[0, 0, 0] == 0.0 and fit[1, 0, 0] == pytest.approx(0.2, abs=0.02)
