"""The live protocol's metrics on cases with a known answer (no teacher, no clips: synthetic arrays)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from training.evaluation.live import (
    decide,
    face_mask,
    following_r,
    frame_change,
    sharpness_ratio,
    summarise_live,
)


def test_a_frozen_output_follows_nothing_and_the_driver_itself_follows_perfectly() -> None:
    t = np.linspace(0, 6, 90)
    driver = np.sin(t) * 10 + 3
    assert following_r(driver, np.full_like(driver, 5.0)) == 0.0
    assert following_r(driver, driver) > 0.999
    assert following_r(driver, -driver) < -0.999
    rng = np.random.default_rng(0)
    assert abs(following_r(driver, rng.normal(size=90))) < 0.3
    # An output that follows in shape but stays within the estimator's noise (std 0.005) follows nothing.
    assert following_r(driver, 0.0005 * driver, still=0.01) == 0.0
    assert following_r(driver, 0.005 * driver, still=0.01) > 0.999


def _face() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    ang = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    lm = np.column_stack([100 + 60 * np.cos(ang), 100 + 70 * np.sin(ang)]).astype(np.float32)
    return img, lm


def test_a_blurred_copy_is_less_sharp_and_the_photo_itself_is_as_sharp() -> None:
    img, lm = _face()
    assert abs(sharpness_ratio(img, lm, img, lm) - 1.0) < 1e-6
    blurred = cv2.GaussianBlur(img, (0, 0), 2.0)
    assert sharpness_ratio(blurred, lm, img, lm) < 0.5


def test_flicker_is_zero_for_a_still_output_and_counts_only_still_driver_steps() -> None:
    img, lm = _face()
    mask = face_mask(img.shape, lm)
    frames = [img, img, img]
    assert frame_change(frames, [mask] * 3, np.array([False, True, True]))[0] == 0.0
    noisy = [img, np.clip(img.astype(int) + 20, 0, 255).astype(np.uint8), img]
    assert frame_change(noisy, [mask] * 3, np.array([False, True, True]))[0] > 5.0
    assert frame_change(noisy, [mask] * 3, np.array([False, False, False]))[0] is None  # driver never still


def test_shimmer_leaves_out_a_face_moving_as_a_whole_and_keeps_noise() -> None:
    """A textured face moving 1 px a frame, as a head sways: flicker counts the motion, shimmer nearly none. The
    same face with fresh noise in each frame: shimmer counts it as flicker does."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (200, 200, 3)).astype(np.float32), (0, 0), 2.0)
    texture = np.clip((texture - texture.mean()) * 4 + 128, 0, 255).astype(np.uint8)
    frames = [np.roll(texture, t, axis=1) for t in range(4)]
    mask = np.zeros((200, 200), bool)
    mask[40:160, 40:160] = True
    still = np.array([False, True, True, True])
    moving = frame_change(frames, [mask] * 4, still)[0]
    assert moving is not None and moving > 3.0
    assert frame_change(frames, [mask] * 4, still)[1] < 0.1 * moving
    noisy = [
        np.clip(texture.astype(int) + rng.integers(-10, 11, texture.shape), 0, 255).astype(np.uint8)
        for _ in range(4)
    ]
    assert frame_change(noisy, [mask] * 4, still)[1] == pytest.approx(
        frame_change(noisy, [mask] * 4, still)[0], rel=0.05
    )
    assert frame_change(frames, [mask] * 4, np.zeros(4, bool))[1] is None


def test_decision_takes_the_best_follower_among_renderers_that_keep_identity() -> None:
    rows = [
        {
            "renderer": "a",
            "csim_source": 0.95,
            "face_found": 1.0,
            "sharpness": 1.0,
            "pose_r": 0.9,
            "au_r": {"AU12": 0.8, "AU26": 0.8, "AU45": 0.8},
        },
        {
            "renderer": "b",
            "csim_source": 0.80,
            "face_found": 1.0,
            "sharpness": 1.0,
            "pose_r": 1.0,
            "au_r": {"AU12": 1.0, "AU26": 1.0, "AU45": 1.0},
        },
        {
            "renderer": "c",
            "csim_source": 0.97,
            "face_found": 1.0,
            "sharpness": 1.0,
            "pose_r": 0.5,
            "au_r": {"AU12": 0.1, "AU26": 0.2, "AU45": 0.3},
        },
    ]
    d = decide(summarise_live(rows))
    assert d["renderer"] == "a"  # b follows best but loses identity
    assert set(d["scores"]) == {"a", "c"}
    blurry = [r | {"sharpness": 0.5} if r["renderer"] == "a" else r for r in rows]
    assert decide(summarise_live(blurry))["renderer"] == "c"  # a blurry face does not win


