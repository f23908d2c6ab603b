"""The mouth prior's recipe (training.painter.mouth_prior): every person counts once, whatever their number of
frames; teeth read into the same place under the upper lip whatever the mouth's size; a sample narrower than
the canonical opening says nothing about the middle it does not have. The real data's prior is checked on the
shipped file (tests/realtime/test_meshflow.py)."""

from __future__ import annotations

import cv2
import numpy as np

from realtime.render.mouth import MOUTH_CORNERS, PRIOR_FILE, MouthPatch, load_mouth_prior, mesh_loops
from training.painter.mouth_prior import REFERENCE_SKIN, build_prior, save_prior, write_card


def _ellipse_loop(width: float, opening: float, centre: tuple[float, float]) -> np.ndarray:
    """(K, 2) the mesh's inner-lip loop on an ellipse: 78 and 308 on its ends, upper lip above."""
    loop = [int(i) for i in mesh_loops()[0]]
    k, a, b = len(loop), loop.index(MOUTH_CORNERS[0]), loop.index(MOUTH_CORNERS[1])
    pts = np.zeros((k, 2))
    for n in range(k):
        if (n - a) % k <= (b - a) % k:  # one lip, from 78 to 308
            ang = np.pi + (n - a) % k / ((b - a) % k) * np.pi
        else:
            ang = (n - b) % k / ((a - b) % k) * np.pi
        pts[n] = (centre[0] - 0.5 * width * np.cos(ang), centre[1] - 0.5 * opening * np.sin(ang))
    if pts[loop.index(13), 1] > pts[loop.index(14), 1]:  # upper lip (13) above the lower (14)
        pts[:, 1] = 2 * centre[1] - pts[:, 1]
    return pts.astype(np.float32)


def _mouth(width: float, opening: float, inside: tuple[int, int, int], skin: float = 1.0) -> MouthPatch:
    """A mouth patch: skin around, `inside` in the opening, a white band of teeth 10 % of the width under the
    upper lip; the whole picture lit by `skin` (its skin colour is REFERENCE_SKIN times that)."""
    h, w = int(opening * 2 + 40), int(width + 40)
    loop = _ellipse_loop(width, opening, (w / 2, h / 2))
    img = np.zeros((h, w, 3), np.float32)
    img[:] = REFERENCE_SKIN
    cv2.fillPoly(img, [np.round(loop).astype(np.int32)], inside)
    top = h / 2 - opening / 2
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(loop).astype(np.int32)], 1)
    band = mask.astype(bool) & (np.arange(h)[:, None] < top + 0.1 * width)
    img[band] = (240, 240, 230)
    return MouthPatch(np.clip(img * skin, 0, 255).astype(np.uint8), loop, 0.03, REFERENCE_SKIN * skin)


def test_each_person_counts_once_and_teeth_land_under_the_upper_lip(tmp_path) -> None:
    red, green = (200, 30, 30), (30, 200, 30)
    samples = [("many", _mouth(80, 40, red)) for _ in range(9)]  # one person, many frames, a red inside
    samples += [("one", _mouth(60, 30, green, skin=0.6)), ("two", _mouth(100, 50, green, skin=1.2))]
    prior = build_prior(samples, width=96)
    assert prior.image.dtype == np.uint8 and not np.isnan(prior.image).any()
    loop = [int(i) for i in mesh_loops()[0]]
    up, lo = prior.loop[loop.index(13)], prior.loop[loop.index(14)]
    x = round(up[0])
    middle = prior.image[round(0.5 * (up[1] + lo[1])), x].astype(int)
    teeth = prior.image[round(up[1] + 0.05 * 96), x].astype(int)
    assert (
        middle[1] > middle[0] + 100
    )  # two people of three are green inside: the nine red frames are one vote
    assert teeth.min() > 200  # every sample's teeth, at every size and light, read into the same place
    save_prior(prior, tmp_path / PRIOR_FILE)
    loaded = load_mouth_prior(tmp_path)
    assert loaded is not None and np.array_equal(loaded.image, prior.image)
    assert np.allclose(loaded.skin, REFERENCE_SKIN)
    write_card(
        tmp_path / "mouth_prior.md",
        prior,
        data="DS",
        frames=9,
        per_person=4,
        people=3,
        clips=3,
        rule="R",
        samples=11,
        seconds=1.0,
    )
    card = (tmp_path / "mouth_prior.md").read_text()
    assert "3 training people" in card and "11 mouths" in card and "--per-person 4" in card


def test_a_narrow_sample_leaves_the_middle_to_the_open_ones() -> None:
    wide = [(f"w{i}", _mouth(80, 48, (30, 30, 200))) for i in range(2)]
    narrow = [(f"n{i}", _mouth(80, 8, (30, 200, 30))) for i in range(3)]  # opened far less than the canon
    prior = build_prior(wide + narrow, width=96)
    loop = [int(i) for i in mesh_loops()[0]]
    up, lo = prior.loop[loop.index(13)], prior.loop[loop.index(14)]
    middle = prior.image[round(0.5 * (up[1] + lo[1])), round(up[0])].astype(int)
    assert middle[2] > middle[1] + 100  # the wide mouths' blue: the narrow ones have no middle to give
