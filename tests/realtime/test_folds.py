"""A smiling photo's cheek folds flattened at rest (realtime.render.folds) on a synthetic face with a known
answer, and how far the rest lowered the smile sets the strength (realtime.render.neutral.fold_strength)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.face.types import AU, AU_ORDER
from realtime.render.folds import rest_folds
from realtime.render.neutral import FOLD_REST, fold_strength

MEAN_FACE = Path(__file__).resolve().parents[2] / "realtime" / "weights" / "mean_face.npy"


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """(478, 2) a frontal face about 200 px between the outer eye corners in a 400x400 picture."""
    if not MEAN_FACE.is_file():
        pytest.skip(f"mean face not found at {MEAN_FACE}")
    mean = np.load(MEAN_FACE)[:, :2].astype(np.float64)
    return (200.0 + 110.0 * mean).astype(np.float32)


def _skin(grain_blur: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    grain = rng.normal(0.0, 16.0, (400, 400)).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), grain_blur) if grain_blur > 0 else grain
    rgb = np.stack([180.0 + grain, 140.0 + grain, 120.0 + grain], axis=2)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _fold_line(face: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ends of a nasolabial fold: from beside the nose's wing (206) down past the mouth's corner (212)."""
    return face[206].astype(np.float64), face[212].astype(np.float64) + (face[212] - face[206]) * 0.2


def _folded(face: np.ndarray) -> np.ndarray:
    """Skin with a dark fold (a soft band 0.05 inter-ocular distances wide, as a smile presses one) on the photo's
    right cheek, and dark lips."""
    img = _skin()
    shade = np.zeros(img.shape[:2], np.float32)
    start, end = _fold_line(face)
    cv2.line(shade, tuple(np.round(start).astype(int)), tuple(np.round(end).astype(int)), 1.0, 4)
    shade = cv2.GaussianBlur(shade, (0, 0), 2.0)
    img = np.clip(img * (1.0 - 0.35 * shade[..., None] / shade.max()), 0, 255).astype(np.uint8)
    lips = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185]
    cv2.fillPoly(img, [np.round(face[lips]).astype(np.int32)], (120, 50, 60))
    return img


def _depth(img: np.ndarray, face: np.ndarray) -> float:
    """How much darker the fold's middle third is than the skin beside it (mean grey levels)."""
    start, end = _fold_line(face)
    gray = img.astype(np.float32).mean(2)
    side = np.array([end[1] - start[1], start[0] - end[0]]) / np.linalg.norm(end - start)
    on, off = [], []
    for t in np.linspace(0.35, 0.65, 7):
        p = start + t * (end - start)
        on.append(gray[round(float(p[1])), round(float(p[0]))])
        for s in (-8.0, 8.0):
            q = p + s * side
            off.append(gray[round(float(q[1])), round(float(q[0]))])
    return float(np.mean(off) - np.mean(on))


def test_a_smiles_fold_is_flattened_by_strength_and_the_lips_are_left_alone(face) -> None:
    folded = _folded(face)
    full, half = rest_folds(folded, face, 1.0), rest_folds(folded, face, 0.5)
    assert _depth(folded, face) > 20.0
    assert _depth(full, face) < 0.35 * _depth(folded, face)
    assert _depth(full, face) < _depth(half, face) < _depth(folded, face)
    assert rest_folds(folded, face, 0.0) is folded
    lips = np.zeros(folded.shape[:2], np.uint8)
    cv2.fillPoly(lips, [cv2.convexHull(np.round(face[[61, 291, 0, 17]]).astype(np.int32))], 1)
    assert np.array_equal(full[lips > 0], folded[lips > 0])  # the lips' colour is not spread or changed
    above = int(face[168, 1])  # the eyes, brows and forehead: nothing changes
    assert np.array_equal(full[:above], folded[:above])


def test_a_deep_folds_dark_core_goes_with_the_fold_and_leaves_no_line(face) -> None:
    """A deep fold's narrowest, darkest line (a third of the skin's brightness, 3 px wide) is flattened with the fold
    round it: judged alone it is past FOLD_RANGE, and it stayed as a dark cut where the rest was lifted. A dark
    spot wider than a fold's core (a mole) is still no fold and is kept."""
    img = _folded(face).astype(np.float32)
    start, end = _fold_line(face)
    core = np.zeros(img.shape[:2], np.float32)
    cv2.line(core, tuple(np.round(start).astype(int)), tuple(np.round(end).astype(int)), 1.0, 3)
    mole_at = np.round(face[205] + (face[50] - face[205]) * 0.5).astype(int)
    cv2.circle(core, tuple(mole_at), 6, 85.0 / 70.0, -1)  # a mole 0.06 inter-ocular wide, a seventh as bright
    img = np.clip(img * (1.0 - 0.7 * core[..., None]), 0, 255).astype(np.uint8)
    out = rest_folds(img, face, 1.0)
    assert _depth(img, face) > 60.0
    assert _depth(out, face) < 0.35 * _depth(img, face)
    mole = (slice(mole_at[1] - 3, mole_at[1] + 4), slice(mole_at[0] - 3, mole_at[0] + 4))
    assert np.abs(out[mole].astype(np.float32) - img[mole]).max() < 4.0


def test_the_skins_own_texture_is_kept_where_the_folds_are_flattened(face) -> None:
    """Pores and grain, finer than FOLD_FINE (here a pixel's), stay: the cheek is not smoothed into wax."""
    skin = _skin(grain_blur=0.0)
    out = rest_folds(skin, face, 1.0).astype(np.float32)
    cheek = (
        slice(int(face[205, 1]) - 6, int(face[205, 1]) + 6),
        slice(int(face[205, 0]) - 6, int(face[205, 0]) + 6),
    )
    grain = lambda img: float(np.abs(np.diff(img[cheek].mean(2), axis=1)).mean())
    assert grain(out) > 0.7 * grain(skin.astype(np.float32))


def test_the_strength_follows_how_far_the_rest_lowered_the_smile() -> None:
    smile = AU_ORDER.index(AU.AU12)
    aus, rest = np.zeros(len(AU_ORDER), np.float32), np.zeros(len(AU_ORDER), np.float32)
    aus[smile], rest[smile] = 0.9, 0.1
    assert fold_strength(aus, rest) == 1.0
    aus[smile] = 0.1 + 0.5 * FOLD_REST
    assert fold_strength(aus, rest) == pytest.approx(0.5)
    assert fold_strength(rest, rest) == 0.0  # a photo at rest, or --keep-expression