def test_a_black_mouth_raises_the_mouth_error_and_barely_the_face_error() -> None:
    from pathlib import Path

    import pytest

    from training.evaluation.metrics import masked_mse, region_masks

    mean_face = Path(__file__).resolve().parents[2] / "realtime" / "weights" / "mean_face.npy"
    if not mean_face.is_file():
        pytest.skip(f"mean face not found at {mean_face}")
    lm = 128.0 + 70.0 * np.load(mean_face)[:, :2]
    lm[[14, 87, 178, 88, 95, 317, 402, 318, 324, 15, 16], 1] += 8.0  # open the lower inner lip a little
    rng = np.random.default_rng(2)
    frame = cv2.resize(rng.integers(60, 200, (16, 16, 3), dtype=np.uint8), (256, 256))
    masks = region_masks(lm, frame.shape)
    assert masks["mouth"].sum() > 20 and masks["eyes"].sum() > 20
    assert not (masks["face"] & masks["background"]).any()
    black = frame.copy()
    black[masks["mouth"]] = 0
    mouth, face = masked_mse(black, frame, masks["mouth"]), masked_mse(black, frame, masks["face"])
    assert mouth > 0.1 and face < 0.1 * mouth
    assert masked_mse(black, frame, masks["eyes"]) == 0.0


def test_following_is_measured_only_on_channels_the_driver_moves() -> None:
    """A still driver channel gets no r (its r would be the estimator's noise); a moving one does."""
    from types import SimpleNamespace

    from realtime.face.types import AU, AU_ORDER
    from training.evaluation.live_run import measure_pair

    rng = np.random.default_rng(0)
    n = 30
    t = np.linspace(0, 2 * np.pi, n)
    k26, k12 = AU_ORDER.index(AU.AU26), AU_ORDER.index(AU.AU12)

    def face(i: int, noise: float) -> SimpleNamespace:
        aus = np.zeros(len(AU_ORDER))
        aus[k26] = 0.3 + 0.2 * np.sin(t[i])  # moves
        aus[k12] = 0.2 + noise * rng.standard_normal()  # still, up to estimator noise
        pose = np.array([10 * np.sin(t[i]), 0.5 * rng.standard_normal(), 0.0])  # yaw moves
        lm = np.zeros((478, 3))
        lm[263, 0], lm[33, 0] = 60.0, 0.0
        return SimpleNamespace(aus=aus, pose=pose, landmarks=lm)

    driver = [np.full((8, 8, 3), i, np.uint8) for i in range(n)]
    output = [np.full((8, 8, 3), i, np.uint8) for i in range(n)]
    faces = {id(f): face(i, 0.01) for frames in (driver, output) for i, f in enumerate(frames)}
    teacher = SimpleNamespace(measure=lambda f: faces.get(id(f)))  # the source photo: no face, no sharpness
    row = measure_pair(teacher, None, np.zeros((8, 8, 3), np.uint8), driver, output, 10)
    assert set(row["au_r"]) == {"AU26"}
    assert row["au_r"]["AU26"] > 0.99
    assert row["pose_r"] > 0.99  # yaw only: pitch's 0.5 deg of noise is not a movement


def test_the_mouths_shape_is_read_the_same_on_a_tilted_head_and_followed_where_the_driver_moves_it() -> None:
    """mouth_shape: width, corner lift and opening in eye distances, unchanged by a head's roll and scale;
    measure_pair's mouth_r has an r for each measure the driver moves, and 0 for an output that stays still."""
    from types import SimpleNamespace

    from realtime.face.types import AU_ORDER
    from training.evaluation.live import mouth_shape
    from training.evaluation.live_run import measure_pair

    def face(lift: float, roll: float = 0.0, scale: float = 1.0) -> np.ndarray:
        lm = np.zeros((478, 2))
        lm[33], lm[263] = (-0.5, 0.0), (0.5, 0.0)
        lm[61], lm[291] = (-0.25, 0.6 - lift), (0.25, 0.6 - lift)  # corners (y down)
        lm[13], lm[14] = (0.0, 0.6), (0.0, 0.65)
        c, s_ = np.cos(roll), np.sin(roll)
        return scale * lm @ np.array([[c, s_], [-s_, c]]) + 100.0

    assert np.allclose(mouth_shape(face(0.1)), [0.5, 0.125, 0.05])
    assert np.allclose(mouth_shape(face(0.1, roll=0.4, scale=80.0)), mouth_shape(face(0.1)))
    n = 24
    lifts = 0.05 * np.sin(np.linspace(0, 2 * np.pi, n))
    aus, pose = np.zeros(len(AU_ORDER)), np.zeros(3)
    driver = [np.full((8, 8, 3), i, np.uint8) for i in range(n)]
    following = [np.full((8, 8, 3), i, np.uint8) for i in range(n)]
    still = [np.full((8, 8, 3), i, np.uint8) for i in range(n)]
    faces = {id(f): SimpleNamespace(aus=aus, pose=pose, landmarks=face(v)) for f, v in zip(driver, lifts)}
    faces |= {
        id(f): SimpleNamespace(aus=aus, pose=pose, landmarks=face(0.5 * v, 0.3))
        for f, v in zip(following, lifts)
    }
    faces |= {id(f): SimpleNamespace(aus=aus, pose=pose, landmarks=face(0.0)) for f in still}
    teacher = SimpleNamespace(measure=lambda f: faces.get(id(f)))
    src = np.zeros((8, 8, 3), np.uint8)
    row = measure_pair(teacher, None, src, driver, following, 10)
    assert set(row["mouth_r"]) == {"corners"} and row["mouth_r"]["corners"] > 0.99
    assert row["eye_r"] == {}  # no eye moved
    assert measure_pair(teacher, None, src, driver, still, 10)["mouth_r"] == {"corners": 0.0}


