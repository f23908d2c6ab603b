"""Framing: where the photo lands in the user's --size frame (a head and shoulders, as a call shows them), and
the fill where the photo does not reach."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.render.framing import (
    CHIN,
    FACE_AT,
    FACE_SHARE,
    FOREHEAD,
    MAX_ZOOM,
    OutputLayout,
    covering,
    extend,
)

MEAN_FACE = Path(__file__).resolve().parents[2] / "realtime" / "weights" / "mean_face.npy"


def _face(centre: tuple[float, float], size: float) -> np.ndarray:
    """(478, 2) mean-face landmarks about `size` px wide at `centre`."""
    if not MEAN_FACE.is_file():
        pytest.skip(f"mean face not found at {MEAN_FACE}")
    mean = np.load(MEAN_FACE)[:, :2]  # (478, 2), about [-1, 1]
    return np.asarray(centre) + size / 2.0 * mean


def _share(layout: OutputLayout, face: np.ndarray) -> float:
    return layout.scale * float(np.linalg.norm(face[CHIN] - face[FOREHEAD])) / layout.size[1]


def _placed(layout: OutputLayout, pts: np.ndarray) -> np.ndarray:
    return pts @ layout.transform[:, :2].T + layout.transform[:, 2]


def test_a_close_up_is_shown_whole_in_height_with_its_forehead_in_the_frame() -> None:
    """A 512-px face crop in a 1280x720 frame: covering the frame cut it to brows-to-lips; now the whole photo
    is shown, as tall as the frame, the forehead's top well inside it."""
    face = _face((256.0, 270.0), 300.0)
    layout = OutputLayout.fit((512, 512, 3), (1280, 720), face)
    assert layout.scale == pytest.approx(720 / 512)  # shrunk to fit, no further
    top = _placed(layout, face[[FOREHEAD]])[0]
    assert top[1] > 0.15 * 720 and abs(top[0] - 640) < 40
    corners = _placed(layout, np.array([[0.0, 0.0], [512.0, 512.0]]))
    assert corners[0, 1] == pytest.approx(0) and corners[1, 1] == pytest.approx(720)  # no fill above or below


def test_a_small_face_in_a_large_photo_is_brought_up_to_a_calls_size() -> None:
    face = _face((1500.0, 700.0), 120.0)
    layout = OutputLayout.fit((2000, 3000, 3), (1280, 720), face)
    assert _share(layout, face) == pytest.approx(FACE_SHARE[0])
    middle = _placed(layout, (face[[CHIN]] + face[[FOREHEAD]]) / 2.0)[0]
    assert middle == pytest.approx([640.0, FACE_AT * 720.0], abs=1.0)
    corners = _placed(layout, np.array([[0.0, 0.0], [3000.0, 2000.0]]))
    assert (corners[0] <= 0).all() and (corners[1] >= [1280, 720]).all()  # it covers the frame


def test_a_tiny_face_is_enlarged_no_more_than_max_zoom() -> None:
    face = _face((1000.0, 700.0), 20.0)  # a face in a crowd
    layout = OutputLayout.fit((1536, 2048, 3), (1280, 720), face)
    assert layout.scale == pytest.approx(MAX_ZOOM)
    small = OutputLayout.fit((112, 112, 3), (1280, 720), _face((56.0, 56.0), 60.0))
    assert small.scale == pytest.approx(720 / 112)  # a tiny photo is still shown as tall as the frame


def test_a_photo_already_framed_like_a_call_is_shown_as_it_is() -> None:
    face = _face((700.0, 330.0), 230.0)  # a face about 0.38 of the height
    layout = OutputLayout.fit((720, 1280, 3), (1920, 1080), face)
    assert FACE_SHARE[0] < _share(layout, face) < FACE_SHARE[1]
    assert np.allclose(layout.transform, [[1.5, 0, 0], [0, 1.5, 0]])


def test_a_face_near_the_photos_edge_is_centred_only_as_far_as_the_photo_reaches() -> None:
    face = _face((150.0, 500.0), 160.0)  # near the left edge of a large photo
    layout = OutputLayout.fit((1000, 1600, 3), (1280, 720), face)
    corners = _placed(layout, np.array([[0.0, 0.0], [1600.0, 1000.0]]))
    assert (corners[0] <= 1e-9).all() and (corners[1] >= [1280 - 1e-9, 720 - 1e-9]).all()


def _textured(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return cv2.resize(rng.uniform(0, 255, (h // 20, w // 20, 3)).astype(np.float32), (w, h)).astype(np.uint8)


def test_covering_extends_a_photo_only_where_the_frame_needs_it() -> None:
    photo = _textured(400, 300)
    t = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    same, to_out, offset = covering(photo, t, (300, 400))
    assert same is photo and offset == (0, 0)
    t = np.array([[1.8, 0.0, 370.0], [0.0, 1.8, 0.0]])  # 540 wide in a 1280-wide frame
    bigger, to_out, (x, y) = covering(photo, t, (1280, 720))
    assert np.array_equal(bigger[y : y + 400, x : x + 300], photo)
    frame = cv2.warpAffine(bigger, to_out, (1280, 720), flags=cv2.INTER_LINEAR)
    direct = cv2.warpAffine(photo, t, (1280, 720), flags=cv2.INTER_LINEAR)
    inside = (slice(5, 715), slice(380, 900))
    assert np.abs(frame[inside].astype(int) - direct[inside].astype(int)).max() <= 1  # the photo where it was


def test_the_fill_continues_the_edge_and_smooths_it_away_from_the_photo() -> None:
    """Next to the photo the fill is its edge; far out, it is soft: no copy of the photo (a second face) and no
    sharp streaks carried from the edge."""
    photo = _textured(200, 100)
    out = extend(photo, (0, 0, 300, 300), blur=60.0, ramp=150.0).astype(np.float32)
    assert out.shape == (200, 700, 3)
    edge = photo[:, 0].astype(np.float32)
    assert np.abs(out[:, 299] - edge).mean() < 4  # continuous at the edge
    texture = np.abs(np.diff(photo.astype(np.float32), axis=0)).mean()
    far = np.abs(np.diff(out[:, :60], axis=0)).mean()  # vertical change far out, across the streaks
    assert far < 0.2 * texture
    assert abs(out[:, :60].mean() - photo.mean()) < 30  # the photo's colours, not black


def test_hair_at_the_photos_top_edge_is_no_plume_up_the_frame() -> None:
    """A photo cut by its top through dark hair (a 100-px patch at its top edge), placed low in a square frame with
    212 px of fill over it: a fifth of the frame's side above the photo, the fill over the hair keeps under 0.35 of
    its darkness (0.69 with the fill's blur at 0.08 of the frame: a dark plume up to the frame's top)."""
    photo = np.full((300, 300, 3), 200, np.uint8)
    photo[:40, 100:200] = 40
    t = np.array([[1.0, 0.0, 106.0], [0.0, 1.0, 212.0]])
    extended, to_out, _ = covering(photo, t, (512, 512))
    frame = cv2.warpAffine(extended, to_out, (512, 512))
    above = frame[212 - 100, 106 + 150].astype(np.float32).mean()
    assert (200.0 - above) / 160.0 < 0.35
