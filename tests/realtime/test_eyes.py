"""The eye painter's geometry (windows level with each eye, the left one mirrored; openings) and its place in
the mesh flow: a closing eye is painted inside its window, an eye that keeps its opening is left as the warp
draws it; without the painter a shut eye's slit is covered by its lids."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.face.align import alignment_transform, apply_transform
from realtime.render.eyes import (
    EYE_CORNERS,
    EYE_LOOPS,
    EYE_WINDOW,
    UPPER_RINGS,
    EyePainter,
    cover_lids,
    eye_mask,
    eye_opening,
    eye_window,
)
from realtime.render.framing import OutputLayout
from realtime.render.meshflow import MeshFlow

MEAN_FACE = Path(__file__).resolve().parents[2] / "realtime" / "weights" / "mean_face.npy"


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    if not MEAN_FACE.is_file():
        pytest.skip(f"mean face not found at {MEAN_FACE}")
    mean = np.load(MEAN_FACE)
    return np.column_stack(
        [240.0 + 110.0 * mean[:, 0], 300.0 + 110.0 * mean[:, 1], 110.0 * mean[:, 2]]
    ).astype(np.float32)


def _at(window: np.ndarray, x: float, y: float) -> np.ndarray:
    return window[:, :2] @ np.array([x, y]) + window[:, 2]


def test_windows_are_level_with_each_eye_and_mirrored_for_the_left(face) -> None:
    w, h = EYE_WINDOW
    for eye in (0, 1):
        win = eye_window(face, eye)
        outer, inner = face[EYE_CORNERS[eye][0], :2], face[EYE_CORNERS[eye][1], :2]
        assert np.allclose(_at(win, w / 2, h / 2), (outer + inner) / 2, atol=1e-4)  # centred
        left, _right = _at(win, 0, h / 2), _at(win, w, h / 2)
        assert np.linalg.norm(left - outer) < np.linalg.norm(
            left - inner
        )  # outer corner on the left, both eyes
        assert _at(win, w / 2, h)[1] > _at(win, w / 2, 0)[1]  # window y runs down the face
        mask = eye_mask(face, eye, win)
        assert 0.05 < mask.mean() < 0.5 and mask[h // 2, w // 2] > 0.5  # the eye sits in the middle
    # A similarity of the landmarks moves the window with them (training's crops, run time's output pixels).
    m = np.array([[1.3, -0.2, 17.0], [0.2, 1.3, -5.0]])
    moved = apply_transform(m, face)
    assert np.allclose(
        eye_window(moved, 0), np.vstack([m @ np.vstack([eye_window(face, 0), [0, 0, 1]])]), atol=1e-6
    )


def test_opening_falls_as_the_lids_close(face) -> None:
    closed = face.copy()
    for eye in (0, 1):
        loop = list(EYE_LOOPS[eye])
        mid = face[loop, 1].mean()
        closed[loop, 1] = mid + 0.1 * (face[loop, 1] - mid)
        assert eye_opening(closed, eye) < 0.2 * eye_opening(face, eye)


def _white_painter(path: Path) -> EyePainter:
    torch = pytest.importorskip("torch")
    from training.models.eye_painter import EyePainterConfig, EyePainterNet
    from training.painter.train import export

    net = EyePainterNet(EyePainterConfig())
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.fill_(12.0)  # white, alpha 1 everywhere
    export(net, path)
    return EyePainter(path)


def test_mesh_flow_paints_a_closing_eye_and_leaves_a_steady_one(face, tmp_path) -> None:
    rng = np.random.default_rng(0)
    photo = (
        cv2.resize(rng.uniform(0, 255, (10, 8, 3)).astype(np.float32), (480, 600))
        .clip(0, 255)
        .astype(np.uint8)
    )
    m = alignment_transform(face)
    ls = apply_transform(m, face)[:, :2]
    painter = _white_painter(tmp_path / "eye_painter.onnx")
    plain, painted = MeshFlow(), MeshFlow(eye_painter=painter)
    for f in (plain, painted):
        f.install(f.prepare(photo, m, ls, OutputLayout.identity(photo.shape)))
    assert np.array_equal(plain.render(ls), painted.render(ls))  # nothing changed: nothing painted
    lt = ls.copy()
    loop = list(EYE_LOOPS[0])
    mid = ls[loop, 1].mean()
    lt[loop, 1] = mid + 0.15 * (ls[loop, 1] - mid)  # the right eye (image left) nearly shut
    a, b = plain.render(lt), painted.render(lt)
    inv = cv2.invertAffineTransform(m)
    x, y = np.round(ls[loop].mean(0) @ inv[:, :2].T + inv[:, 2]).astype(int)
    assert b[y, x].min() > 245 and a[y, x].min() < 245  # the shut eye is painted (white here)
    ox, oy = np.round(ls[list(EYE_LOOPS[1])].mean(0) @ inv[:, :2].T + inv[:, 2]).astype(int)
    assert np.array_equal(
        a[oy - 5 : oy + 5, ox - 5 : ox + 5], b[oy - 5 : oy + 5, ox - 5 : ox + 5]
    )  # the open eye


def test_without_the_painter_a_shut_eye_shows_lid_skin_not_a_squeezed_iris(face) -> None:
    """Skin with a dark eye inside the right eye's lids: shut to 15 % of its opening, the warp alone squeezes the iris
    into a dark slit; the cover fills it with the skin around. An eye left half open keeps its iris."""
    skin = np.array([200, 150, 130], np.uint8)
    photo = np.tile(skin, (600, 480, 1))
    eye = face[list(EYE_LOOPS[0]), :2]
    centre = eye.mean(0)
    inside = np.round((centre + 0.8 * (eye - centre)) * 16).astype(np.int32)
    cv2.fillPoly(photo, [inside], (40, 30, 30), cv2.LINE_AA, 4)  # the eye's dark inside, within its lids
    m = alignment_transform(face)
    ls = apply_transform(m, face)[:, :2]
    flow = MeshFlow()
    flow.install(flow.prepare(photo, m, ls, OutputLayout.identity(photo.shape)))
    loop = list(EYE_LOOPS[0])
    mid = ls[loop, 1].mean()

    def shut_to(share: float) -> np.ndarray:
        lt = ls.copy()
        lt[loop, 1] = mid + share * (ls[loop, 1] - mid)
        return flow.render(lt)

    x, y = np.round(centre).astype(int)
    assert np.abs(shut_to(1.0)[y, x].astype(int) - skin).max() > 100  # open: the iris
    assert np.abs(shut_to(0.6)[y, x].astype(int) - skin).max() > 100  # half open: still the iris
    shut = shut_to(0.15)
    # shut: lid skin (its lash line, here the skin's colour, at most LASH_SHADE darker), not the iris (160 off)
    assert np.abs(shut[y - 2 : y + 3, x - 8 : x + 9].astype(int) - skin).max() < 50


def test_a_shut_eyes_lash_line_is_darker_and_thicker_than_the_open_eyes_lashes(face) -> None:
    """The lash line drawn where a shut eye's lids meet is darker than the photo's (open eye's) lash colour and
    a twentieth of the eye's width thick at least (LASH, LASH_SHADE): against real shut eyes, a faint line of the
    open eye's lash colour left an empty oval."""
    big = face.copy()
    big[:, :2] = (240.0, 300.0) + 3.0 * (face[:, :2] - (240.0, 300.0))  # an eye some 100 px wide
    loop, ring = big[list(EYE_LOOPS[0]), :2].copy(), big[list(UPPER_RINGS[0]), :2]
    loop[1:8, 1] = loop[9:16, 1][::-1]  # shut: the upper lid on the lower
    skin, lash = np.float32([200, 150, 130]), np.float32([110, 90, 80])
    image = np.tile(skin.astype(np.uint8), (600, 480, 1))
    cover_lids(image, loop, ring, 1.0, lash)
    width = float(np.linalg.norm(loop[8] - loop[0]))
    x = round(float(0.5 * (loop[0, 0] + loop[8, 0])))
    column = image[:, x].astype(np.float32)
    assert column.mean(1).min() < lash.mean()  # darker than the open eye's lashes
    dark = (column.mean(1) < 0.5 * (skin.mean() + lash.mean())).sum()  # rows past half way to the lash colour
    assert dark >= 0.05 * width


def test_cover_lids_blends_by_amount_and_leaves_the_rest_of_the_image(face) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (600, 480, 3), dtype=np.uint8)
    loop, ring = face[list(EYE_LOOPS[1]), :2], face[list(UPPER_RINGS[1]), :2]
    none = image.copy()
    cover_lids(none, loop, ring, 0.0)
    assert np.array_equal(none, image)
    full = image.copy()
    cover_lids(full, loop, ring, 1.0)
    changed = np.argwhere(np.any(full != image, axis=2))  # (N, 2) y, x
    assert len(changed) > 50
    lo, hi = np.floor(face[list(EYE_LOOPS[1]) + list(UPPER_RINGS[1]), :2].min(0)), np.ceil(loop.max(0))
    assert changed[:, 1].min() >= lo[0] - 6 and changed[:, 1].max() <= hi[0] + 6  # within the eye's span
    assert changed[:, 0].min() >= lo[1] - 6 and changed[:, 0].max() <= hi[1] + 6


