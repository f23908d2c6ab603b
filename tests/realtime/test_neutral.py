"""realtime.render.neutral: a photo's face at the driver's rest, on the shipped AU basis and lip-shape model.
The photos are the project's mean face in its frontal frame, moved along the basis or reshaped by hand."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.face import topology as topo
from realtime.face.pose import canonical_frame
from realtime.face.types import AU, AU_ORDER
from realtime.render.mouth import INNER_LIPS
from realtime.render.neutral import lips_to_rest, neutral_rest
from realtime.weights import load_au_basis, weights_dir

K12, K25, K26 = (AU_ORDER.index(a) for a in (AU.AU12, AU.AU25, AU.AU26))
LIPS = list(topo.LIPS)
UPPER, LOWER = (list(x) for x in zip(*INNER_LIPS, strict=True))
EYES = list(topo.LEFT_EYE + topo.RIGHT_EYE)


@pytest.fixture(scope="module")
def model() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean face (frontal frame) with the model's mean resting lips, the basis, the lip model."""
    basis, lips = load_au_basis(weights_dir()), load_au_basis(weights_dir(), "lip_shape.npy")
    if basis is None or lips is None:
        pytest.skip("au_basis.npy or lip_shape.npy not shipped")
    face = canonical_frame(np.load(weights_dir() / "mean_face.npy").astype(np.float64)).astype(np.float64)
    face[LIPS] = lips[0]
    return face, basis, lips


def _aus(**values: float) -> np.ndarray:
    aus = np.full(len(AU_ORDER), 0.03, np.float32)
    for name, v in values.items():
        aus[AU_ORDER.index(AU(name))] = v
    return aus


def test_a_resting_face_is_left_as_it_is(model) -> None:
    face, basis, lips = model
    assert neutral_rest(face, _aus(), basis, lips) is None
    assert np.abs(lips_to_rest(face, lips)).max() < 1e-3


def test_a_grin_is_taken_out_and_its_lips_meet(model) -> None:
    """A smile along the basis (AU12 0.8) with parted lips: at rest the lip corners are back where the
    resting face has them and the inner lips meet, the smile's lids and cheeks go back with it. Kept with
    `keep`."""
    face, basis, lips = model
    grin = face + 0.7 * basis[K12] + 0.6 * basis[K25]
    aus = _aus(AU12=0.8, AU25=0.7)
    rest = neutral_rest(grin, aus, basis, lips)
    assert rest is not None
    motion, at_rest = rest
    shown = grin + motion
    corners = [61, 291]
    before = np.linalg.norm(grin[corners] - face[corners], axis=1).mean()
    after = np.linalg.norm(shown[corners] - face[corners], axis=1).mean()
    assert before > 0.04 and after < 0.3 * before
    assert abs(np.mean(shown[LOWER, 1] - shown[UPPER, 1])) < 0.01  # inner lips meet (IOD units)
    assert at_rest[K12] <= 0.1 and at_rest[K25] <= 0.1
    np.testing.assert_allclose(shown[EYES], face[EYES], atol=0.02)
    assert neutral_rest(grin, aus, basis, lips, keep=True) is None  # --keep-expression: the grin stays


def test_a_dropped_jaw_is_shut_in_either_mode(model) -> None:
    face, basis, lips = model
    gaping = face + 0.6 * basis[K26] + 0.5 * basis[K25]
    for keep in (False, True):
        motion, at_rest = neutral_rest(gaping, _aus(AU25=0.6, AU26=0.6), basis, lips, keep=keep)
        shown = gaping + motion
        assert np.mean(gaping[LOWER, 1] - gaping[UPPER, 1]) > 0.05
        assert abs(np.mean(shown[LOWER, 1] - shown[UPPER, 1])) < 0.01
        assert at_rest[K26] <= 0.1


def test_a_pucker_the_aus_do_not_name_is_widened_towards_resting_lips(model) -> None:
    """Lips narrowed to 0.7 of their width about their centre (a pucker; every AU at rest): the lips are taken
    at least half the way back to resting width, their neighbours follow a little, the eyes and the chin stay."""
    face, basis, lips = model
    pucker = face.copy()
    centre = pucker[LIPS, 0].mean()
    pucker[LIPS, 0] = centre + 0.7 * (pucker[LIPS, 0] - centre)
    motion, _ = neutral_rest(pucker, _aus(), basis, lips)
    width = lambda f: f[291, 0] - f[61, 0]
    assert width(pucker) < 0.75 * width(face)
    assert abs(width(pucker + motion) - width(face)) < 0.5 * abs(width(pucker) - width(face))
    assert np.abs(motion[EYES]).max() < 1e-6 and np.abs(motion[152]).max() < 1e-6
    near = [p for p in range(len(face)) if p not in LIPS and np.abs(motion[p]).max() > 1e-4]
    assert near  # the skin around the lips moves with them


