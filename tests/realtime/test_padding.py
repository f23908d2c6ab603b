"""A photo's padding (realtime.render.padding): black bars cut, a turned photo's black corners filled."""

from __future__ import annotations

import cv2
import numpy as np

from realtime.render.padding import fill_corners, trim_bars


def test_black_bars_round_a_photo_are_cut_and_nothing_else_is() -> None:
    """A portrait inside a 16:9 screenshot (black pillars, JPEG-dark noise in them) loses its bars; a thin dark rim,
    a dark photo that is mostly black, and a photo without bars are left as they are."""
    rng = np.random.default_rng(0)
    photo = rng.integers(40, 220, (300, 240, 3), dtype=np.uint8)
    shot = np.zeros((300, 534, 3), np.uint8)
    shot[..., :] = rng.integers(0, 12, (300, 534, 1), dtype=np.uint8)  # not quite black
    shot[:, 147:387] = photo
    cut, bars = trim_bars(shot)
    assert bars == (147, 0, 147, 0) and np.array_equal(cut, photo)
    blurred = shot.copy()
    # The photo's last column blurred into the bar by the JPEG: carried out, it made a dark panel.
    blurred[:, 386] = 30
    assert trim_bars(blurred)[1] == (147, 0, 148, 0)
    rim = photo.copy()
    rim[:, :3] = 0  # 3 px of 240: under BAR_MIN
    assert trim_bars(rim)[1] == (0, 0, 0, 0)
    night = np.zeros((300, 534, 3), np.uint8)
    night[:, 250:290] = 200  # a sliver of light in a dark photo: not bars
    assert trim_bars(night)[1] == (0, 0, 0, 0)
    assert trim_bars(photo)[0] is photo


def _textured(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A picture: smooth colour over the whole frame with fine texture, never near black."""
    rng = np.random.default_rng(seed)
    h, w = shape
    y, x = np.mgrid[:h, :w]
    base = np.stack(
        [90 + 60 * np.sin(x / 40.0), 120 + 50 * np.cos(y / 30.0), 150 + 40 * np.sin((x + y) / 50.0)], -1
    )
    return np.clip(base + rng.normal(0, 8, (h, w, 3)), 40, 255).astype(np.uint8)


def test_a_photo_turned_inside_its_frame_has_its_black_corners_filled() -> None:
    """LFW's faces are turned inside their 250-px frame, a black wedge at each corner: filled from the picture next
    to them (else the call's fill carries them out as black rays), the picture itself left as it is."""
    picture = _textured((250, 250))
    turn = cv2.getRotationMatrix2D((125.0, 125.0), 9.0, 1.08)
    turned = cv2.warpAffine(picture, turn, (250, 250), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    _, jpeg = cv2.imencode(".jpg", turned, [cv2.IMWRITE_JPEG_QUALITY, 90])  # its ringing along the edges
    turned = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    wedges = turned.max(axis=2) <= 24
    assert wedges.mean() > 0.01
    out, share = fill_corners(turned)
    assert share > 0.5 * wedges.mean()
    assert (out.max(axis=2) <= 24).mean() < 0.1 * wedges.mean()  # the black is gone
    inside = cv2.erode((~wedges).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    assert np.array_equal(out[inside], turned[inside])  # the picture untouched
    colour = np.abs(out[wedges].astype(np.float32).mean(0) - turned[~wedges].astype(np.float32).mean(0))
    assert colour.max() < 40  # filled with the picture's colours


def test_a_dark_backdrop_is_not_taken_for_padding() -> None:
    """A face lit on a dark, noisy backdrop reaching every corner: its dark ends raggedly round the face, not on
    straight lines, and it is left as it is; a photo with nothing black is returned itself."""
    rng = np.random.default_rng(1)
    h, w = 300, 240
    photo = rng.integers(0, 18, (h, w, 3), dtype=np.uint8)  # a night backdrop
    y, x = np.mgrid[:h, :w]
    ragged = 70 + 12 * np.sin(y / 7.0) + 9 * np.cos(y / 3.1)  # the head's and shoulders' edge, not straight
    lit = (np.abs(x - w / 2) < ragged) & (y > 40)
    photo[lit] = _textured((h, w), 2)[lit]
    out, share = fill_corners(photo)
    assert share == 0.0 and out is photo
    plain = _textured((h, w), 3)
    assert fill_corners(plain)[0] is plain