def test_a_blink_drawn_on_one_eye_only_is_told_apart_by_eye() -> None:
    """eye_r: each eye's opening from the teacher's landmarks followed on its own: an output that shuts only
    the right eye where the driver blinks both follows with the right eye and not the left (r 0: it stays open)."""
    from types import SimpleNamespace

    from realtime.face.types import AU_ORDER
    from realtime.render.eyes import EYE_LOOPS
    from training.evaluation.live_run import measure_pair

    def face(right: float, left: float) -> np.ndarray:
        lm = np.zeros((478, 2))
        for loop, cx, open_ in zip(EYE_LOOPS, (30.0, 70.0), (right, left), strict=True):
            for k, i in enumerate(loop):  # an ellipse: upper lid (k 0-8) then lower lid back
                a = np.pi * k / 8
                lm[i] = (cx - 10 * np.cos(a), 50 - (open_ if k <= 8 else 2.0) * np.sin(a))
        return lm

    n = 24
    shut = 4.0 * (
        1 + np.cos(np.linspace(0, 4 * np.pi, n))
    )  # two blinks: upper lid 8 px -> 0 above the corners
    aus, pose = np.zeros(len(AU_ORDER)), np.zeros(3)
    driver = [np.full((8, 8, 3), i, np.uint8) for i in range(n)]
    output = [np.full((8, 8, 3), i, np.uint8) for i in range(n)]
    faces = {id(f): SimpleNamespace(aus=aus, pose=pose, landmarks=face(v, v)) for f, v in zip(driver, shut)}
    faces |= {
        id(f): SimpleNamespace(aus=aus, pose=pose, landmarks=face(v, 8.0)) for f, v in zip(output, shut)
    }
    teacher = SimpleNamespace(measure=lambda f: faces.get(id(f)))
    row = measure_pair(teacher, None, np.zeros((8, 8, 3), np.uint8), driver, output, 10)
    assert row["eye_r"]["right_eye"] > 0.99 and row["eye_r"]["left_eye"] == 0.0


def test_an_iris_that_keeps_the_photos_gaze_follows_nothing() -> None:
    """eye_r's gaze: the driver looks left and right (its irises slide 0.2 of the eye's width each way); an
    output whose right iris goes with it follows (r 1), one whose left iris stays put follows nothing (r 0)."""
    from types import SimpleNamespace

    from realtime.face.types import AU_ORDER
    from realtime.render.eyes import EYE_LOOPS, IRIS_CENTRES, gaze
    from training.evaluation.live_run import measure_pair

    def face(right: float, left: float) -> np.ndarray:
        lm = np.zeros((478, 2))
        for loop, iris, cx, look in zip(EYE_LOOPS, IRIS_CENTRES, (30.0, 70.0), (right, left), strict=True):
            for k, i in enumerate(loop):
                a = np.pi * k / 8
                lm[i] = (cx - 10 * np.cos(a), 50 - 4.0 * np.sin(a))
            lm[iris] = (cx + 20.0 * look, 50.0)
        return lm

    assert gaze(face(0.2, -0.1), 0) == pytest.approx(0.2) and gaze(face(0.2, -0.1), 1) == pytest.approx(-0.1)
    n = 24
    look = 0.2 * np.sin(np.linspace(0, 4 * np.pi, n))
    aus, pose = np.zeros(len(AU_ORDER)), np.zeros(3)
    driver = [np.full((8, 8, 3), i, np.uint8) for i in range(n)]
    output = [np.full((8, 8, 3), i, np.uint8) for i in range(n)]
    faces = {id(f): SimpleNamespace(aus=aus, pose=pose, landmarks=face(v, v)) for f, v in zip(driver, look)}
    faces |= {
        id(f): SimpleNamespace(aus=aus, pose=pose, landmarks=face(0.7 * v, 0.0)) for f, v in zip(output, look)
    }
    teacher = SimpleNamespace(measure=lambda f: faces.get(id(f)))
    row = measure_pair(teacher, None, np.zeros((8, 8, 3), np.uint8), driver, output, 10)
    assert row["eye_r"]["right_gaze"] > 0.99 and row["eye_r"]["left_gaze"] == 0.0
    assert "right_eye" not in row["eye_r"]  # the lids did not move