def test_a_covered_eye_keeps_the_skins_fine_texture(face) -> None:
    """Skin with a fine grain and a shut eye's slit: the cover fills the slit with the grain of the skin under the
    eye (LID_TEXTURE), not with a flat blend of two blurred rows."""
    rng = np.random.default_rng(3)
    image = np.clip(170.0 + rng.normal(0.0, 12.0, (600, 480, 1)), 0, 255).astype(np.uint8).repeat(3, axis=2)
    loop, ring = face[list(EYE_LOOPS[0]), :2], face[list(UPPER_RINGS[0]), :2]
    mid = loop[:, 1].mean()
    shut = loop.copy()
    shut[:, 1] = mid + 0.1 * (loop[:, 1] - mid)
    cv2.polylines(image, [np.round(shut).astype(np.int32)], True, (30, 30, 30), 2)  # the slit
    x, y = np.round(shut.mean(0)).astype(int)
    inside = (slice(y - 2, y + 3), slice(x - 8, x + 9))

    def grain(img: np.ndarray) -> float:
        return float(cv2.Laplacian(img[..., 0].astype(np.float32), cv2.CV_32F)[inside].std())

    covered = image.copy()
    cover_lids(covered, shut, ring, 1.0)
    assert np.abs(covered[inside].astype(int).mean() - 170) < 12  # skin, not the slit
    skin = grain(np.clip(170.0 + rng.normal(0.0, 12.0, (600, 480, 1)), 0, 255).astype(np.uint8))
    assert grain(covered) > 0.4 * skin


