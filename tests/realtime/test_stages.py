"""Pure-compute stages: one-slot queues, One Euro smoothing, driving (calibration, edits, face lost),
the training-free landmark transform, paste-back."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from _rt_helpers import synthetic_face

from realtime.config import DropPolicy
from realtime.controls import CHANNELS, Controls, Edits
from realtime.face.pose import pose_from_rotation
from realtime.pipeline import _CLOSED, Slot
from realtime.render.landmark_transfer import SourceGeometry, rotation_from_angles, transfer
from realtime.stages.driving import DrivingParams, DrivingStage, NeutralProfile
from realtime.stages.smoothing import OneEuroFilter, OneEuroParams


def test_latest_slot_keeps_newest_and_counts_drops() -> None:
    drops: list[int] = []
    s = Slot(DropPolicy.LATEST, lambda: drops.append(1))
    for i in range(5):
        assert s.put(i)
    assert s.get() == 4 and len(drops) == 4
    s.put(9)
    s.close()
    assert s.get() == 9 and s.get() is _CLOSED  # a waiting item survives a normal close
    assert not s.put(1)


def test_every_slot_blocks_the_producer() -> None:
    s = Slot(DropPolicy.EVERY, lambda: None)
    got: list[int] = []
    t = threading.Thread(target=lambda: [s.put(i) for i in range(50)] and s.close())
    t.start()
    while (x := s.get()) is not _CLOSED:
        got.append(x)
    t.join()
    assert got == list(range(50))


def test_abort_discards_and_wakes_waiters() -> None:
    s = Slot(DropPolicy.EVERY, lambda: None)
    s.put(1)
    t = threading.Thread(target=s.put, args=(2,))
    t.start()
    time.sleep(0.05)
    s.close(discard=True)
    t.join(timeout=2)
    assert not t.is_alive() and s.get() is _CLOSED


def test_one_euro_smooths_jitter_and_follows_steps() -> None:
    rng = np.random.default_rng(0)
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=1.0))
    t = np.arange(300) / 30.0
    noisy = 0.01 * rng.standard_normal((300, 4))
    out = np.stack([f(x, ti) for x, ti in zip(noisy, t)])
    assert out[30:].std() < 0.5 * noisy[30:].std()
    g = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=5.0))
    step = [g(np.array([0.0 if i < 30 else 1.0]), i / 30) for i in range(60)]
    assert step[-1][0] > 0.95  # no lasting lag after a fast move


def test_edits_gain_offset_lock() -> None:
    e = Edits().with_edit("AU12", Edits().get("AU12").__class__(gain=2.0, offset=0.1))
    e = e.with_edit("yaw", e.get("yaw").__class__(offset=10.0, lock=True))
    aus, pose = e.apply(np.full(17, 0.3, np.float32), np.array([5.0, 2.0, 1.0], np.float32))
    assert aus[CHANNELS.index("AU12")] == pytest.approx(0.7) and aus[0] == pytest.approx(0.3)
    assert pose.tolist() == pytest.approx([10.0, 2.0, 1.0])
    with pytest.raises(KeyError):
        Edits().with_edit("AU99", Edits().get("AU01"))


def test_driving_calibration_profile_and_face_lost_easing() -> None:
    profile = NeutralProfile.from_profile(
        {
            "au_baseline": {c: 0.2 for c in CHANNELS[:17]},
            "au_range": {},
            "pose_zero": {"yaw": 5.0, "pitch": 0.0, "roll": 0.0},
        }
    )
    stage = DrivingStage(profile, DrivingParams(hold_s=0.5, ease_s=1.0))
    edits = Controls().edits
    face = synthetic_face(aus=0.6)
    s = stage(face, 0.0, edits)
    assert s.status == "tracking" and s.weight == 1.0
    assert s.aus[0] == pytest.approx((0.6 - 0.2) / 0.8, abs=1e-5)
    assert s.pose_delta[0] == pytest.approx(-5.0, abs=1e-3)
    assert np.abs(s.expression).max() < 1e-4  # the first frame is its own neutral
    assert s.driving_vector().shape == (20,)
    states = [stage(None, t, edits) for t in (0.1, 0.4, 1.1, 1.7, 2.0)]
    assert [x.status for x in states] == ["holding", "holding", "easing", "neutral", "neutral"]
    assert [x.weight for x in states] == pytest.approx([1.0, 1.0, 0.5, 0.0, 0.0])
    back = [stage(face, t, edits) for t in (2.1, 2.2, 2.35, 2.45)]  # found again: back over return_s (0.2 s)
    assert [x.weight for x in back] == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert [x.status for x in back] == ["easing", "easing", "tracking", "tracking"]
    stage(None, 2.5, edits)  # lost for a moment, held: back at once
    assert stage(face, 2.6, edits).weight == 1.0


def test_a_face_back_after_a_long_absence_gets_its_own_neutral() -> None:
    """Without a profile, a face found again after `renew_after_s` away (someone else sat down, a clip cut to
    another face) is neutral at its own rest: its pose and AUs at rest drive nothing. Back sooner, it is the same
    driver, measured against the first neutral."""
    from realtime.face.types import FaceAnalysis, HeadPose

    def other(face: FaceAnalysis) -> FaceAnalysis:  # another person: turned 15 degrees, AUs higher at rest
        return FaceAnalysis(face.landmarks, np.full(17, 0.4, np.float32), HeadPose(15.0, 0.0, 0.0), 1)

    edits = Controls().edits
    for away, renewed in ((1.0, False), (4.0, True)):
        stage = DrivingStage(params=DrivingParams(calibration_frames=5))
        first = synthetic_face(aus=0.1)
        for i in range(20):
            stage(first, i / 30, edits)
        for t in np.arange(0.7, 0.7 + away, 0.1):
            stage(None, float(t), edits)
        back = [stage(other(first), 0.8 + away + i / 30, edits) for i in range(20)]
        turn, aus = back[-1].pose_delta[0], back[-1].aus.max()
        if renewed:
            assert abs(turn) < 0.5 and aus < 0.05
        else:
            assert turn == pytest.approx(15.0, abs=0.5) and aus > 0.2


def test_live_calibration_rezeros() -> None:
    stage = DrivingStage(params=DrivingParams(calibration_frames=3))
    edits = Controls().edits
    stage.request_calibration()
    for i in range(3):
        stage(synthetic_face(aus=0.4), i / 30, edits)
    assert stage.profile.au_baseline == pytest.approx(np.full(17, 0.4), abs=1e-5)
    assert stage(synthetic_face(aus=0.4), 0.2, edits).aus.max() == pytest.approx(0.0, abs=1e-5)


def test_rotation_matches_pose_convention() -> None:
    for angles in [(20, 0, 0), (0, -15, 0), (0, 0, 12), (10, 10, 0)]:
        p = pose_from_rotation(rotation_from_angles(*angles))
        assert [p.yaw, p.pitch, p.roll] == pytest.approx(list(angles), abs=0.5)


def test_transfer_is_identity_at_rest_and_follows_expression_and_pose() -> None:
    from realtime.face.align import alignment_transform, apply_transform

    face = synthetic_face()
    m = alignment_transform(face.landmarks)
    geo = SourceGeometry.from_landmarks(face.landmarks, m)
    ls = apply_transform(m, face.landmarks)[:, :2]
    np.testing.assert_allclose(transfer(geo, np.zeros((478, 3)), np.zeros(3)), ls, atol=1e-3)
    expr = np.zeros((478, 3), np.float32)
    expr[14, 1] = 0.2  # lower lip down by a fifth of the inter-ocular distance
    moved = transfer(geo, expr, np.zeros(3))
    iod_crop = np.linalg.norm(ls[263] - ls[33])
    assert moved[14, 1] - ls[14, 1] == pytest.approx(0.2 * iod_crop, rel=0.05)
    turned = transfer(geo, np.zeros((478, 3)), np.array([20.0, 0, 0]))
    assert turned[1, 0] > ls[1, 0] + 5  # yaw > 0: the nose tip moves to the image's right


def test_a_turned_photo_nods_level_when_the_turn_is_about_its_own_axes() -> None:
    """A photo turned 30 degrees, nodded 10: about its own axes (relative motion, in_head) both eyes rise or fall
    alike (no roll appears) and the frontal photo nods the same either way; about the camera's axes the turned
    photo's far eye drops against its near one (a third of the nod turns into a roll)."""
    from dataclasses import replace

    from realtime.face.align import alignment_transform

    def geometry(yaw: float) -> SourceGeometry:
        face = synthetic_face()
        lm = face.landmarks.astype(np.float64)
        centre = lm.mean(0)
        lm = (lm - centre) @ rotation_from_angles(yaw, 0.0, 0.0).T + centre
        face = replace(face, landmarks=lm.astype(np.float32))
        return SourceGeometry.from_landmarks(face.landmarks, alignment_transform(face.landmarks))

    def eye_gap(lt: np.ndarray) -> float:  # the right eye's height less the left's, crop pixels
        return float(lt[33, 1] - lt[263, 1])

    nod, still = np.array([0.0, 10.0, 0.0]), np.zeros(3)
    turned = geometry(30.0)
    rest = eye_gap(transfer(turned, np.zeros((478, 3)), still))
    head = eye_gap(transfer(turned, np.zeros((478, 3)), nod, in_head=True)) - rest
    camera = eye_gap(transfer(turned, np.zeros((478, 3)), nod)) - rest
    assert abs(head) < 0.3 and abs(camera) > 3.0
    frontal = geometry(0.0)
    np.testing.assert_allclose(
        transfer(frontal, np.zeros((478, 3)), nod, in_head=True),
        transfer(frontal, np.zeros((478, 3)), nod),
        atol=0.3,
    )