def test_the_command_needs_a_dataset_or_chosen_pairs_that_exist(tmp_path, capsys) -> None:
    import pytest

    from training.evaluation.live import main

    for argv, said in (
        (["--out", str(tmp_path)], "give --data"),
        (["--out", str(tmp_path), "--pair", str(tmp_path / "no.png"), str(tmp_path)], "does not exist"),
        (["--out", str(tmp_path), "--pair", str(tmp_path), str(tmp_path), "--decide"], "held-out people"),
    ):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and said in capsys.readouterr().err


def test_sharpness_leaves_out_the_lips_that_an_expression_changes() -> None:
    """On 478 mesh landmarks, a photo's open mouth (teeth: the sharpest edges of a face) shown shut and flat is
    no loss of sharpness; the same flat mouth counted in was (the skin around it is what a blur changes)."""
    from realtime.face import topology as topo
    from realtime.weights import weights_dir

    mean = np.load(weights_dir() / "mean_face.npy")[:, :2]
    lm = (100.0 + 60.0 * mean).astype(np.float32)  # (478, 2), about 120 px wide
    rng = np.random.default_rng(2)
    img = cv2.GaussianBlur(rng.integers(0, 256, (200, 200, 3), dtype=np.uint8), (0, 0), 1.0)
    teeth = img.copy()
    mouth = cv2.convexHull(np.round(lm[list(topo.LIPS)]).astype(np.int32))
    cv2.fillConvexPoly(teeth, mouth, (255, 255, 255))
    for x in range(0, 200, 4):
        cv2.line(teeth, (x, 0), (x, 199), (0, 0, 0), 1)  # hard edges everywhere ...
    teeth = np.where(cv2.fillConvexPoly(np.zeros((200, 200), np.uint8), mouth, 1)[..., None] > 0, teeth, img)
    shut = img.copy()
    cv2.fillConvexPoly(shut, mouth, (150, 80, 80))  # ... but only in the photo's mouth
    assert abs(sharpness_ratio(shut, lm, teeth, lm) - 1.0) < 0.05
    assert sharpness_ratio(cv2.GaussianBlur(shut, (0, 0), 2.0), lm, teeth, lm) < 0.5


def test_the_moments_are_the_drivers_extremes_where_it_moves_and_never_a_frame_without_a_face() -> None:
    """pick_moments: the mouth most open, the widest smile and the head most turned from the first frame,
    each at the frame the teacher reads it; a frame without a face is never picked (even where it would be the
    extreme), and a channel the driver keeps still (the brows, the lids) has no moment. The sheet: a header,
    then a row a moment, a cell for the driver and for each renderer."""
    from pathlib import Path
    from types import SimpleNamespace

    from realtime.face.types import AU, AU_ORDER
    from training.evaluation.moments import CELL, moments_sheet, output_cells, pick_moments

    mean = np.load(Path(__file__).parents[2] / "realtime" / "weights" / "mean_face.npy")[:, :2] * 60 + 100
    k12 = AU_ORDER.index(AU.AU12)

    def measure(opening: float, smile: float, yaw: float):
        lm = mean.copy()
        lm[14, 1] += opening  # the lower lip's middle, px (60 px between the eyes)
        aus = np.full(17, 0.1)
        aus[k12] = smile
        return SimpleNamespace(landmarks=lm, aus=aus, pose=np.array([yaw, 0.0, 0.0]))

    measures = [
        measure(o, s, y) for o, s, y in [(0, 0.1, 0), (3, 0.2, 2), (9, 0.3, 4), (5, 0.9, 6), (1, 0.4, 8)]
    ]
    measures.insert(2, None)  # no face in frame 2
    assert pick_moments(measures) == [("mouth open", 3), ("smile", 4), ("head turned", 5)]
    assert pick_moments([None, None]) == []
    still = [measure(0, 0.1, 0) for _ in range(4)]
    assert pick_moments(still) == []

    moments = pick_moments(measures)
    frames = [np.full((200, 220, 3), 40 * i, np.uint8) for i in range(6)]
    cells = {
        "meshflow": output_cells(frames, moments, mean),
        "short": output_cells(frames[:4], moments, None),
    }
    sheet = moments_sheet(moments, frames, measures, cells)
    assert sheet is not None and sheet.shape == (24 + 3 * CELL, 3 * CELL, 3)
    assert not sheet[24 + 2 * CELL :, 2 * CELL :].any()  # "short" has no frame 5: black
    assert moments_sheet([], frames, measures, {}) is None