def test_a_covered_eye_runs_from_the_lid_skin_over_it_to_the_lower_lid_under_it() -> None:
    """Each column of the cover goes from the colour just over it to the colour just under it; a lash at the
    edge is blurred along the eye, not drawn down as a streak; nothing spreads sideways from a dark crease at
    one end (Telea inpainting spread it into a smudge that read as an open eye)."""
    from realtime.render.draw import column_fill

    lid, lower = np.array([180.0, 140.0, 120.0]), np.array([150.0, 120.0, 130.0])
    patch = np.zeros((30, 60, 3), np.uint8)
    patch[:15], patch[15:] = lid, lower
    patch[9, 30] = (20, 20, 20)  # a lash just over the eye
    patch[:10, 5:15] = (125, 100, 90)  # a crease at the outer end
    mask = np.zeros((30, 60), np.uint8)
    mask[10:20, 5:55] = 255
    out = column_fill(patch, mask, 5.0)
    assert np.array_equal(out[~(mask > 0)], patch[~(mask > 0)].astype(np.float32))  # only the mask changes
    assert np.abs(out[10, 40] - lid).max() < 8 and np.abs(out[19, 40] - lower).max() < 8  # lid -> lower lid
    assert np.abs(out[15, 40] - 0.5 * (lid + lower)).max() < 8  # half-way between in the middle
    streak = out[12:18, 30].mean(0) - out[12:18, [24, 36]].mean(1).mean(0)
    assert np.abs(streak).max() < 8  # the lash is not drawn down its column
    assert np.abs(out[12, 40:54] - out[12, 47]).max() < 3  # the crease at the far end does not spread here
    assert out[12, 8].mean() < out[12, 47].mean() - 20  # ... its own columns start from it