def test_a_turning_head_keeps_its_sides_about_where_they_are_and_its_nose_goes_with_the_turn() -> None:
    """A frontal photo turned 20 degrees turns about a point behind its face (HEAD_PIVOT_DEPTH), as a head does:
    its oval's outermost points (by the ears) move less than a tenth of the eyes' distance, and the nose moves
    with the turn by more than a fifth of it. Turned about the face's middle, the near side swung out over the
    ear by about a quarter."""
    from realtime.face.align import alignment_transform, apply_transform

    face = synthetic_face()
    m = alignment_transform(face.landmarks)
    geo = SourceGeometry.from_landmarks(face.landmarks, m)
    ls = apply_transform(m, face.landmarks)[:, :2]
    iod = float(np.linalg.norm(ls[263] - ls[33]))
    turned = transfer(geo, np.zeros((478, 3)), np.array([20.0, 0.0, 0.0]), in_head=True)
    sides = [234, 454]  # the oval's outermost points, by the ears
    assert np.abs(turned[sides, 0] - ls[sides, 0]).max() < 0.1 * iod
    assert turned[1, 0] - ls[1, 0] > 0.2 * iod  # the nose tip goes with the turn (yaw > 0: to the right)


def test_a_turned_photo_turned_back_keeps_its_far_side_with_its_near_side() -> None:
    """A photo turned 20 degrees, turned back towards the camera: the whole face moves (the head turns on its
    neck), the nose more, and the mesh's far side widens (its far edge coming round; on PRNet's 4.jpg under
    LivePortrait's d12 the photo's foreshortened cheek was stretched over it, a swollen jaw). Held, the far side
    moves as the near side does and the nose as it did; a frontal photo, or a turn away, is not held."""
    from realtime.render.shown_motion import FAR_HOLD, hold_far_side, turns_back

    rest = synthetic_face(iod=80.0).landmarks[:, :2].astype(np.float32)
    u = np.array([1.0, 0.0], np.float32)  # the eyes' line; the far side to the right (the nose moves left)
    share = (rest[:, 0] - rest[:, 0].mean()) / (rest[:, 0] - rest[:, 0].mean()).max()
    moved = np.zeros_like(rest)
    moved[:, 0] = -10.0 + 9.0 * np.clip(share, 0.0, 1.0)  # the far side widens by 9 px
    moved[1, 0] -= 8.0  # the nose tip turns further
    turned = rest + moved
    held = hold_far_side(turned, rest, 20.0)
    far = share > FAR_HOLD[1]
    near = share < 0
    assert far.sum() > 10
    np.testing.assert_allclose(
        (held - rest)[far] @ u, -10.0, atol=0.01
    )  # the far side moves as the near side
    np.testing.assert_array_equal(held[near], turned[near])
    np.testing.assert_array_equal(held[1], turned[1])  # the nose as it turned
    np.testing.assert_array_equal(held[:, 1], turned[:, 1])  # nothing moves up or down
    np.testing.assert_array_equal(hold_far_side(turned, rest, 8.0), turned)  # a near-frontal photo: not held
    assert turns_back(20.0, -12.0) and turns_back(-20.0, 12.0)
    assert not turns_back(20.0, 12.0) and not turns_back(8.0, -12.0)


