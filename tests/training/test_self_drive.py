"""The self-driving check's measures (training/evaluation/self_drive.py): the output is laid onto the real frame by
their landmarks, its regions are the real face's, and the iris' place along the eye is read from the corners."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realtime.weights import weights_dir
from training.evaluation.self_drive import iris_along, laid_on, region_mask, steady_points

MEAN_FACE = weights_dir() / "mean_face.npy"


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    if not MEAN_FACE.is_file():
        pytest.skip(f"mean face not found at {MEAN_FACE}")
    mean = np.load(MEAN_FACE)
    return np.column_stack([240.0 + 110.0 * mean[:, 0], 300.0 + 110.0 * mean[:, 1]]).astype(np.float32)


def test_an_output_moved_and_scaled_is_laid_back_onto_the_real_frame(face) -> None:
    rng = np.random.default_rng(0)
    real = cv2.resize(rng.uniform(0, 255, (12, 10, 3)).astype(np.float32), (480, 600)).astype(np.uint8)
    m = np.array([[0.9, -0.1, 30.0], [0.1, 0.9, -12.0]])  # the output frames the face anew
    output = cv2.warpAffine(real, m, (480, 600), flags=cv2.INTER_LINEAR)
    out_lm = face @ m[:, :2].T + m[:, 2]
    laid = laid_on(output, out_lm, face, real.shape, steady_points("eyes"))
    inner = region_mask(face, real.shape, "mouth") | region_mask(face, real.shape, "eyes")
    assert inner.sum() > 200
    assert np.abs(laid[inner].astype(int) - real[inner].astype(int)).mean() < 3.0


def test_the_regions_are_the_eyes_and_the_inner_mouth(face) -> None:
    eyes, mouth = region_mask(face, (600, 480), "eyes"), region_mask(face, (600, 480), "mouth")
    assert eyes.any() and mouth.any() and not (eyes & mouth).any()
    ys_e, ys_m = np.nonzero(eyes)[0], np.nonzero(mouth)[0]
    assert ys_e.max() < ys_m.min()  # the eyes over the mouth


def test_the_iris_is_read_along_its_eye_from_the_outer_corner(face) -> None:
    lm = face.copy()
    for c0, c1, iris in ((33, 133, 468), (263, 362, 473)):
        lm[iris] = lm[c0] + 0.25 * (lm[c1] - lm[c0])
    assert iris_along(lm) == pytest.approx([0.25, 0.25], abs=1e-5)
