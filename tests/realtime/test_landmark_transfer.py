"""Eyelids carried as a share of each eye's opening (landmark_transfer.fit_lids): a driver's blink shuts the
photo's eyes whatever their size, the AU45 slider shuts or holds them, and lids never cross."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from realtime.render.landmark_transfer import LID_PAIRS, fit_lids, lid_gaps

MEAN_FACE = Path(__file__).resolve().parents[2] / "realtime" / "weights" / "mean_face.npy"


@pytest.fixture(scope="module")
def mean_face() -> np.ndarray:
    if not MEAN_FACE.is_file():
        pytest.skip(f"mean face not found at {MEAN_FACE}")
    return np.load(MEAN_FACE).astype(np.float64)  # (478, 3) canonical, y down


def _with_eyes(face: np.ndarray, scale: float) -> np.ndarray:
    """The face with each eye's lids moved apart about the eye's middle line by `scale`."""
    out = face.copy()
    for eye in LID_PAIRS:
        for up, lo in eye:
            mid = 0.5 * (face[up, 1] + face[lo, 1])
            out[up, 1] = mid + scale * (face[up, 1] - mid)
            out[lo, 1] = mid + scale * (face[lo, 1] - mid)
    return out


def _narrow(face: np.ndarray, shares: tuple[float, float]) -> np.ndarray:
    """Expression that shuts each eye's share of its opening (right, left) by lowering the upper lid."""
    expr = np.zeros_like(face)
    for eye, gaps, share in zip(LID_PAIRS, lid_gaps(face), shares, strict=True):
        for (up, _), g in zip(eye, gaps, strict=True):
            expr[up, 1] = share * g
    return expr


def _blink(face: np.ndarray, share: float) -> np.ndarray:
    """Expression that shuts `share` of each eye's opening by lowering the upper lid."""
    return _narrow(face, (share, share))


def test_the_driver_blink_shuts_the_same_share_of_a_wider_photo_eye(mean_face) -> None:
    driver = mean_face
    photo = _with_eyes(mean_face, 1.8)
    expr = fit_lids(_blink(driver, 0.8), photo, driver)
    left = lid_gaps(photo + expr) / lid_gaps(photo)
    np.testing.assert_allclose(left, 0.2, atol=0.02)  # as a distance, 0.8 of the driver's gap left 0.56
    unscaled = lid_gaps(photo + _blink(driver, 0.8)) / lid_gaps(photo)
    assert unscaled.min() > 0.5


def test_lids_never_cross(mean_face) -> None:
    expr = fit_lids(_blink(mean_face, 1.6), mean_face, None)
    gaps = lid_gaps(mean_face + expr)
    assert gaps.min() >= -1e-6
    assert gaps.max() < 1e-5


def test_two_narrowed_eyes_read_unevenly_are_drawn_together(mean_face) -> None:
    """Both eyes narrowed, read 45 % and 3 % open (the mesh on a driver looking down): the photo shows two
    nearly shut eyes, not one shut beside one half open; the mean share shut is kept."""
    expr = fit_lids(_narrow(mean_face, (0.55, 0.97)), mean_face, mean_face)
    lost = 1.0 - lid_gaps(mean_face + expr).mean(1) / lid_gaps(mean_face).mean(1)
    assert abs(lost[0] - lost[1]) < 0.3 * 0.42 + 1e-3  # the gap cut to a fifth (EYE_PAIRING 0.8)
    assert lost.mean() == pytest.approx(0.76, abs=0.01)
    unpaired = fit_lids(_narrow(mean_face, (0.55, 0.97)), mean_face, None)  # no driver: as given
    lost = 1.0 - lid_gaps(mean_face + unpaired).mean(1) / lid_gaps(mean_face).mean(1)
    np.testing.assert_allclose(lost, (0.55, 0.97), atol=1e-3)


def test_one_eye_half_narrowed_beside_an_open_one_is_drawn_towards_it(mean_face) -> None:
    """One eye read open and the other 0.55 shut (a driver looking down with its head turned, the PC-AVS
    681600002 clip): the photo's eyes are drawn half way together, the mean share shut kept; it stared with one
    eye beside a drooping one. A wink (EYE_HALF's fourth number and past) is not touched."""
    expr = fit_lids(_narrow(mean_face, (0.0, 0.55)), mean_face, mean_face)
    lost = 1.0 - lid_gaps(mean_face + expr).mean(1) / lid_gaps(mean_face).mean(1)
    assert lost[1] - lost[0] == pytest.approx(0.275, abs=0.01)  # the gap halved (EYE_HALF's 0.5)
    assert lost.mean() == pytest.approx(0.275, abs=0.01)


def test_a_wink_is_kept(mean_face) -> None:
    for shares in ((0.0, 1.0), (0.2, 0.95)):  # the open eye still, or a little narrowed with the cheek
        expr = fit_lids(_narrow(mean_face, shares), mean_face, mean_face)
        lost = 1.0 - lid_gaps(mean_face + expr).mean(1) / lid_gaps(mean_face).mean(1)
        np.testing.assert_allclose(lost, shares, atol=1e-3)


def test_the_au45_slider_shuts_the_eyes_or_holds_them_open(mean_face) -> None:
    half = _blink(mean_face, 0.5)
    shut = fit_lids(half, mean_face, None, blink=(0.5, 1.0))
    assert np.abs(lid_gaps(mean_face + shut)).max() < 1e-5
    held = fit_lids(half, mean_face, None, blink=(0.5, 0.0))
    np.testing.assert_allclose(lid_gaps(mean_face + held), lid_gaps(mean_face), atol=1e-5)
    more = fit_lids(half, mean_face, None, blink=(0.5, 0.75))  # half of what was left to go
    np.testing.assert_allclose(lid_gaps(mean_face + more), 0.25 * lid_gaps(mean_face), atol=1e-5)


def test_without_a_neutral_or_an_edit_the_expression_is_kept(mean_face) -> None:
    rng = np.random.default_rng(0)
    expr = rng.normal(0.0, 0.005, mean_face.shape)
    np.testing.assert_allclose(fit_lids(expr, mean_face, None), expr, atol=1e-6)
    away = [i for i in range(478) if all(i not in pair for eye in LID_PAIRS for pair in eye)]
    scaled = fit_lids(expr, _with_eyes(mean_face, 1.5), mean_face)
    np.testing.assert_allclose(scaled[away], expr[away], atol=1e-6)  # only the lids are rescaled


def test_a_jaw_drop_is_carried_by_the_chin_not_taken_for_a_head_tilt(mean_face) -> None:
    """The lower face (below the mouth's corners) dropped by 0.2 of the eye distance: the expression moves the
    chin by 0.2 and leaves the forehead still (a fit over every point tilted and grew the head instead)."""
    from realtime.render.landmark_transfer import driver_expression

    y = mean_face[:, 1]
    dropped = mean_face.copy()
    dropped[y > mean_face[61, 1], 1] += 0.2  # canonical frame, inter-ocular units, y down
    expr = driver_expression(dropped * 60.0, mean_face)  # any scale: expression is in eye distances
    assert expr[152, 1] == pytest.approx(0.2, abs=0.02)
    assert np.abs(expr[10]).max() < 0.01  # the forehead's top
