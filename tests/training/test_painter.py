"""The eye painter's recipe on a synthetic dataset: samples cut by the run-time renderer, a few training steps,
resume, export to fp16 ONNX with parity, a model card with the run's numbers, and the run-time painter loading it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _synthetic_dataset import write_synthetic_dataset

from realtime.render.eyes import EYE_WINDOW, EyePainter
from training.painter import data as painter_data
from training.painter import train as painter_train


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    torch.set_num_threads(1)
    root = write_synthetic_dataset(tmp_path_factory.mktemp("ds"), n_tracks=4, frames=10, size=64, seed=3)
    out = tmp_path_factory.mktemp("eyes") / "eyes.npz"
    assert painter_data.main(["--data", str(root), "--out", str(out), "--per-eye", "4"]) == 0
    return out


def test_samples_are_windows_of_changed_eyes(samples) -> None:
    s = painter_data.EyeSamples.load(samples)
    v = painter_data.EyeSamples.load(samples.with_suffix(".val.npz"))
    w, h = EYE_WINDOW
    assert len(s) > 0 and len(v) > 0
    assert s.warped.shape[1:] == (h, w, 3) and s.mask.shape[1:] == (h, w) and s.target.dtype == np.uint8
    assert np.all(s.ratio < 0.8)  # only eyes that close, as run time paints them
    assert not set(s.identity.tolist()) & set(v.identity.tolist())  # whole people held out


def test_train_resume_export_and_run_time_load(samples, tmp_path) -> None:
    run, weights = tmp_path / "run", tmp_path / "weights"
    base = ["--samples", str(samples), "--out", str(run), "--threads", "1", "--batch", "4"]
    assert painter_train.main([*base, "--steps", "3"]) == 0
    assert torch.load(run / "eye_painter.pt", weights_only=False)["step"] == 3
    assert painter_train.main([*base, "--steps", "5", "--resume", "--export", str(weights)]) == 0
    assert torch.load(run / "eye_painter.pt", weights_only=False)["step"] == 5
    card = (weights / "eye_painter.md").read_text()
    assert "5 steps" in card and "warp alone" in card
    painter = EyePainter(weights / "eye_painter.onnx")
    w, h = EYE_WINDOW
    out = painter.paint(np.random.default_rng(0).random((2, 7, h, w), dtype=np.float32))
    assert len(out) == 2 and out[0].rgb.shape == (h, w, 3) and out[0].alpha.shape == (h, w)
    assert (
        0.0 <= out[0].alpha.min() and out[0].alpha.max() <= 1.0 and out[0].alpha[0, 0] == 0.0
    )  # feathered edge
