"""The driver's expression lines (realtime.render.wrinkles) on synthetic faces with a known answer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.render import wrinkles as wr

MEAN_FACE = Path(__file__).resolve().parents[2] / "realtime" / "weights" / "mean_face.npy"


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """(478, 2) a frontal face about 200 px between the outer eye corners in a 400x400 picture."""
    mean = np.load(MEAN_FACE)[:, :2].astype(np.float64)
    return (200.0 + 110.0 * mean).astype(np.float32)


def _skin(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.normal(0.0, 6.0, (400, 400)).astype(np.float32), (0, 0), 1.0)
    return np.clip(170.0 + grain, 0, 255).astype(np.uint8)[..., None].repeat(3, axis=2)


def _frown(img: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Two dark vertical creases between the brows' inner ends, as a frown draws them."""
    out = img.copy()
    left, right = face[107], face[336]  # the brows' inner ends
    for x in (left[0] + 0.3 * (right[0] - left[0]), left[0] + 0.7 * (right[0] - left[0])):
        top, bottom = int(left[1]), int(left[1] + 0.1 * 200)
        cv2.line(out, (int(x), top), (int(x), bottom), (110, 110, 110), 2)
    return out


def _forehead_line(img: np.ndarray, face: np.ndarray) -> np.ndarray:
    """A dark horizontal line across the forehead, as raised brows draw it."""
    out = img.copy()
    y = int(0.5 * (face[10, 1] + face[151, 1]))
    cv2.line(out, (int(face[109, 0]), y), (int(face[338, 0]), y), (110, 110, 110), 2)
    return out


def test_a_frown_draws_its_creases_on_the_glabella_only_while_the_brows_lower(face) -> None:
    rest = wr.cut_detail(_skin(), face)
    frown = wr.cut_detail(_frown(_skin(), face), face)
    assert rest is not None and frown is not None
    lines = wr.dynamic_lines(frown, rest, (0.0, 0.5))  # AU04 up by 0.5
    assert lines is not None and lines.min() < -0.1 and lines.max() <= 0.0
    # Where they are: between the brows (the patch's middle third), not at its sides.
    w = lines.shape[1]
    assert (
        lines[:, w // 3 : 2 * w // 3].sum() < 5 * lines[:, : w // 3].sum() + 5 * lines[:, 2 * w // 3 :].sum()
    )
    assert wr.dynamic_lines(frown, rest, (0.0, 0.0)) is None  # the brows did not move: nothing
    raised_only = wr.dynamic_lines(frown, rest, (0.5, 0.0))  # brows raised: the glabella's creases not drawn
    assert raised_only is None or raised_only.min() > 0.3 * lines.min()


def test_raised_brows_draw_the_foreheads_lines(face) -> None:
    rest = wr.cut_detail(_skin(), face)
    raised = wr.cut_detail(_forehead_line(_skin(), face), face)
    lines = wr.dynamic_lines(raised, rest, (0.5, 0.0))
    assert lines is not None and lines.min() < -0.1
    frown_only = wr.dynamic_lines(raised, rest, (0.0, 0.5))
    assert frown_only is None or frown_only.min() > 0.5 * lines.min()


def test_the_rest_follows_frames_with_the_brows_at_rest_and_lines_are_only_darker(face) -> None:
    rest = wr.WrinkleRest()
    plain = wr.cut_detail(_skin(), face)
    assert rest.update(plain, (0.0, 0.0)) is None and rest.rest is plain
    frown = wr.cut_detail(_frown(_skin(), face), face)
    before = rest.rest.detail.copy()
    assert rest.update(frown, (0.0, 0.5)) is not None
    assert np.array_equal(rest.rest.detail, before)  # a frowning frame does not feed the rest
    # A driver whose rest has the creases (it started frowning) and who relaxes: nothing lighter is drawn.
    rest.reset()
    rest.update(frown, (0.0, 0.0))
    relaxed = rest.update(plain, (0.0, 0.5))
    assert relaxed is not None and relaxed.min() > -0.02


def test_painting_darkens_the_lines_and_leaves_the_brows_and_eyes(face) -> None:
    rest = wr.cut_detail(_skin(), face)
    lines = wr.dynamic_lines(wr.cut_detail(_frown(_skin(), face), face), rest, (0.0, 1.0))
    assert lines is not None
    roi = np.full((400, 400, 3), 180, np.uint8)
    wr.paint_lines(roi, lines, face)
    assert roi.min() < 150  # creases drawn
    from realtime.face import topology as topo

    for part in (topo.LEFT_EYEBROW, topo.RIGHT_EYEBROW, topo.LEFT_EYE, topo.RIGHT_EYE):
        pts = np.round(face[list(part)]).astype(int)
        assert (roi[pts[:, 1], pts[:, 0]] == 180).all()
    untouched = np.full((400, 400, 3), 180, np.uint8)
    wr.paint_lines(untouched, np.zeros_like(lines), face)
    assert (untouched == 180).all()