def test_paste_back_of_the_roi_matches_a_whole_frame_paste() -> None:
    import cv2

    from realtime.face.align import alignment_transform, crop_feather_mask, invert_transform, paste_back

    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    m = alignment_transform(synthetic_face(center=(150, 100), iod=40).landmarks)
    crop = rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)
    ours = paste_back(frame, crop, m, feather=0.06)
    inv = invert_transform(m)  # the reference: warp and blend the whole frame
    warped = cv2.warpAffine(crop, inv, (300, 200), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(crop_feather_mask(256, 0.06), inv, (300, 200), flags=cv2.INTER_LINEAR)[..., None]
    ref = np.clip(frame * (1 - a) + warped * a + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(ours.astype(int) - ref).max() <= 1


def test_renderer_choice_is_explicit(tmp_path) -> None:
    from realtime.errors import SetupError
    from realtime.render.choice import make_crop_renderer
    from realtime.render.renderers import MeshWarpCrop

    assert isinstance(make_crop_renderer(tmp_path, "lite", "onnxruntime", "meshwarp"), MeshWarpCrop)
    assert isinstance(make_crop_renderer(tmp_path, "lite", "onnxruntime", "auto"), MeshWarpCrop)  # no weights
    with pytest.raises(SetupError, match="gr_lite.onnx"):
        make_crop_renderer(tmp_path, "lite", "onnxruntime", "facegan")


def test_every_renderer_is_a_context_manager_that_releases_its_engines() -> None:
    """The pipeline enters the renderer (its ExitStack); leaving the context closes the trained chain's
    runners, and leaving again is harmless."""
    from realtime.render.choice import make_crop_renderer
    from realtime.weights import weights_dir

    for choice in ("meshwarp", "meshflow", "facegan"):
        with make_crop_renderer(weights_dir(), "lite", "onnxruntime", choice) as renderer:  # type: ignore[arg-type]
            runners = [*getattr(getattr(renderer, "_chain", None), "runners", {}).values()]
            lt = getattr(renderer, "_lt", None)
            runners += [lt] if lt is not None else []
            assert choice == "meshwarp" or runners, choice
            assert all(r.is_active for r in runners), choice
        assert not any(r.is_active for r in runners), f"{choice}: runners still active after the context"
        renderer.__exit__(None, None, None)


def test_auto_follows_the_renderer_recommended_with_the_weights(tmp_path) -> None:
    from realtime.render.choice import recommended_renderer

    assert recommended_renderer(tmp_path) == "facegan"  # no advice: prefer trained networks when they ship
    (tmp_path / "renderer.json").write_text('{"default": "meshwarp"}')
    assert recommended_renderer(tmp_path) == "meshwarp"
    (tmp_path / "renderer.json").write_text("{not json")
    assert recommended_renderer(tmp_path) == "facegan"


def _mouth(open_: bool):
    """A synthetic driver with the lower lip a sixth of the inter-ocular distance down (and AUs up) or not."""
    from dataclasses import replace

    face = synthetic_face(aus=0.5 if open_ else 0.1)
    lm = face.landmarks.copy()
    if open_:
        lm[[14, 17, 87, 317], 1] += 10.0  # 60 px between the eyes
    return replace(face, landmarks=lm)


def _run(stage: DrivingStage, plan: list[tuple[bool, float]], fps: float = 30.0) -> list:
    edits, states, t = Controls().edits, [], 0.0
    for open_, seconds in plan:
        for _ in range(round(seconds * fps)):
            states.append(stage(_mouth(open_), t, edits))
            t += 1.0 / fps
    return states


def test_without_a_profile_the_neutral_moves_to_the_least_expressive_frames_smoothly() -> None:
    """A driver who starts with the mouth open: once it closes, closed becomes the mouth's neutral (eased),
    and the next opening is transferred; with the user's calibration (or a profile) the neutral stays where it
    was."""
    states = _run(DrivingStage(), [(True, 1.0), (False, 2.0), (True, 1.0)])
    lip = np.array([s.expression[14, 1] for s in states])  # inter-ocular units, down is +
    assert lip[-1] > 0.12  # the opening after the closed spell: about 10/60 of the eyes' distance
    assert lip[29] == pytest.approx(0.0, abs=0.02)  # the first second is its own neutral
    closed = lip[30:90]  # the closed spell
    assert closed.min() < -0.05 and abs(closed[-1]) < 0.01  # below the open neutral at first, then neutral
    assert np.abs(np.diff(lip[31:90])).max() < 0.03  # after the driver's own step, eased: no frame jumps
    from realtime.face.types import AU, AU_ORDER

    k26, k01 = AU_ORDER.index(AU.AU26), AU_ORDER.index(AU.AU01)
    assert states[-1].aus[k26] > 0.3  # and the mouth's AUs above the neutral follow it too
    assert states[-1].aus[k01] < 0.05  # the brows keep the first frames' neutral (only the mouth adapts)

    fixed = DrivingStage()
    edits = Controls().edits
    for i in range(20):
        fixed(_mouth(True), i / 30, edits)
    fixed.request_calibration()  # the user: "this open mouth is my neutral"
    lip_fixed = [s.expression[14, 1] for s in _run(fixed, [(True, 0.5), (False, 2.0), (True, 1.0)])]
    assert abs(lip_fixed[-1]) < 0.02


def test_a_difficult_source_photo_gets_one_clear_warning_per_problem() -> None:
    from dataclasses import replace

    from realtime.face.types import AU, AU_ORDER, HeadPose
    from realtime.render.eyes import EYE_LOOPS
    from realtime.stages.render import source_warnings

    assert source_warnings(synthetic_face()) == []
    assert ["small" in w for w in source_warnings(synthetic_face(iod=20.0))] == [True]
    turned = replace(synthetic_face(), pose=HeadPose(60.0, 0.0, 0.0))
    assert ["turned" in w for w in source_warnings(turned)] == [True]
    aus = np.zeros(17, np.float32)
    aus[AU_ORDER.index(AU.AU26)], aus[AU_ORDER.index(AU.AU45)] = 0.8, 0.9
    both = source_warnings(replace(synthetic_face(), aus=aus))
    assert len(both) == 2 and "mouth is open" in both[0] and "eyes are closed" in both[1]
    assert ["wears glasses" in w for w in source_warnings(synthetic_face(), glasses=True)] == [True]
    assert ["shows 3 faces" in w for w in source_warnings(replace(synthetic_face(), num_faces=3))] == [True]
    squint = synthetic_face()
    for loop in EYE_LOOPS:  # both upper lids lowered to a fifth of the way to the lower lid
        upper, lower = list(loop[1:8]), list(loop[15:8:-1])
        squint.landmarks[upper, 1] = squint.landmarks[lower, 1] - 0.2 * (
            squint.landmarks[lower, 1] - squint.landmarks[upper, 1]
        )
    assert ["nearly shut" in w for w in source_warnings(squint)] == [True]
    assert ["eyes are closed" in w for w in source_warnings(replace(squint, aus=aus))] == [False, True]
    # Lips parted wide though the AU head reads no dropped jaw (a tongue out, a surprised "O"): warned too.
    for gap, warned in ((0.3, True), (0.15, False)):
        parted = synthetic_face()
        parted.landmarks[14, 1] = parted.landmarks[13, 1] + gap * 60.0  # the inner lips' middles, 60 px iod
        assert ["mouth is open" in w for w in source_warnings(parted)] == ([True] if warned else [])


def test_a_driver_starting_with_the_mouth_open_gets_a_closed_neutral_from_the_au_basis() -> None:
    """With the AU basis, the first frame's open mouth (AU25/26 above rest) is closed along it, and on towards
    where its lips meet by DRIVER_SHUT_STRETCH at most (a photo's open mouth is shut to where its lips meet): the
    opening shows at once instead of after the driver's first pause. (This face's lips, the mean face's, are
    apart by about 0.1 of the eyes' distance under the opening: the rows' closing is stretched by about 2.)"""
    from realtime.face.types import AU, AU_ORDER
    from realtime.render.mouth import INNER_LOWER, INNER_UPPER
    from realtime.render.neutral import DRIVER_SHUT_STRETCH

    basis = np.zeros((17, 478, 3), np.float32)
    for au in (AU.AU25, AU.AU26):  # lips apart per unit of each: together 10 px of 60 at 0.5 - 0.05
        basis[AU_ORDER.index(au), [14, 17, 87, 317], 1] = (10.0 / 60.0) / (2 * 0.45)
    mean = synthetic_face(center=(0.0, 0.0), iod=1.0).landmarks
    below = np.isin(INNER_LOWER, [14, 87, 317]).mean() * 10.0 / 60.0  # the opening, over the inner lower lip
    gap = float(np.mean(mean[INNER_LOWER, 1] - mean[INNER_UPPER, 1])) + below
    opened = 10.0 / 60.0 * min(DRIVER_SHUT_STRETCH, gap / below)
    with_basis = _run(DrivingStage(au_basis=basis), [(True, 0.5)])
    without = _run(DrivingStage(), [(True, 0.5)])
    assert with_basis[0].expression[14, 1] == pytest.approx(opened, abs=0.01)
    assert abs(without[0].expression[14, 1]) < 1e-4
    assert with_basis[-1].expression[14, 1] == pytest.approx(opened, abs=0.02)  # kept by the calibration
    profiled = _run(DrivingStage(NeutralProfile(), au_basis=basis), [(True, 0.5)])  # a profile: its neutral
    assert abs(profiled[0].expression[14, 1]) < 1e-4


def test_an_au_basis_that_overlaps_closes_the_first_frames_mouth_only_until_the_lips_meet() -> None:
    """Each of AU25 and AU26 alone shuts twice the opening: summed they would cross the lips, and the
    driver's opening would then show twice as wide. The correction stops where the lips meet."""
    from realtime.face.types import AU, AU_ORDER

    basis = np.zeros((17, 478, 3), np.float32)
    for au in (AU.AU25, AU.AU26):
        basis[AU_ORDER.index(au), [14, 17, 87, 317], 1] = (20.0 / 60.0) / 0.45
    from realtime.render.mouth import INNER_LIPS

    first = _run(DrivingStage(au_basis=basis), [(True, 0.1)])[0]
    neutral = first.driver.neutral  # canonical frame, inter-ocular units
    upper, lower = (list(x) for x in zip(*INNER_LIPS, strict=True))
    assert np.mean(neutral[lower, 1] - neutral[upper, 1]) == pytest.approx(0.0, abs=1e-3)  # meet, not cross
    assert first.expression[14, 1] > 10.0 / 60.0  # the first frame's opening shows


def test_a_driver_starting_with_a_smile_gets_it_taken_out_of_its_neutral_in_full() -> None:
    """A first frame's smile (AU12 above PHOTO_REST_SHAPE) leaves the neutral along the basis' AU12 row in full, not
    only as far as the lips meet: the driver's grin then reaches the photo as a grin (corners out), not as
    parted lips in a narrow mouth."""
    from realtime.face.types import AU, AU_ORDER
    from realtime.render.mouth import INNER_LIPS
    from realtime.render.neutral import PHOTO_REST_SHAPE as REST_SMILE

    basis = np.zeros((17, 478, 3), np.float32)
    smile = AU_ORDER.index(AU.AU12)
    basis[smile, 61, 0], basis[smile, 291, 0] = -0.1, 0.1  # corners out by 0.1 IOD each per unit
    for au in (AU.AU25, AU.AU26):  # overlapping rows (as above): the opening's shut is halved where lips meet
        basis[AU_ORDER.index(au), [14, 17, 87, 317], 1] = (20.0 / 60.0) / 0.45
    first = _run(DrivingStage(au_basis=basis), [(True, 0.1)])[0]  # synthetic AUs 0.5: smiling and open
    widened = first.expression[291, 0] - first.expression[61, 0]
    assert widened == pytest.approx(2 * 0.1 * (0.5 - REST_SMILE), abs=0.01)  # the whole smile shows
    neutral = first.driver.neutral
    upper, lower = (list(x) for x in zip(*INNER_LIPS, strict=True))
    assert np.mean(neutral[lower, 1] - neutral[upper, 1]) > -1e-3  # the lips still meet, never cross
    plain = _run(DrivingStage(au_basis=basis), [(False, 0.1)])[0]  # AUs 0.1: at rest, nothing taken out
    assert abs(plain.expression[291, 0] - plain.expression[61, 0]) < 1e-3


def test_a_driver_starting_with_its_eyes_shut_gets_open_eyes_as_its_neutral() -> None:
    """The first second with the eyes shut, then open: the open eyes become the neutral's (no expression
    once eased), and a blink after that closes the lids. A driver whose eyes start open keeps its neutral."""
    from dataclasses import replace

    from realtime.face.types import AU, AU_ORDER
    from realtime.render.landmark_transfer import LID_PAIRS

    k45 = AU_ORDER.index(AU.AU45)
    upper = [up for eye in LID_PAIRS for up, _ in eye]
    lower = [lo for eye in LID_PAIRS for _, lo in eye]

    def eyes(shut: bool):
        face = synthetic_face(aus=0.05)
        lm = face.landmarks.copy()
        aus = face.aus.copy()
        if shut:
            lm[upper, 1] = lm[lower, 1] - 0.5
            aus[k45] = 0.7
        return replace(face, landmarks=lm, aus=aus)

    def run(plan: list[tuple[bool, float]]) -> list:
        stage, edits, states, t = DrivingStage(), Controls().edits, [], 0.0
        for shut, seconds in plan:
            for _ in range(round(seconds * 30)):
                states.append(stage(eyes(shut), t, edits))
                t += 1.0 / 30
        return states

    states = run([(True, 1.0), (False, 1.0), (True, 0.2)])
    opened = states[59].expression[upper, 1]  # the end of the open second: eased to no expression
    assert np.abs(opened).max() < 0.01
    assert states[-1].expression[upper, 1].max() > 0.06  # the blink after it closes the lids (down is +)
    steady = run([(False, 1.0), (True, 0.2), (False, 1.0)])
    assert steady[35].expression[upper, 1].max() > 0.06  # an open-eyed driver's blink is not absorbed
    assert np.abs(steady[-1].expression[upper, 1]).max() < 0.01


def test_with_the_au_basis_shut_first_frames_show_shut_and_the_opening_shows_open() -> None:
    """The AU basis' AU45 row opens the neutral's lids of a driver whose first frames are shut: its first frame
    is a closed-eyes expression (the photo's eyes shut), its open eyes later about no expression."""
    from dataclasses import replace

    from realtime.face.types import AU, AU_ORDER
    from realtime.render.landmark_transfer import LID_PAIRS, lid_gaps

    k45 = AU_ORDER.index(AU.AU45)
    upper = [up for eye in LID_PAIRS for up, _ in eye]
    face = synthetic_face(aus=0.05)
    gaps = lid_gaps(face.landmarks / 60.0)  # (2, 7) inter-ocular units
    basis = np.zeros((17, 478, 3), np.float32)
    basis[k45, upper, 1] = gaps.ravel() / 0.6  # AU45 0.7 shuts the eyes from 0.1 (open)

    def eyes(shut: bool):
        lm, aus = face.landmarks.copy(), face.aus.copy()
        aus[k45] = 0.1
        if shut:
            lm[upper, 1] += gaps.ravel() * 60.0
            aus[k45] = 0.7
        return replace(face, landmarks=lm, aus=aus)

    stage, edits, states, t = DrivingStage(au_basis=basis), Controls().edits, [], 0.0
    for shut, seconds in ((True, 1.0), (False, 1.0)):
        for _ in range(30 * round(seconds)):
            states.append(stage(eyes(shut), t, edits))
            t += 1.0 / 30
    np.testing.assert_allclose(states[0].expression[upper, 1], gaps.ravel(), atol=0.01)  # shut from frame 0
    np.testing.assert_allclose(
        states[29].expression[upper, 1], gaps.ravel(), atol=0.01
    )  # the calibration too
    assert np.abs(states[-1].expression[upper, 1]).max() < 0.01  # open: the photo's own eyes


def test_a_driver_starting_surprised_gets_its_brows_and_lips_at_rest_in_its_neutral() -> None:
    """A driver whose first frames raise the brows (AU01, AU02 0.6), press the lips (AU23 0.4) and purse them
    (0.7 of their width): its neutral is taken to rest as a photo's is (realtime.render.neutral, on the shipped
    basis and lip model), so the raised brows, the press and the pursed lips show on the photo from the first
    frame, and relaxing lowers the brows. The lip model moves the neutral's lips across only, never up or down.
    Without the basis (or with the user's profile) the first frames are the neutral: nothing shows."""
    from dataclasses import replace

    from realtime.face import topology as topo
    from realtime.face.types import AU, AU_ORDER
    from realtime.weights import load_au_basis, weights_dir

    basis, lip_model = load_au_basis(weights_dir()), load_au_basis(weights_dir(), "lip_shape.npy")
    if basis is None or lip_model is None:
        pytest.skip("au_basis.npy or lip_shape.npy not shipped")
    k01, k02, k23 = (AU_ORDER.index(a) for a in (AU.AU01, AU.AU02, AU.AU23))
    brows, lips = list(topo.LEFT_EYEBROW + topo.RIGHT_EYEBROW), list(topo.LIPS)
    iod = 60.0

    def driver(surprised: bool, pursed: bool = False):
        face = synthetic_face(iod=iod, aus=0.03)
        lm, aus = face.landmarks.copy(), face.aus.copy()
        if surprised:
            raise_ = 0.6 * (basis[k01] + basis[k02])  # canonical frame, inter-ocular units, y down
            lm[brows] += raise_[brows] * iod
            lm[lips] += 0.4 * basis[k23][lips] * iod
            aus[k01], aus[k02], aus[k23] = 0.6, 0.6, 0.4
        if pursed:  # the lips at 0.7 of their width, no AU reading it
            centre = lm[lips, 0].mean()
            lm[lips, 0] = centre + 0.7 * (lm[lips, 0] - centre)
        return replace(face, landmarks=lm, aus=aus)

    def run(stage: DrivingStage, pursed: bool = False) -> list:
        edits, states, t = Controls().edits, [], 0.0
        for surprised, frames in ((True, 30), (False, 30)):
            for _ in range(frames):
                states.append(stage(driver(surprised and not pursed, pursed and surprised), t, edits))
                t += 1.0 / 30.0
        return states

    def brow_up(state) -> float:  # inter-ocular units, up is +
        return -float(state.expression[brows, 1].mean())

    def width(state) -> float:  # the expression's change of the mouth's width
        return float(state.expression[291, 0] - state.expression[61, 0])

    def pressed(state) -> float:  # the expression along the press's row, per unit of it
        row = basis[k23][lips]
        return float((state.expression[lips] * row).sum() / (row * row).sum())

    raised = -float(0.45 * (basis[k01] + basis[k02])[brows, 1].mean())  # the raise above PHOTO_REST_BROW
    assert raised > 0.02
    rested = run(DrivingStage(au_basis=basis, lip_shape=lip_model))
    assert brow_up(rested[0]) > 0.6 * raised and brow_up(rested[29]) > 0.6 * raised  # shown from the start
    assert brow_up(rested[29]) - brow_up(rested[-1]) > 0.6 * raised  # relaxing lowers them
    assert pressed(rested[29]) > 0.15  # the press above PHOTO_REST_SHAPE (0.3 of it) shows
    pursed = run(DrivingStage(au_basis=basis, lip_shape=lip_model), pursed=True)
    assert width(pursed[29]) < -0.05  # the pursed lips show narrower than the neutral's from the start
    assert width(pursed[-1]) > width(pursed[29]) + 0.1  # relaxed, they widen
    no_model = run(DrivingStage(au_basis=basis), pursed=True)
    assert abs(width(no_model[29])) < 0.01  # without the lip model the pucker is the neutral
    np.testing.assert_allclose(  # the lip model moves the neutral's lips across only
        pursed[29].driver.neutral[lips, 1], no_model[29].driver.neutral[lips, 1], atol=1e-5
    )
    for plain in (DrivingStage(), DrivingStage(NeutralProfile(), au_basis=basis, lip_shape=lip_model)):
        states = run(plain)
        assert abs(brow_up(states[0])) < 0.1 * raised and abs(pressed(states[0])) < 0.05


def _lids(face, opening: float):
    """`face` with both eyes' lids drawn to `opening` times their height about each eye's middle row."""
    from realtime.face import topology as topo
    from realtime.face.types import FaceAnalysis

    lm = np.array(face.landmarks, np.float32)
    for eye in (topo.LEFT_EYE, topo.RIGHT_EYE):
        idx = list(eye)
        mid = lm[idx, 1].mean()
        lm[idx, 1] = mid + opening * (lm[idx, 1] - mid)
    return FaceAnalysis(lm, face.aus, face.pose, face.num_faces)


def _neutral_opening(stage: DrivingStage) -> float:
    from realtime.render.eyes import eye_opening

    assert stage._neutral is not None
    return eye_opening(stage._neutral, 0) + eye_opening(stage._neutral, 1)


def test_the_start_neutral_takes_its_lids_from_the_more_open_frames() -> None:
    """A driver who blinks and looks down in its first frames (SkyReels-A1's clip 3, 7 of 15 frames narrowed):
    the neutral's eyes are as open as at rest, not the median's narrower ones (with those, the photo stared
    wide-eyed through every frown and squint)."""
    from realtime.face.pose import canonical_frame
    from realtime.render.eyes import eye_opening

    face, edits = synthetic_face(), Controls().edits
    openings = [0.6, 0.9, 0.8, 0.1, 0.0, 0.2, 0.6, 0.85, 0.95] + [1.0] * 6
    stage = DrivingStage()
    for i, k in enumerate(openings):
        stage(_lids(face, k), float(i), edits)  # a second apart: the smoothing does not blur the frames
    at_rest = canonical_frame(np.asarray(face.landmarks, np.float32))
    rest = eye_opening(at_rest, 0) + eye_opening(at_rest, 1)
    assert _neutral_opening(stage) > 0.97 * rest, (_neutral_opening(stage), rest)


def test_the_start_neutral_is_taken_again_on_each_frame_leaving_out_the_first_fit() -> None:
    """The face mesh's first fit of a new face is the least like the frames after it: with it alone as the
    neutral until the 15th frame, the driver's next, open eyes opened the photo's to twice their size. From the
    second frame on, the neutral is the frames so far, the first left out: open eyes after a narrow first fit
    move the lids not at all."""
    from realtime.stages.driving import EYELIDS

    face, edits = synthetic_face(), Controls().edits
    stage = DrivingStage()
    stage(_lids(face, 0.5), 0.0, edits)
    for i in (1, 2):
        state = stage(face, float(i), edits)
    assert state.expression is not None
    assert np.abs(state.expression[EYELIDS]).max() < 0.005


def test_with_a_profile_a_blink_in_the_first_frame_does_not_stay_in_the_neutral() -> None:
    """With a calibration profile, the landmarks' neutral was the first frame, for good: a driver who blinked
    then had its open eyes read as eyes opening wide all session. It is now taken from the first frames as
    without one, and the profile's AU baseline and head's zero are kept."""
    face, edits = synthetic_face(), Controls().edits
    profile = NeutralProfile(
        np.full(17, 0.1, np.float32), np.zeros(17, np.float32), np.array([2.0, 0.0, 0.0], np.float32)
    )
    stage = DrivingStage(profile=profile)
    stage(_lids(face, 0.0), 0.0, edits)
    for i in range(1, 15):
        stage(face, float(i), edits)
    from realtime.face.pose import canonical_frame
    from realtime.render.eyes import eye_opening

    at_rest = canonical_frame(np.asarray(face.landmarks, np.float32))
    assert _neutral_opening(stage) > 0.97 * (eye_opening(at_rest, 0) + eye_opening(at_rest, 1))
    assert stage.profile.au_baseline == pytest.approx(np.full(17, 0.1))
    assert stage.profile.pose_zero == pytest.approx([2.0, 0.0, 0.0])


def test_a_driver_who_starts_squinting_gets_a_neutral_with_its_eyes_at_rest() -> None:
    """Squinting through its first half second, then its eyes at rest (styletalk's furious clip): the neutral's
    lids move to the typical opening, so the photo does not stare wide-eyed whenever the driver relaxes. Eyes as
    wide with the brows raised (AU01 up) do not move it: that is an expression."""
    from realtime.face.pose import canonical_frame
    from realtime.face.types import AU, AU_ORDER, FaceAnalysis
    from realtime.render.eyes import eye_opening

    base, edits = synthetic_face(aus=0.05), Controls().edits
    at_rest = canonical_frame(np.asarray(base.landmarks, np.float32))
    rest = eye_opening(at_rest, 0) + eye_opening(at_rest, 1)

    def run(later: FaceAnalysis) -> float:
        stage = DrivingStage()
        for i in range(15):
            stage(_lids(base, 0.65), i / 30, edits)  # the squinting start: the neutral
        for i in range(15, 90):
            stage(later, i / 30, edits)
        return _neutral_opening(stage)

    assert run(base) > 0.9 * rest  # relaxed for 2.5 s: the neutral's eyes at rest
    raised = np.array(base.aus)
    raised[AU_ORDER.index(AU.AU01)] = 0.5
    surprised = FaceAnalysis(base.landmarks, raised, base.pose, 1)
    assert run(surprised) < 0.8 * rest  # wide with raised brows: kept as an expression