def test_raised_brows_are_lowered_at_rest_unless_kept(model) -> None:
    """A surprised photo (AU01, AU02 0.6 along the basis): at rest its brows are back near the resting face's
    and its brow AUs at most PHOTO_REST_BROW; the mouth does not move. Kept with `keep`."""
    from realtime.render.neutral import PHOTO_REST_BROW

    face, basis, lips = model
    k1, k2 = AU_ORDER.index(AU.AU01), AU_ORDER.index(AU.AU02)
    brows = list(topo.LEFT_EYEBROW + topo.RIGHT_EYEBROW)
    surprised = face + 0.5 * basis[k1] + 0.5 * basis[k2]
    aus = _aus(AU01=0.6, AU02=0.6)
    rest = neutral_rest(surprised, aus, basis, lips)
    assert rest is not None
    motion, at_rest = rest
    before = np.abs(surprised[brows, 1] - face[brows, 1]).mean()
    after = np.abs(surprised[brows, 1] + motion[brows, 1] - face[brows, 1]).mean()
    assert before > 0.02 and after < 0.4 * before
    assert at_rest[k1] <= PHOTO_REST_BROW and at_rest[k2] <= PHOTO_REST_BROW
    assert np.abs(motion[LIPS]).max() < 0.01
    assert neutral_rest(surprised, aus, basis, lips, keep=True) is None


def test_wide_eyes_are_lowered_to_a_resting_opening(model) -> None:
    """A staring photo (upper lids raised, AU05 0.11): at rest each eye opens REST_EYE_GAP on average, only the
    upper lids move, and the driver's blink still shuts it without the lids crossing. Eyes as wide without the
    AU (a face wide-eyed by nature), or with `keep`, are left as they are."""
    from realtime.render.landmark_transfer import LID_PAIRS, fit_lids, lid_gaps
    from realtime.render.neutral import PHOTO_REST_LID, REST_EYE_GAP

    face, basis, lips = model
    upper = [up for eye in LID_PAIRS for up, _ in eye]
    staring = face.copy()
    staring[upper, 1] -= 0.025  # y down: the upper lids raised
    assert lid_gaps(staring).mean(1).min() > 1.2 * REST_EYE_GAP
    rest = neutral_rest(staring, _aus(AU05=0.11), basis, lips)
    assert rest is not None
    motion, at_rest = rest
    np.testing.assert_allclose(lid_gaps(staring + motion).mean(1), REST_EYE_GAP, atol=1e-4)
    moved = np.flatnonzero(np.abs(motion).max(1) > 1e-6)
    assert set(moved.tolist()) <= set(upper) | set(LIPS)  # the lips' own rest may move them too
    assert at_rest[AU_ORDER.index(AU.AU05)] == PHOTO_REST_LID
    # The driver shuts its eyes: its lid motion, put on the rested face, shuts it and no further.
    shut = np.zeros_like(face)
    shut[upper, 1] = lid_gaps(face).reshape(-1)  # the driver: the mean face, lids brought down to the lower
    gaps = lid_gaps(staring + fit_lids(shut, staring + motion, face) + motion)
    assert gaps.min() > -1e-6 and np.abs(gaps[:, 2:5]).max() < 1e-4  # met in the middle, never crossed
    assert gaps.mean() < 0.15 * REST_EYE_GAP
    for aus, keep in ((_aus(), False), (_aus(AU05=0.11), True)):
        out = neutral_rest(staring, aus, basis, lips, keep=keep)
        assert out is None or np.abs(out[0][upper]).max() < 1e-6


def test_a_mouth_turned_down_past_nearly_every_face_is_lifted_at_rest_whatever_the_aus_say(model) -> None:
    """A pout the AU head does not read (AU15 0.03, as on the d8 photo): its corners, below CORNER_FLOOR, are
    lifted to it along the AU15 row at rest. A mouth turned down less than that (a face's own) is left; a
    driver's neutral and --keep-expression keep theirs."""
    from realtime.render.neutral import CORNER_FLOOR, corner_lift

    face, basis, lips = model
    k15 = AU_ORDER.index(AU.AU15)
    per_unit = -corner_lift(basis[k15])
    pout = face + ((corner_lift(face) - (CORNER_FLOOR - 0.03)) / per_unit) * basis[k15]
    assert corner_lift(pout) == pytest.approx(CORNER_FLOOR - 0.03, abs=1e-6)
    rest = neutral_rest(pout, _aus(), basis, None)  # the AUs' step alone (the lips model lifts them further)
    assert rest is not None
    assert corner_lift(pout + rest[0]) == pytest.approx(CORNER_FLOOR, abs=0.002)
    assert rest[1][k15] <= 0.1
    both = neutral_rest(pout, _aus(), basis, lips)
    assert both is not None and corner_lift(pout + both[0]) >= CORNER_FLOOR - 0.002
    own = (
        face + ((corner_lift(face) - (CORNER_FLOOR + 0.01)) / per_unit) * basis[k15]
    )  # turned down, above the floor
    assert neutral_rest(own, _aus(), basis, None) is None
    assert neutral_rest(pout, _aus(), basis, None, keep=True) is None
    driver = neutral_rest(pout, _aus(), basis, None, driver=True)
    assert driver is None or abs(corner_lift(pout + driver[0]) - corner_lift(pout)) < 0.005


