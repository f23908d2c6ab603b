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
    both = wr.dynamic_lines(frown, rest)
    lines = wr.gated_lines(both, (0.0, 0.5))  # AU04 up by 0.5
    assert lines is not None and lines.min() < -0.1 and lines.max() <= 0.0
    # Where they are: between the brows (the patch's middle third), not at its sides.
    w = lines.shape[1]
    assert (
        lines[:, w // 3 : 2 * w // 3].sum() < 5 * lines[:, : w // 3].sum() + 5 * lines[:, 2 * w // 3 :].sum()
    )
    assert wr.gated_lines(both, (0.0, 0.0)) is None  # the brows did not move: nothing
    raised_only = wr.gated_lines(both, (0.5, 0.0))  # brows raised: the glabella's creases not drawn
    assert raised_only is None or raised_only.min() > 0.3 * lines.min()


def test_raised_brows_draw_the_foreheads_lines(face) -> None:
    rest = wr.cut_detail(_skin(), face)
    raised = wr.cut_detail(_forehead_line(_skin(), face), face)
    both = wr.dynamic_lines(raised, rest)
    lines = wr.gated_lines(both, (0.5, 0.0))
    assert lines is not None and lines.min() < -0.1
    frown_only = wr.gated_lines(both, (0.0, 0.5))
    assert frown_only is None or frown_only.min() > 0.5 * lines.min()


def test_a_strand_of_hair_across_the_forehead_is_no_line(face) -> None:
    """A dark strand as steep as hair falling over the forehead (60 degrees) draws nearly nothing where the
    level line of raised brows, as dark, is drawn in full (the EDTalk driver's hair on the Pat Monahan photo)."""
    rest = wr.cut_detail(_skin(), face)
    level = wr.gated_lines(
        wr.dynamic_lines(wr.cut_detail(_forehead_line(_skin(), face), face), rest), (0.5, 0.0)
    )
    strand_img = _skin()
    y0, y1 = int(face[10, 1]), int(face[151, 1]) + 10
    x0 = int(0.5 * (face[109, 0] + face[10, 0]))
    cv2.line(strand_img, (x0, y0), (x0 + int((y1 - y0) / np.tan(np.radians(60))), y1), (110, 110, 110), 2)
    strand = wr.gated_lines(wr.dynamic_lines(wr.cut_detail(strand_img, face), rest), (0.5, 0.0))
    assert level is not None and strand is not None
    assert strand.min() > 0.3 * level.min()


def test_a_fringe_of_hair_swinging_over_the_forehead_is_no_line(face, monkeypatch) -> None:
    """Dark hair over the forehead's upper corner, its edge running down across it at 30 degrees (shallow enough
    to pass for a line across the face): nearly nothing is drawn where the level line of raised brows is drawn in
    full. Before, the fringe of SkyReels-A1's clip 2 drew a dark scar over the Obama photo's brow."""
    rest = wr.cut_detail(_skin(), face)
    level = wr.gated_lines(
        wr.dynamic_lines(wr.cut_detail(_forehead_line(_skin(), face), face), rest), (0.5, 0.5)
    )
    fringe = _skin()
    x0, y0 = float(face[109, 0]) - 40.0, float(face[10, 1]) - 10.0
    x1 = float(face[151, 0])
    y1 = y0 + (x1 - x0) * np.tan(np.radians(30))  # the edge: over the forehead's corner down to its middle
    hair_area = np.int32([[x0 - 200, y0 - 200], [x1 + 200, y0 - 200], [x1, y1], [x0 - 200, y0]])
    cv2.fillPoly(fringe, [hair_area], (35, 32, 30))  # dark brown, a fifth of the skin's brightness
    hair = wr.gated_lines(wr.dynamic_lines(wr.cut_detail(fringe, face), rest), (0.5, 0.5))
    assert level is not None and level.min() < -0.1
    assert hair is None or hair.min() > 0.3 * level.min()
    monkeypatch.setattr(wr, "HAIR_DARK", (-2.0, -1.0))  # lines drawn however dark the frame is round them
    hair = wr.gated_lines(wr.dynamic_lines(wr.cut_detail(fringe, face), rest), (0.5, 0.5))
    assert hair is not None and hair.min() < 0.8 * level.min()


def test_a_photos_forehead_creases_are_taken_out_at_rest_as_far_as_its_brows_were_raised(face) -> None:
    """rest_forehead: a photo's level forehead crease is lifted most of the way at strength 1, half as far at 0.5,
    not at all at 0 (a photo whose brows were not raised); the brows, the eyes and the cheeks are left alone."""
    lined = _forehead_line(_skin(), face)
    y = int(0.5 * (face[10, 1] + face[151, 1]))
    xs = slice(int(face[109, 0]) + 20, int(face[338, 0]) - 20)
    depth = lambda img: float(_skin()[y - 1 : y + 2, xs].mean() - img[y - 1 : y + 2, xs].astype(float).mean())
    full, half = wr.rest_forehead(lined, face, 1.0), wr.rest_forehead(lined, face, 0.5)
    assert depth(lined) > 30.0
    assert depth(full) < 0.5 * depth(lined) and depth(full) < depth(half) < depth(lined)
    assert wr.rest_forehead(lined, face, 0.0) is lined
    below = int(face[1, 1])  # from the nose's tip down: nothing changes
    assert np.array_equal(full[below:], lined[below:])


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
    assert rest.update(plain, (0.0, 0.01)) is None  # the brows within the gate's start: nothing computed


def test_painting_darkens_the_lines_and_leaves_the_brows_and_eyes(face) -> None:
    rest = wr.cut_detail(_skin(), face)
    lines = wr.gated_lines(wr.dynamic_lines(wr.cut_detail(_frown(_skin(), face), face), rest), (0.0, 1.0))
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


def test_the_renderer_draws_the_drivers_lines_as_the_brows_aus_shown_say(face) -> None:
    """MeshFlowFrame.render_frame: the driver's frown lines are on the photo while AU04 (as shown, after the
    user's edits) is up; not while it is shown at 0 (the page locks it), nor once the driver is gone."""
    from dataclasses import replace

    from realtime.face.types import AU, AU_ORDER, FaceAnalysis, HeadPose
    from realtime.render.framing import OutputLayout
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.driving import DriverSample, DriveState
    from realtime.stages.render import prepare_source

    class Fixed:
        def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> FaceAnalysis:
            lm = np.column_stack([face, np.zeros(len(face), np.float32)])
            return FaceAnalysis(lm, np.zeros(17, np.float32), HeadPose(0.0, 0.0, 0.0), 1)

    photo = _skin(3)
    src = prepare_source(photo, Fixed())
    lines = wr.dynamic_lines(wr.cut_detail(_frown(_skin(), face), face), wr.cut_detail(_skin(), face))
    z3, z17 = np.zeros(3, np.float32), np.zeros(17, np.float32)
    frown = z17.copy()
    frown[AU_ORDER.index(AU.AU04)] = 0.5
    with_lines = DriverSample(z17, z3, frown, np.zeros((478, 3), np.float32), None, None, lines)
    without = replace(with_lines, wrinkles=None)
    with MeshFlowFrame(MEAN_FACE.parent, "onnxruntime") as renderer:
        renderer.set_source(src, OutputLayout.identity(photo.shape))

        def render(sample: DriverSample, aus: np.ndarray, weight: float = 1.0) -> np.ndarray:
            return renderer.render_frame(src, DriveState(aus, z3, None, weight, "tracking", sample, None))

        assert np.abs(render(with_lines, frown).astype(int) - render(without, frown).astype(int)).max() > 20
        assert np.array_equal(render(with_lines, z17), render(without, z17))
        assert np.array_equal(render(with_lines, frown, 0.0), render(without, frown, 0.0))
