"""A glasses frame's rim across an upper lid stays where the frame is while the lid moves (realtime/render/lid_rims)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realtime.face.align import alignment_transform, apply_transform
from realtime.render.eyes import EYE_LOOPS, UPPER_RINGS
from realtime.render.framing import OutputLayout
from realtime.render.lid_rims import find_lid_rims, paste_lid_rims, without_rims
from realtime.render.meshflow import MeshFlow

SKIN = (200, 150, 130)
RIM = (40, 40, 45)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """(478, 2) a face about 440 px wide in a 1200x960 photo (eyes some 60 px wide)."""
    from _rt_helpers import synthetic_face

    return synthetic_face((480.0, 600.0), 220.0).landmarks[:, :2]


def _rim_curve(face: np.ndarray, eye: int, reach: float = 0.45) -> np.ndarray:
    """(N, 2) a lens' top rim for an eye: a gentle arc through the middle of its upper lid's band (between the lid
    and the ring over it), from `reach` of the eye's width past one corner to as far past the other."""
    loop, ring = face[list(EYE_LOOPS[eye])], face[list(UPPER_RINGS[eye])]
    width = float(np.linalg.norm(loop[8] - loop[0]))
    x0, x1 = sorted((float(loop[0, 0]), float(loop[8, 0])))
    xs = np.linspace(x0 - reach * width, x1 + reach * width, 80)
    mid_y = 0.5 * (loop[4, 1] + ring[3, 1])
    t = (xs - 0.5 * (x0 + x1)) / width
    return np.column_stack([xs, mid_y + 0.15 * width * t**2])


def _photo(face: np.ndarray, rims: bool = True, reach: float = 0.45) -> np.ndarray:
    rng = np.random.default_rng(0)
    photo = np.clip(np.float32(SKIN) + rng.normal(0.0, 3.0, (1200, 960, 1)), 0, 255).astype(np.uint8)
    if rims:
        for eye in (0, 1):
            curve = np.round(_rim_curve(face, eye, reach)).astype(np.int32)
            cv2.polylines(photo, [curve], False, RIM, 3, cv2.LINE_AA)
    return photo


def _band(face: np.ndarray, eye: int, shape: tuple[int, ...]) -> np.ndarray:
    """(h, w) bool: an eye's upper lid band (its lid to the ring over it), over the eye's middle half."""
    loop, ring = face[list(EYE_LOOPS[eye])], face[list(UPPER_RINGS[eye])]
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(np.vstack([loop[:9], ring[::-1]])).astype(np.int32)], 1)
    x0, x1 = sorted((loop[0, 0], loop[8, 0]))
    cols = np.zeros(shape[:2], bool)
    cols[:, int(x0 + 0.25 * (x1 - x0)) : int(x1 - 0.25 * (x1 - x0))] = True
    return m.astype(bool) & cols


def _on_rim(photo: np.ndarray, face: np.ndarray, eye: int) -> np.ndarray:
    """(h, w) bool: the rim's dark pixels in an eye's band."""
    return _band(face, eye, photo.shape) & (photo.mean(2) < 120)


def test_a_rim_across_the_lids_is_found_taken_out_of_the_read_and_put_back(face) -> None:
    photo = _photo(face)
    rims = find_lid_rims(photo, face)
    assert sorted(r.eye for r in rims) == [0, 1]
    read = without_rims(photo, rims)
    back = read.copy()
    paste_lid_rims(back, rims, face)  # the face where it was: the rim where it was
    for eye in (0, 1):
        on = _on_rim(photo, face, eye)
        assert on.sum() > 40
        assert read[on].mean() > 145  # filled in with the skin round it (its mean 160, the rim 42)
        assert back[on].mean() < 90  # ... and put back
    # Past the eyes' corners, where the lids do not move it, the read keeps the rim.
    loop = face[list(EYE_LOOPS[0])]
    outside = np.zeros(photo.shape[:2], bool)
    outside[:, : int(min(loop[0, 0], loop[8, 0])) - 20] = True
    dark = outside & (photo.mean(2) < 120)
    assert dark.sum() > 20 and np.array_equal(read[dark], photo[dark])


@pytest.mark.parametrize("reach", [0.0, -0.05])
def test_a_line_that_ends_at_the_eyes_corners_is_no_rim(face, reach) -> None:
    """A crease or a liner runs from corner to corner, not past them: nothing is held still."""
    assert find_lid_rims(_photo(face, reach=reach), face) == ()
    assert find_lid_rims(_photo(face, rims=False), face) == ()


def test_a_glasses_photos_rim_stays_straight_as_the_lids_come_down(face) -> None:
    """The mesh flow with the upper lids most of the way down: a glasses photo's rim stays over the eye, where the
    frame is; without the glasses flag the lowered lid takes it down (as before)."""
    photo = _photo(face)
    m = alignment_transform(np.column_stack([face, np.zeros(478, np.float32)]))
    ls = apply_transform(m, np.column_stack([face, np.zeros(478, np.float32)]))[:, :2].astype(np.float32)
    lt = ls.copy()
    for loop in EYE_LOOPS:
        lid = list(loop[1:8])
        lt[lid, 1] += 0.8 * (ls[list(loop[9:16])[::-1], 1] - ls[lid, 1])
    dark = {}
    for glasses in (False, True):
        flow = MeshFlow()
        flow.install(flow.prepare(photo, m, ls, OutputLayout.identity(photo.shape), glasses=glasses))
        out = flow.render(lt)
        dark[glasses] = [float((out[_on_rim(photo, face, eye)].mean(1) < 120).mean()) for eye in (0, 1)]
    assert min(dark[True]) > 0.8, dark
    assert max(dark[False]) < 0.5, dark