def test_a_mouth_shut_with_its_upper_lip_hanging_low_is_shut_higher(model) -> None:
    """The upper lip hangs from the upper jaw: a shut that brings it far below the nose (the Dafoe photo's open
    grin, shut half way, left a long snout over a pout) is lifted back, lips, chin and all, in the face's middle;
    the jaw's corners stay. A shut within the allowance is left alone."""
    from realtime.render.neutral import SUBNASALE, UPPER_LIP_REST, upper_lip_kept

    face, _, _ = model
    limit = max(face[13, 1] - face[SUBNASALE, 1], UPPER_LIP_REST[0]) + UPPER_LIP_REST[1]
    low = np.zeros_like(face, dtype=np.float32)
    mouth = [i for i in range(len(face)) if face[i, 1] > face[0, 1] - 0.02 and abs(face[i, 0]) < 0.5]
    low[mouth, 1] = 0.15  # the lips and the chin under them brought 0.15 down
    lift = upper_lip_kept(face, low)
    rest = face + low + lift
    assert rest[13, 1] - rest[SUBNASALE, 1] == pytest.approx(limit, abs=1e-3)
    assert lift[13, 1] < -0.05
    assert lift[topo.CHIN, 1] == pytest.approx(
        lift[13, 1]
    )  # the chin comes up with the lips: the jaw closes higher
    assert np.abs(lift[[172, 397, 234, 454]]).max() < 1e-6  # the jaw's corners and the cheeks' edge stay
    assert np.abs(lift[list(topo.LEFT_EYE + topo.RIGHT_EYE)]).max() < 1e-6
    small = np.zeros_like(low)
    small[mouth, 1] = 0.5 * (limit - (face[13, 1] - face[SUBNASALE, 1]))
    assert not upper_lip_kept(face, small).any()


def test_a_driver_neutrals_parted_lips_are_shut_further_than_the_au_rows_take_them_but_never_past_meeting() -> (
    None
):
    """`shut_mouth`: lips the AU rows close to 0.4 of their gap are taken the rest of the way with a stretch of
    2.5 (DRIVER_SHUT_STRETCH: the AU head reads parted lips weakly, and a laughing driver's neutral kept them
    apart); rows closing 0.2 of it are scaled only to 0.5; rows closing more than the gap stop where the lips meet;
    no lips-apart AU moves nothing, whatever the stretch."""
    from realtime.render.mouth import INNER_LOWER, INNER_UPPER, shut_mouth
    from realtime.render.neutral import DRIVER_SHUT_STRETCH

    assert DRIVER_SHUT_STRETCH == 2.5
    face = np.zeros((478, 3), np.float32)
    face[INNER_LOWER, 1] = 0.2  # lips 0.2 apart
    rows = np.zeros((1, 478, 3), np.float32)

    def gap_left(closing: float, excess: float, stretch: float) -> float:
        rows[0, INNER_LOWER, 1] = closing  # the row takes the lower lip down by `closing` at 1
        moved = face + shut_mouth(face, np.array([excess]), rows, stretch)
        return float(np.mean(moved[INNER_LOWER, 1] - moved[INNER_UPPER, 1]))

    assert gap_left(0.08, 1.0, 1.0) == pytest.approx(0.12)  # stopped where the rows take them
    assert gap_left(0.08, 1.0, 2.5) == pytest.approx(0.0, abs=1e-6)  # the rest of the way
    assert gap_left(0.04, 1.0, 2.5) == pytest.approx(0.1)  # half way, no further
    assert gap_left(0.5, 1.0, 2.5) == pytest.approx(0.0, abs=1e-6)  # never past meeting
    assert gap_left(0.5, 1.0, np.inf) == pytest.approx(0.0, abs=1e-6)
    assert gap_left(0.08, 0.0, np.inf) == pytest.approx(0.2)  # nothing read, nothing moved
