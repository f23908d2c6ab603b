"""Face / hair / background targets: mesh-hull rules on synthetic landmarks, selfie segmentation on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.data.segment import (
    CropSegmenter,
    PersonSegmenter,
    SegClass,
    above_jaw_mask,
    compose_segmentation,
    face_hull_mask,
)

REPO = Path(__file__).resolve().parents[2]
SIZE = 256


@pytest.fixture(scope="module")
def crop_landmarks() -> np.ndarray:
    """The project's mean face placed as an aligned crop would hold it: (478, 3) crop pixels."""
    mean = np.load(REPO / "realtime" / "weights" / "mean_face.npy").astype(np.float64)  # eye-corner units
    pts = mean * 70.0
    pts[:, :2] += np.array([128.0, 128.0]) - pts[:, :2].mean(axis=0)
    return pts.astype(np.float32)


def test_seg_class_values_follow_the_contract() -> None:
    assert (SegClass.BACKGROUND, SegClass.HAIR, SegClass.FACE) == (0, 1, 2)


def test_face_hull_covers_the_face_centre_not_the_corners(crop_landmarks: np.ndarray) -> None:
    face = face_hull_mask(crop_landmarks, SIZE)
    assert face.shape == (SIZE, SIZE) and face.dtype == bool
    nose = crop_landmarks[1, :2].round().astype(int)
    assert face[nose[1], nose[0]]
    assert not face[0, 0] and not face[-1, -1] and not face[0, -1] and not face[-1, 0]
    assert 0.15 < face.mean() < 0.6


def test_above_jaw_is_above_the_chin_and_beside_the_temples(crop_landmarks: np.ndarray) -> None:
    above = above_jaw_mask(crop_landmarks, SIZE)
    chin_y = int(crop_landmarks[152, 1])
    assert above[:10].all(), "the top rows are above the jaw everywhere"
    assert not above[min(chin_y + 5, SIZE - 1) :].any(), "nothing below the chin is above the jaw"


def test_compose_labels_hair_only_where_the_person_is(crop_landmarks: np.ndarray) -> None:
    everyone = compose_segmentation(np.ones((SIZE, SIZE), np.float32), crop_landmarks)
    nobody = compose_segmentation(np.zeros((SIZE, SIZE), np.float32), crop_landmarks)
    assert everyone.dtype == np.uint8 and set(np.unique(everyone)) == {0, 1, 2}
    assert everyone[2, 2] == SegClass.HAIR and everyone[-2, 2] == SegClass.BACKGROUND  # neck/body: background
    assert set(np.unique(nobody)) == {0, 2}, "the face hull is face even where the person mask misses it"
    np.testing.assert_array_equal(everyone == SegClass.FACE, nobody == SegClass.FACE)


def test_compose_refuses_a_non_square_mask(crop_landmarks: np.ndarray) -> None:
    with pytest.raises(ValueError, match="square"):
        compose_segmentation(np.ones((SIZE, SIZE + 2), np.float32), crop_landmarks)


def test_person_segmenter_checks_its_input() -> None:
    with PersonSegmenter() as seg:
        with pytest.raises(ValueError, match="uint8"):
            seg.person_probability(np.zeros((64, 64), np.uint8))
        prob = seg.person_probability(np.full((128, 96, 3), 127, np.uint8))
    assert prob.shape == (128, 96) and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0
    with pytest.raises(RuntimeError, match="closed"):
        seg.person_probability(np.zeros((8, 8, 3), np.uint8))


@pytest.mark.data
def test_real_face_crop_gets_face_hair_and_background(dev_data: Path) -> None:
    from realtime.face.align import alignment_transform, apply_transform, warp_to_crop
    from realtime.face.mesh import FaceMesh
    from training.data.video_io import VideoFrames

    rgb = next(iter(VideoFrames(dev_data / "CVPR2022-DaGAN" / "assets" / "driving.mp4")))
    with FaceMesh() as mesh:
        (lm, *_) = mesh.detect(rgb)
    M = alignment_transform(lm)
    crop, crop_lm = warp_to_crop(rgb, M), apply_transform(M, lm)
    with CropSegmenter() as seg:
        labels = seg.segment(crop, crop_lm)
    fractions = np.bincount(labels.ravel(), minlength=3) / labels.size
    assert fractions[SegClass.FACE] > 0.15
    assert fractions[SegClass.HAIR] > 0.01, "a talking-head crop shows some hair"
    assert fractions[SegClass.BACKGROUND] > 0.05
