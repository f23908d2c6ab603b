"""Face core on real data: alignment round trip, paste_back, pose sign conventions, pose and AUs vs the teacher.

Real-data tests read ../shared/data/dev and skip when it is absent. The pose-vs-teacher and AU tests run the
Face Landmarker teacher (../shared/models/face_landmarker.task) as the reference.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.face.align import (
    CROP_SIZE,
    EYE_CENTER,
    alignment_transform,
    apply_transform,
    invert_transform,
    paste_back,
    warp_to_crop,
)
from realtime.face.pose import pose_from_rotation
from realtime.face.types import AU, AU_ORDER

DATA = Path(__file__).parents[1].parent.parent / "shared" / "data" / "dev"
TEACHER = DATA.parent.parent / "models" / "face_landmarker.task"
PHOTO = DATA / "LivePortrait" / "assets" / "examples" / "source" / "s42.jpg"  # 512x512, one frontal face
TALK = DATA / "CVPR2022-DaGAN" / "assets" / "driving.mp4"  # 184 frames, woman talking, blinks
TURNING = DATA / "smirk" / "samples" / "skarsgard.mp4"  # talking, head turns (teacher yaw std ~17 deg)
BLINK = DATA / "LivePortrait" / "assets" / "examples" / "driving" / "d7.mp4"  # blinks
JAW = DATA / "dreamtalk" / "data" / "style_clip" / "video" / "W011_front_surprised_level3_001.mp4"
MOUTH = DATA / "LivePortrait" / "assets" / "examples" / "driving" / "d12.mp4"  # talking, expressive

needs_data = pytest.mark.skipif(not PHOTO.is_file(), reason=f"real dev data not found at {DATA}")
needs_teacher = pytest.mark.skipif(not TEACHER.is_file(), reason=f"teacher model not found at {TEACHER}")


def _read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _clip(path: Path, count: int, every: int = 1) -> list[np.ndarray]:
    import av

    out = []
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % every == 0:
                out.append(f.to_ndarray(format="rgb24"))
            if len(out) >= count:
                break
    return out


@pytest.fixture(scope="module")
def photo_landmarks() -> tuple[np.ndarray, np.ndarray]:
    if not PHOTO.is_file():
        pytest.skip(f"real dev data not found at {DATA}")
    from realtime.face.mesh import FaceMesh, MeshOptions

    rgb = _read_rgb(PHOTO)
    with FaceMesh(MeshOptions(mode="image")) as mesh:
        faces = mesh.detect(rgb)
    assert faces, "the mesh finds the face of the test photo"
    return rgb, faces[0]


def _analyzer(mode: str = "image"):
    from realtime.face import AnalyzerOptions, FaceAnalyzer

    return FaceAnalyzer(AnalyzerOptions(mode=mode))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- alignment


def test_pose_from_identity_rotation_is_zero() -> None:
    p = pose_from_rotation(np.eye(3))
    assert abs(p.yaw) < 1e-9 and abs(p.pitch) < 1e-9 and abs(p.roll) < 1e-9


@needs_data
def test_alignment_round_trip_on_real_landmarks(photo_landmarks) -> None:
    _, lm = photo_landmarks
    M = alignment_transform(lm)
    crop_pts = apply_transform(M, lm)
    back = apply_transform(invert_transform(M), crop_pts)
    np.testing.assert_allclose(back[:, :2], lm[:, :2], atol=1e-2)  # float32 pixels
    from realtime.face import topology as topo

    eyes = 0.5 * (crop_pts[list(topo.RIGHT_EYE)].mean(0) + crop_pts[list(topo.LEFT_EYE)].mean(0))
    np.testing.assert_allclose(eyes[:2], np.array(EYE_CENTER) * CROP_SIZE, atol=0.5)
    eye_r, eye_l = crop_pts[list(topo.RIGHT_EYE)].mean(0), crop_pts[list(topo.LEFT_EYE)].mean(0)
    assert abs(eye_l[1] - eye_r[1]) < 0.05 * CROP_SIZE, "roll is (nearly) removed"


@needs_data
def test_paste_back_of_untouched_crop_restores_frame(photo_landmarks) -> None:
    rgb, lm = photo_landmarks
    M = alignment_transform(lm)
    crop = warp_to_crop(rgb, M)
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8
    out = paste_back(rgb, crop, M)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    # Inside the face (away from the feathered edge) the resampled crop gives the frame back closely.
    x0, y0 = lm[:, :2].min(0).astype(int) + 10
    x1, y1 = lm[:, :2].max(0).astype(int) - 10
    diff = np.abs(out[y0:y1, x0:x1].astype(int) - rgb[y0:y1, x0:x1].astype(int))
    assert diff.mean() < 4.0
    # Far outside the crop the frame is untouched.
    corner = invert_transform(M) @ np.array([-40.0, -40.0, 1.0])
    if 0 <= corner[0] < rgb.shape[1] and 0 <= corner[1] < rgb.shape[0]:
        assert np.array_equal(out[int(corner[1]), int(corner[0])], rgb[int(corner[1]), int(corner[0])])


# ---------------------------------------------------------------------------------------------- pose


@needs_data
def test_pose_signs_flip_on_mirrored_real_frames() -> None:
    """Yaw and roll change sign when the image is mirrored; pitch does not."""
    frames = _clip(TURNING, 300, every=6)
    with _analyzer() as a:
        pairs = [(a.analyze(f), a.analyze(np.ascontiguousarray(f[:, ::-1]))) for f in frames]
    pairs = [(p.pose, q.pose) for p, q in pairs if p is not None and q is not None]
    assert len(pairs) >= 20
    yaw = np.array([[p.yaw, q.yaw] for p, q in pairs])
    roll = np.array([[p.roll, q.roll] for p, q in pairs])
    pitch = np.array([[p.pitch, q.pitch] for p, q in pairs])
    turned = np.abs(yaw[:, 0]) > 5
    assert turned.any(), "the clip holds turned heads"
    assert np.all(np.sign(yaw[turned, 0]) == -np.sign(yaw[turned, 1]))
    assert np.abs(yaw[:, 0] + yaw[:, 1]).mean() < 3.0
    assert np.abs(roll[:, 0] + roll[:, 1]).mean() < 2.0
    assert np.abs(pitch[:, 0] - pitch[:, 1]).mean() < 3.0


@needs_data
def test_roll_sign_on_rotated_photo(photo_landmarks) -> None:
    """Rotating the image clockwise by 15 degrees raises roll by about 15 (CONTRACTS.md: roll > 0 clockwise)."""
    rgb, _ = photo_landmarks
    h, w = rgb.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), -15.0, 1.0)  # negative angle: clockwise on screen
    turned = cv2.warpAffine(rgb, rot, (w, h), borderMode=cv2.BORDER_REPLICATE)
    with _analyzer() as a:
        base, tilted = a.analyze(rgb), a.analyze(turned)
    assert base is not None and tilted is not None
    assert 11.0 < tilted.pose.roll - base.pose.roll < 19.0


@needs_data
@needs_teacher
def test_pose_follows_teacher_on_real_clip() -> None:
    from training.data.teacher import Teacher

    frames = _clip(TURNING, 300, every=4)
    with _analyzer("video") as a, Teacher(TEACHER) as t:
        rows = [(a.analyze(f), t.analyze(f)) for f in frames]
    ours = np.array([r.pose.as_array() for r, s in rows if r is not None and s is not None])
    ref = np.array([s.pose.as_array() for r, s in rows if r is not None and s is not None])
    assert len(ours) >= 50
    for k, name in enumerate(("yaw", "pitch", "roll")):
        d = ours[:, k] - ref[:, k]
        # The two estimators' frontal frames may differ by a constant; the motion must agree.
        assert np.abs(d - np.median(d)).mean() < 3.0, name
        if ref[:, k].std() > 2.0:
            assert np.corrcoef(ours[:, k], ref[:, k])[0, 1] > 0.8, name


# ----------------------------------------------------------------------------------------------- AUs


@functools.lru_cache(maxsize=4)
def _ours_and_teacher_aus(clip: Path, count: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """(N, 17) AUs of the run-time analyzer (video mode) and of the teacher on the frames both see a face."""
    from training.data.teacher import Teacher

    frames = _clip(clip, count)
    with _analyzer("video") as a, Teacher(TEACHER) as t:
        rows = [(a.analyze(f), t.analyze(f)) for f in frames]
    ours = np.array([r.aus for r, s in rows if r is not None and s is not None])
    ref = np.array([s.aus for r, s in rows if r is not None and s is not None])
    return ours, ref


@needs_data
@needs_teacher
@pytest.mark.parametrize(
    ("clip", "au"), [(TALK, AU.AU45), (BLINK, AU.AU45), (JAW, AU.AU26), (MOUTH, AU.AU26), (MOUTH, AU.AU25)]
)
def test_au_head_follows_teacher_on_real_clip(clip: Path, au: AU) -> None:
    """Blink and jaw AUs of the shipped head track the teacher over a real clip (these clips' people may be
    in the head's training set: this checks the run-time path end to end; held-out numbers are in au_head.md)."""
    k = AU_ORDER.index(au)
    all_ours, all_ref = _ours_and_teacher_aus(clip)
    ours, ref = all_ours[:, k], all_ref[:, k]
    assert len(ours) >= 60 and ref.std() > 0.05, "the clip moves this AU"
    assert np.corrcoef(ours, ref)[0, 1] > 0.8
    assert np.abs(ours - ref).mean() < 0.12