def test_the_lash_line_is_a_smooth_arc_through_the_corners_even_over_zigzag_points() -> None:
    from realtime.render.eyes import _lid_curve

    t = np.linspace(0.0, 1.0, 9)
    arc = np.column_stack([100.0 + 40.0 * t, 50.0 - 12.0 * t * (1 - t)])  # a lid, corner to corner
    zigzag = arc + np.column_stack([np.zeros(9), 1.5 * (-1.0) ** np.arange(9)])
    zigzag[[0, -1], 1] = arc[[0, -1], 1]
    curve = _lid_curve(zigzag)
    assert np.allclose(curve[0], zigzag[0]) and np.allclose(curve[-1], zigzag[-1])  # ends on the corners
    assert np.all(np.diff(curve[:, 0]) > 0)  # one way along
    bend = np.diff(curve[:, 1], 2)
    assert np.all(bend > -1e-9) or np.all(bend < 1e-9)  # no zigzag left: one arc
    truth = np.interp(curve[:, 0], arc[:, 0], arc[:, 1])
    assert np.abs(curve[:, 1] - truth).max() < 1.5  # and near the lid


def _lid(face: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The right eye's lid loop, the ring over its upper lid, a lash line a tenth of the way up to it, and the
    (600, 480) uint8 band between the lash line and the ring."""
    loop, ring = face[list(EYE_LOOPS[0]), :2], face[list(UPPER_RINGS[0]), :2]
    lash = loop[:9].copy()
    lash[1:8] += 0.1 * (ring - loop[1:8])
    band = np.zeros((600, 480), np.uint8)
    cv2.fillPoly(band, [np.round(np.vstack([lash, ring[::-1]])).astype(np.int32)], 1)
    return loop, ring, lash, band


def _band_middle(band: np.ndarray, loop: np.ndarray, trim: float) -> np.ndarray:
    """(600, 480) bool: the lid band inside its outline's feathering (eroded a pixel), over the eye's middle (its
    width less `trim` of it at each corner, where the redrawn lid fades out: LID_ENDS)."""
    inner = cv2.erode(band, np.ones((3, 3), np.uint8)).astype(bool)
    x0, x1 = sorted((loop[0, 0], loop[8, 0]))
    middle = np.zeros(band.shape, bool)
    middle[:, int(x0 + trim * (x1 - x0)) : int(x1 - trim * (x1 - x0))] = True
    return inner & middle


def test_a_stretched_lid_is_the_skin_under_the_eye_not_streaks(face) -> None:
    """Streaks down an upper lid's band (stretched lashes) over a plain skin under the eye: `draw_lid_skin` takes
    the streaks out, touches nothing far from the eye, and nothing at amount 0."""
    from realtime.render.eyes import draw_lid_skin

    image = np.full((600, 480, 3), 170, np.uint8)
    loop, ring = face[list(EYE_LOOPS[0]), :2], face[list(UPPER_RINGS[0]), :2]
    lash = loop[:9].copy()
    lash[1:8] += 0.1 * (ring - loop[1:8])
    xs = np.arange(480)
    band = np.zeros((600, 480), np.uint8)
    cv2.fillPoly(band, [np.round(np.vstack([lash, ring[::-1]])).astype(np.int32)], 1)
    streaked = (170 + 40 * ((xs // 2) % 2))[None, :, None].repeat(600, 0).repeat(3, 2)  # streaks, 2 px wide
    image[band.astype(bool)] = streaked[
        band.astype(bool)
    ]  # in the band only: the skin under the eye is plain
    middle = np.zeros((600, 480), bool)  # the eye's middle: towards its corners the lid fades out (LID_ENDS)
    x0, x1 = sorted((loop[0, 0], loop[8, 0]))
    middle[:, int(x0 + 0.25 * (x1 - x0)) : int(x1 - 0.25 * (x1 - x0))] = True
    low = band.astype(bool) & middle & (np.arange(600)[:, None] > np.percentile(np.nonzero(band)[0], 45))
    none = image.copy()
    draw_lid_skin(none, lash, ring, loop, 0.0)
    assert np.array_equal(none, image)
    out = image.copy()
    draw_lid_skin(out, lash, ring, loop, 1.0)
    streaks = lambda img: float(np.abs(np.diff(img[..., 0].astype(int), axis=1))[low[:, 1:]].mean())
    assert streaks(out) < 0.3 * streaks(image)
    far = np.ones((600, 480), bool)
    y0, x0 = np.floor(np.vstack([ring, loop]).min(0)[::-1]).astype(int) - 12
    y1, x1 = np.ceil(np.vstack([ring, loop]).max(0)[::-1]).astype(int) + 12
    far[y0 : y1 + (y1 - y0), x0:x1] = False
    assert np.array_equal(out[far], image[far])


def test_what_a_half_redrawn_lid_keeps_of_the_warp_has_no_streaks_but_its_shading(face, monkeypatch) -> None:
    """A lid redrawn in part (amount 0.5: stretched between LID_STRETCH's bounds) keeps half the warp's lid: its
    stretched lashes are smoothed along the eye (LID_STREAKS), its shading from the ring down is kept."""
    from realtime.render import eyes

    image = np.full((600, 480, 3), 170, np.uint8)
    loop, ring = face[list(EYE_LOOPS[0]), :2], face[list(UPPER_RINGS[0]), :2]
    lash = loop[:9].copy()
    lash[1:8] += 0.1 * (ring - loop[1:8])
    band = np.zeros((600, 480), np.uint8)
    cv2.fillPoly(band, [np.round(np.vstack([lash, ring[::-1]])).astype(np.int32)], 1)
    inside = band.astype(bool)
    ys, xs = np.nonzero(inside)
    shade = 60.0 * (ys - ys.min()) / max(ys.max() - ys.min(), 1)  # darker down the lid: a socket's shade
    image[ys, xs] = np.clip(200 - shade[:, None] - 50 * ((xs // 2) % 2)[:, None], 0, 255).astype(np.uint8)
    x0, x1 = sorted((loop[0, 0], loop[8, 0]))
    middle = (
        inside
        & (np.arange(480)[None, :] > x0 + 0.25 * (x1 - x0))
        & (np.arange(480)[None, :] < x1 - 0.25 * (x1 - x0))
    )
    streaks = lambda img: float(np.abs(np.diff(img[..., 0].astype(int), axis=1))[middle[:, 1:]].mean())
    out = image.copy()
    eyes.draw_lid_skin(out, lash, ring, loop, 0.5, 0.0)
    monkeypatch.setattr(eyes, "LID_STREAKS", (0.0, 0.25))
    before = image.copy()
    eyes.draw_lid_skin(before, lash, ring, loop, 0.5, 0.0)
    assert streaks(before) > 10.0 and streaks(out) < 0.3 * streaks(before)
    rows = lambda img: np.array([img[y][middle[y], 0].mean() for y in range(600) if middle[y].sum() > 10])
    assert np.abs(rows(out) - rows(before)).max() < 6.0  # the shade down the lid as it was


def test_a_far_eyes_lowered_lid_takes_the_tone_without_the_grain_under_it(face) -> None:
    """`grain` 0 (a turned head's far eye, `realtime.render.eye_paint.FAR_SEEN`): the lowered lid is redrawn in the
    skin's tone, but the grain under the eye (there a red rim and folds squeezed by the turn) is not mirrored up."""
    from realtime.render.eyes import draw_lid_skin

    big = face.copy()
    big[:, :2] = (240.0, 300.0) + 3.0 * (face[:, :2] - (240.0, 300.0))  # an eye some 90 px wide
    loop, ring, lash, band = _lid(big)
    rng = np.random.default_rng(0)
    skin = np.array([200.0, 150.0, 130.0])
    photo = np.clip(skin + rng.normal(0.0, 12.0, (600, 480, 1)), 0, 255).astype(np.uint8)  # grainy skin
    photo[band.astype(bool)] = (235, 235, 240)  # the eye's white in the band
    rows = np.nonzero(band)[0]
    middle = _band_middle(band, loop, 0.25) & (
        np.arange(600)[:, None] > np.percentile(rows, 50)
    )  # all redrawn
    drawn = {}
    for grain in (1.0, 0.0):
        drawn[grain] = photo.copy()
        draw_lid_skin(drawn[grain], lash, ring, loop, 1.0, grain=grain)
    fine = {
        g: float(np.abs(np.diff(img[..., 0].astype(int), axis=1))[middle[:, 1:]].mean())
        for g, img in drawn.items()
    }
    assert fine[1.0] > 5.0  # the grain mirrored up
    assert fine[0.0] < 0.3 * fine[1.0]
    assert np.abs(drawn[0.0][middle].mean(0) - skin).max() < 25.0  # the skin's tone (its white 85-110 off)


def test_a_lowered_lid_shows_the_skin_under_the_eye_not_the_iris_and_white_in_its_band(face) -> None:
    """Where the photo's lid points lie inside its visible eye (a small photo), the lid's band holds iris, white and
    lashes: the lowered lid shows the skin under the eye there (its colour and its grain, mirrored up past the
    lower lid's rim), not a grey blend of the eye, and no red from a red lower rim."""
    from realtime.render.eyes import draw_lid_skin

    loop, ring, lash, band = _lid(face)
    b = band.astype(bool)
    rows = np.nonzero(b)[0]
    y = np.arange(600)[:, None]
    rng = np.random.default_rng(0)
    skin = np.array([200.0, 150.0, 130.0])
    photo = np.clip(skin + rng.normal(0.0, 6.0, (600, 480, 1)), 0, 255).astype(np.uint8)  # grainy skin
    photo[b] = (235, 235, 240)  # the eye's white
    photo[b & (np.abs(np.arange(480)[None, :] - np.median(np.nonzero(b)[1])) < 6)] = (50, 40, 40)  # an iris
    under = int(np.ceil(loop[:, 1].max()))
    photo[under : under + 2] = (220, 60, 60)  # a red lower rim just under the eye
    out = photo.copy()
    draw_lid_skin(out, lash, ring, loop, 1.0)
    low = _band_middle(band, loop, 0.25) & (y > np.percentile(rows, 50))  # the lower half: all redrawn
    got = out[low].astype(float)
    assert np.abs(got.mean(0) - skin).max() < 12.0, got.mean(0)  # the skin's colour, not white, iris or red
    assert 3.0 < got.std(0).mean() < 12.0  # with the skin's grain: not a flat fill, not the eye's contrast


def test_a_lowered_lid_meets_the_skin_round_it_not_the_lit_cheek_further_down(face) -> None:
    """The skin over the ring darker than the skin just under the eye, the cheek further down lit brighter (LivePortrait's
    s11 and t1, PRNet's 4.jpg): the redrawn lid goes from between the first two at its top to the skin under the eye
    at its lash line, with the grain mirrored from under the eye; not a pale oval of cheek ringed by the socket."""
    from realtime.render.eyes import LID_MIRROR_SKIP, LID_TONE_SHARE, draw_lid_skin

    loop, ring, lash, band = _lid(face)
    b = band.astype(bool)
    width = float(np.linalg.norm(loop[8] - loop[0]))
    rng = np.random.default_rng(1)
    over, under, cheek = (
        np.array([150.0, 110.0, 95.0]),
        np.array([175.0, 135.0, 120.0]),
        np.array([235.0, 205.0, 190.0]),
    )
    photo = np.empty((600, 480, 3), np.float64)
    split = int(np.ceil(loop[:, 1].max()))  # the lower lid's lowest point
    lit = split + int(np.ceil((LID_MIRROR_SKIP + 0.08) * width))  # the lit cheek from a little further down
    photo[:split] = over
    photo[split:lit] = under
    photo[lit:] = cheek
    photo = np.clip(photo + rng.normal(0.0, 5.0, (600, 480, 1)), 0, 255).astype(np.uint8)
    photo[b] = (90, 70, 60)  # streaked lashes and crease in the band, to be redrawn
    out = photo.copy()
    draw_lid_skin(out, lash, ring, loop, 1.0)
    rows = np.nonzero(b)[0]
    low = _band_middle(band, loop, 0.25) & (np.arange(600)[:, None] > np.percentile(rows, 50))
    got = out[low].astype(float)
    top = under + LID_TONE_SHARE * (over - under)
    assert np.all(got.mean(0) > top - 8.0) and np.all(got.mean(0) < under + 8.0), got.mean(0)  # not the cheek
    assert 2.0 < got.std(0).mean() < 12.0  # the grain kept


def test_a_deep_set_eye_lit_from_above_shuts_into_a_lid_in_the_sockets_shade_not_a_pale_oval(face) -> None:
    """The skin over the ring in shadow (a deep-set eye lit from above: obama2.jpg), the skin under the eye lit:
    the redrawn lid's lowest rows, by its lashes, are taken LID_BOTTOM_SHARE of the way towards the shade, not the
    lit skin's own tone (a pale oval in the socket at every blink)."""
    from realtime.render.eyes import LID_BOTTOM_SHARE, draw_lid_skin

    loop, ring, lash, band = _lid(face)
    b = band.astype(bool)
    over, under = np.array([74.0, 44.0, 31.0]), np.array([206.0, 138.0, 111.0])
    photo = np.empty((600, 480, 3), np.float64)
    split = int(np.ceil(loop[:, 1].max()))
    photo[:split] = over
    photo[split:] = under
    photo = np.clip(photo + np.random.default_rng(2).normal(0.0, 3.0, (600, 480, 1)), 0, 255).astype(np.uint8)
    photo[b] = (60, 40, 30)
    out = photo.copy()
    draw_lid_skin(out, lash, ring, loop, 1.0)
    middle = _band_middle(band, loop, 0.3)
    low = middle & (np.arange(600)[:, None] >= np.percentile(np.nonzero(middle)[0], 80))
    got = out[low].astype(float).mean(0)
    share = (under - got) / (under - over)  # 0: the lit skin, 1: the shade
    assert np.all(share > LID_BOTTOM_SHARE), share  # by its lashes at least that far towards the shade
    assert np.all(share < 0.75), share  # and not the shade itself: a lid, not a hole


def test_a_tall_lowered_lid_reads_no_deeper_under_the_eye_than_its_reach(face) -> None:
    """A lid band stretched tall (the ring far over the lid) is redrawn from the skin within LID_MIRROR_REACH
    under the eye, mirrored back and forth, never from further down (a nostril under a turned face's far eye)."""
    from realtime.render.eyes import LID_MIRROR_REACH, LID_MIRROR_SKIP, draw_lid_skin

    loop, ring = face[list(EYE_LOOPS[0]), :2], face[list(UPPER_RINGS[0]), :2].copy()
    width = float(np.linalg.norm(loop[8] - loop[0]))
    ring[:, 1] -= 1.2 * width  # a band far taller than the reach
    lash = loop[:9].copy()
    lash[1:8] += 0.05 * (ring - loop[1:8])
    photo = np.full((700, 480, 3), (200, 150, 130), np.uint8)
    under = int(np.ceil(loop[:, 1].max()))
    deep = under + int(np.ceil((LID_MIRROR_SKIP + LID_MIRROR_REACH) * width)) + 3
    photo[deep:] = (30, 20, 20)  # dark, past the reach
    band = np.zeros((700, 480), np.uint8)
    cv2.fillPoly(band, [np.round(np.vstack([lash, ring[::-1]])).astype(np.int32)], 1)
    photo[band.astype(bool)] = (120, 90, 80)  # the stretched lid, to be redrawn
    out = photo.copy()
    draw_lid_skin(out, lash, ring, loop, 1.0)
    inner = cv2.erode(band, np.ones((5, 5), np.uint8)).astype(bool)
    assert out[inner].astype(float).mean(1).min() > 90  # no dark read from past the reach
    assert out[inner].astype(float).mean(0)[0] > 150  # redrawn as the skin


def test_a_lowered_lid_over_an_eye_in_shadow_is_still_redrawn(face) -> None:
    """A photo lit from one side: the skin under one eye (in shadow, with its grain) is darker than under the brow.
    Its lid is redrawn in those tones, not left as the warp's stretched band (face-api.js's sad.jpg: a dark smudge
    beside the other eye's drawn lid, one eye read open, the other shut); a nostril's dark (a share of the skin's
    tone well under the shadow's) is still not mirrored over it (`LID_DARK`)."""
    from realtime.render.eyes import LID_MIRROR_SKIP, LID_TONE, draw_lid_skin

    loop, ring, lash, band = _lid(face)
    rng = np.random.default_rng(0)
    photo = np.full((600, 480, 3), (200, 160, 140), np.float64)  # the brow's skin, lit
    under = int(np.ceil(loop[:, 1].max()))
    photo[under:] = (120, 92, 80)  # the skin under the eye, in shadow
    photo[under:] += rng.normal(0.0, 14.0, (600 - under, 480, 1))  # with a coarse grain
    photo = np.clip(photo, 0, 255).astype(np.uint8)
    b = cv2.erode(band, np.ones((3, 3), np.uint8)).astype(bool)
    photo[b] = (60, 45, 40)  # the stretched lashes and crease
    out = photo.copy()
    draw_lid_skin(out, lash, ring, loop, 1.0)
    assert out[b].astype(float).mean() > 90  # redrawn as skin, no dark smudge left
    width = float(np.linalg.norm(loop[8] - loop[0]))
    nostril = photo.copy()  # dark from past the rows whose tone the lid takes, within those it mirrors
    nostril[under + int(np.ceil((LID_MIRROR_SKIP + 2 * LID_TONE) * width)) + 2 :] = (40, 30, 30)
    kept = nostril.copy()
    draw_lid_skin(kept, lash, ring, loop, 1.0)
    assert np.array_equal(kept[b], nostril[b])  # nothing mirrored up from a nostril


def test_a_lowered_lids_fades_take_out_the_photos_lashes_but_keep_a_socket_shade(face, monkeypatch) -> None:
    """Long lashes left in a lowered lid's fades (by the ring, LID_FADE; by the corners, LID_ENDS) stood as streaks
    over a shut lid and as a dark mass at its outer corner, an eye open and looking aside at a call's size
    (deepface's img42 and img28): they are redrawn as lid. A socket's shade there (0.75 of the skin's tone, a
    deep-set eye) is drawn as the fades draw it."""
    from realtime.render import eyes

    loop, ring, lash, _ = _lid(face)
    centre = loop.mean(0)
    loop, ring, lash = (
        (p - centre) * 3.0 + (240.0, 300.0) for p in (loop, ring, lash)
    )  # an eye 3 times the size
    band = np.zeros((600, 480), np.uint8)
    cv2.fillPoly(band, [np.round(np.vstack([lash, ring[::-1]])).astype(np.int32)], 1)
    b = cv2.erode(band, np.ones((5, 5), np.uint8)).astype(bool)
    ys, xs = np.nonzero(b)
    along = eyes._along_eye(xs, ys, lash[0], lash[-1])
    ends = np.zeros_like(b)
    ends[ys, xs] = np.minimum(along, 1.0 - along) < 0.5 * eyes.LID_ENDS  # by the corners
    top = np.zeros_like(b)  # by the ring, in the eye's middle
    order = np.argsort(ring[:, 0])
    ring_y = np.interp(xs, ring[order, 0], ring[order, 1])
    lash_y = np.interp(xs, *lash[np.argsort(lash[:, 0])].T)
    below = ys - ring_y
    top[ys, xs] = (
        (below > 2) & (below < 0.6 * eyes.LID_FADE * (lash_y - ring_y)) & (np.abs(along - 0.5) < 0.25)
    )
    default = eyes.LID_LASHES

    def drawn(shade: float, where: np.ndarray, lashes: tuple[float, float]) -> np.ndarray:
        photo = np.full((600, 480, 3), 170, np.uint8)
        photo[where] = round(shade * 170)
        monkeypatch.setattr(eyes, "LID_LASHES", lashes)
        eyes.draw_lid_skin(photo, lash, ring, loop, 1.0)
        return photo[where].astype(float).mean(1)

    for where in (ends, top):
        assert where.sum() > 5
        with monkeypatch.context() as m:
            m.setattr(eyes, "LID_STREAKS", (0.0, 0.25))  # (which smooths them along the lid)
            kept = drawn(0.25, where, (-1.0, -0.5))  # the fades alone: the lashes show
        assert kept.mean() < 115, kept.mean()
        assert drawn(0.25, where, default).mean() > 140  # redrawn as the lid (feathered at the outline)
    socket = drawn(0.75, top, default).mean() - drawn(0.75, top, (-1.0, -0.5)).mean()
    assert abs(socket) < 8.0, socket


def test_a_lid_counts_as_stretched_over_the_eye_by_its_lash_line_coming_down_not_by_raised_brows(
    face,
) -> None:
    """`lid_stretch` sets off the lid's redraw as skin: a lash line lowered over the eye stretches it; the ring over
    the lid going up with the brows (a surprised driver, the AU01 + AU02 sliders) does not (it drew pale goggles)."""
    from realtime.render.eyes import UPPER_RINGS, lid_stretch

    ls = face[:, :2].astype(np.float64)
    eye = 0
    lid = list(EYE_LOOPS[eye][1:8])
    lash_s = ls[list(EYE_LOOPS[eye][:9])].copy()
    assert abs(lid_stretch(ls, ls, lash_s, lash_s, eye) - 1.0) < 1e-6  # as in the photo
    raised = ls.copy()
    raised[list(UPPER_RINGS[eye]), 1] -= 8.0  # the ring up with the brows
    assert abs(lid_stretch(ls, raised, lash_s, lash_s, eye) - 1.0) < 1e-6
    lowered = ls.copy()
    lowered[lid, 1] += 4.0  # the lid down over the eye
    lash_t = lash_s.copy()
    lash_t[1:8, 1] += 4.0
    band = float(np.mean(np.linalg.norm(ls[list(UPPER_RINGS[eye])] - lash_s[1:8], axis=1)))
    assert abs(lid_stretch(ls, lowered, lash_s, lash_t, eye) - (band + 4.0) / band) < 0.05
