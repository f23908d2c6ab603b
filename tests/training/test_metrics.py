"""Metrics of Tables 1/2 on known values; the dlib embedder on real faces where the data is present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.evaluation import metrics as M

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dev"


def test_mse_psnr_on_known_values() -> None:
    a = np.zeros((8, 8, 3), np.uint8)
    b = np.full((8, 8, 3), 51, np.uint8)  # 0.2 in [0, 1]
    assert M.mse(a, b) == pytest.approx(0.04)
    assert M.psnr(a, b) == pytest.approx(10 * np.log10(1 / 0.04))
    assert M.psnr(a, a) == float("inf")
    with pytest.raises(ValueError, match="shape"):
        M.mse(a, b[:4])


def test_ssim_is_one_for_equal_images_and_drops_with_noise() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    noisy = np.clip(img + rng.normal(0, 40, img.shape), 0, 255).astype(np.uint8)
    assert M.ssim(img, img) == pytest.approx(1.0)
    assert 0.0 < M.ssim(img, noisy) < 0.9
    flat = np.full((32, 32, 3), 128, np.uint8)
    assert M.ssim(flat, flat) == pytest.approx(1.0)


def test_pose_au_and_landmark_metrics() -> None:
    assert M.psim(np.array([10.0, 0, 0]), np.array([20.0, 0, 0])) == pytest.approx(1.0)
    assert M.psim(np.array([10.0, 0, 0]), np.array([-10.0, 0, 0])) == pytest.approx(-1.0)
    assert M.psim(np.zeros(3), np.array([1.0, 0, 0])) == 0.0  # undefined: reported as 0
    assert M.au_distance(np.zeros(17), np.full(17, 0.5)) == pytest.approx(0.5 * np.sqrt(17))
    a = np.zeros((478, 2))
    b = np.full((478, 2), 25.6)  # 0.2 of a 256 crop in normalised units
    assert M.landmark_mse(a, b, 256) == pytest.approx(0.04)


def _dev_face(rel: str) -> np.ndarray:
    av = pytest.importorskip("av")
    path = DEV / rel
    if not path.is_file():
        pytest.skip(f"real dev data not found at {path}")
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


@pytest.mark.data
def test_identity_embedder_separates_people() -> None:
    try:
        emb = M.IdentityEmbedder()
    except M.EmbedderUnavailableError as exc:
        pytest.skip(str(exc))
    man = _dev_face("DPE/data/s.mp4")
    woman = _dev_face("CVPR2022-DaGAN/assets/driving.mp4")
    e_man, e_woman = emb.embed(man), emb.embed(woman)
    assert e_man is not None and e_woman is not None
    shifted = np.roll(man, 3, axis=1)  # the same face, moved by a few pixels
    e_shift = emb.embed(shifted)
    assert e_shift is not None
    assert M.csim(e_man, e_shift) > 0.95
    assert M.csim(e_man, e_woman) < M.csim(e_man, e_shift) - 0.05
    assert emb.embed(np.zeros((64, 64, 3), np.uint8)) is None  # no face: None, counted by the caller


def test_the_report_says_which_aus_the_expression_distance_comes_from() -> None:
    """summarise keeps each AU's mean squared gap (output less driver) and its mean: the squares add up to the
    mean squared ED, and the sign says which way the output misses; PSIM's median sits beside its mean."""
    from training.evaluation.measure import summarise
    from training.evaluation.metrics import AU_NAMES, au_distance, au_gap

    rng = np.random.default_rng(0)
    rows = []
    for i in range(20):
        drv, out = rng.uniform(0, 1, 17), rng.uniform(0, 1, 17)
        out[0] = drv[0] + 0.3  # AU01: the output always shows more
        rows.append(
            {
                "kind": "cross",
                "method": "m",
                "psim": 0.1 if i < 5 else 0.9,
                "ed": au_distance(drv, out),
                "au_gap": au_gap(drv, out),
            }
        )
    s = summarise(rows, ["m"])["m"]
    ms = s["ed_by_au"]["mean_square"]
    assert list(ms) == list(AU_NAMES)
    assert sum(ms.values()) == pytest.approx(np.mean([r["ed"] ** 2 for r in rows]))
    assert s["ed_by_au"]["mean"]["AU01"] == pytest.approx(0.3)
    assert s["cross"]["psim"] == pytest.approx(0.7) and s["cross"]["psim_median"] == pytest.approx(0.9)
