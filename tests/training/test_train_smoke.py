"""facegan-train on a tiny config and a synthetic dataset: every stage runs, resume is exact, bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _synthetic_dataset import write_synthetic_dataset

from training.fitting.train import load_checkpoint, main


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    torch.set_num_threads(1)
    return write_synthetic_dataset(tmp_path_factory.mktemp("ds"), n_tracks=4, frames=6, size=32, seed=2)


def _run(stage, data, out, steps, *extra):
    args = [
        stage,
        "--data",
        str(data),
        "--out",
        str(out),
        "--config",
        "tiny",
        "--size",
        "32",
        "--steps",
        str(steps),
        "--val-every",
        "2",
        "--log-every",
        "1",
        "--val-pairs",
        "4",
        "--threads",
        "1",
        "--no-tensorboard",
        *extra,
    ]
    return main([str(a) for a in args])


def test_la_then_lt(data, tmp_path):
    assert _run("la", data, tmp_path / "la", 3) == 0
    assert _run("lt", data, tmp_path / "lt", 3, "--la", tmp_path / "la") == 0
    ck = load_checkpoint(tmp_path / "lt")
    assert ck["step"] == 3 and "val/lt_landmark_l1" in ck["metrics"]
    assert ck["val_identities"] and (tmp_path / "lt" / "curves.png").is_file()


def test_lt_without_la_is_refused(data, tmp_path, capsys):
    assert _run("lt", data, tmp_path / "lt", 2) == 2
    assert "needs a trained La" in capsys.readouterr().err


@pytest.mark.parametrize("stage", ["gr", "gb", "joint"])
def test_image_stages_write_samples(stage, data, tmp_path):
    assert _run(stage, data, tmp_path / stage, 2) == 0
    assert list((tmp_path / stage / "samples").glob("*.png"))
    assert load_checkpoint(tmp_path / stage)["metrics"]


def test_resume_is_exact(data, tmp_path):
    assert _run("gr", data, tmp_path / "straight", 4) == 0
    assert _run("gr", data, tmp_path / "split", 2) == 0
    assert _run("gr", data, tmp_path / "split", 4, "--resume", tmp_path / "split" / "checkpoint.pt") == 0
    a, b = load_checkpoint(tmp_path / "straight"), load_checkpoint(tmp_path / "split")
    assert b["step"] == 4
    for net in a["models"]:
        for k, v in a["models"][net].items():
            assert torch.equal(v, b["models"][net][k]), f"{net}.{k} differs after resume"


def test_resume_with_another_config_names_the_field(data, tmp_path, capsys):
    assert _run("gr", data, tmp_path / "r", 1) == 0
    code = main(
        [
            "gr",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "r2"),
            "--config",
            "lite",
            "--size",
            "32",
            "--steps",
            "2",
            "--no-tensorboard",
            "--resume",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "config differs" in err and "gr.unet.widths" in err


def test_nan_loss_stops_with_batch_saved(tmp_path, capsys):
    root = write_synthetic_dataset(tmp_path / "ds", n_tracks=2, frames=3, size=32, seed=0)
    for t in ("synth000", "synth001"):
        p = root / "tracks" / t / "meta.npz"
        m = dict(np.load(p))
        m["aus"][:] = np.nan
        np.savez(p, **m)
    assert _run("la", root, tmp_path / "run", 3) == 2
    assert "non-finite loss" in capsys.readouterr().err
    saved = list((tmp_path / "run").glob("nan_step*.pt"))
    assert saved and torch.load(saved[0], weights_only=False)["step"] == 0


def test_missing_dataset_is_reported(tmp_path, capsys):
    assert _run("la", tmp_path / "none", tmp_path / "run", 1) == 2
    assert "does not exist" in capsys.readouterr().err


def test_random_window_moves_landmarks_with_the_pixels():
    from training.data.dataset import PairBatch, random_window

    s, patch, n = 32, 16, 3
    img = torch.zeros(n, 3, s, s)
    lm = torch.zeros(n, 478, 2)
    for i, (x, y) in enumerate([(10, 20), (5, 5), (25, 12)]):
        img[i, :, y, x] = 1.0
        lm[i, :] = torch.tensor([(x + 0.5) / s * 2 - 1, (y + 0.5) / s * 2 - 1])
    seg = torch.zeros(n, s, s, dtype=torch.long)
    b = PairBatch(lm, lm.clone(), torch.zeros(n, 20), torch.zeros(n, 20), img, img.clone(), seg, seg.clone())
    for seed in range(5):
        w = random_window(b, patch, np.random.default_rng(seed))
        assert w.src.shape == (n, 3, patch, patch) and w.seg_d.shape == (n, patch, patch)
        for i in range(n):
            px = (w.ld[i, 0] + 1) / 2 * patch - 0.5  # the landmark in window pixels
            inside = bool(((px >= 0) & (px < patch)).all())
            assert inside == bool(w.drv[i].sum() > 0)
            if inside:
                x, y = round(px[0].item()), round(px[1].item())
                assert w.drv[i, 0, y, x] == 1.0


def test_patch_training_runs(data, tmp_path):
    assert _run("joint", data, tmp_path / "j", 2, "--patch", "16") == 0


def test_resume_may_change_the_learning_rate_and_clipping(data, tmp_path):
    """How the run is driven (lr, D's lr, gradient clipping) may change on resume; the optimiser takes the new lr."""
    assert _run("gr", data, tmp_path / "r", 2) == 0
    assert (
        _run("gr", data, tmp_path / "r", 3, "--resume", tmp_path / "r", "--lr", "5e-5", "--grad-clip", "1")
        == 0
    )
    ck = load_checkpoint(tmp_path / "r")
    assert ck["step"] == 3 and ck["config"].lr == 5e-5 and ck["config"].grad_clip == 1.0
    assert ck["optims"]["g"]["param_groups"][0]["lr"] == 5e-5


def test_warp_no_flip_no_stills_options(data, tmp_path):
    assert _run("gr", data, tmp_path / "w", 2, "--warp", "--no-flip", "--no-stills") == 0
    ck = load_checkpoint(tmp_path / "w")
    cfg = ck["config"]
    assert cfg.gr.warp and cfg.aug.flip == 0.0 and not cfg.stills
    assert "val/warp_only_face_mse" in ck["metrics"] and "val/copy_source_face_mse" in ck["metrics"]


def test_window_keeps_heatmap_and_flow_widths_on_the_face():
    """A 16-px window of a 32-px crop spans half the crop: Gr's Ht drawn in the window with extent 0.5 equals the
    window cut from Ht drawn on the whole crop (the splats cover the same part of the face)."""
    from training.data.dataset import random_window
    from training.models.gr import draw_heatmap

    g = torch.Generator().manual_seed(0)
    n = 2
    lm = (torch.rand(n, 478, 2, generator=g) - 0.5) * 0.8
    img = torch.rand(n, 3, 32, 32, generator=g)
    seg = torch.zeros(n, 32, 32, dtype=torch.long)
    from training.data.dataset import PairBatch

    b = PairBatch(lm, lm, torch.zeros(n, 20), torch.zeros(n, 20), img, img, seg, seg)
    w = random_window(b, 16, np.random.default_rng(3))
    assert w.extent == 0.5
    sigma = 2.0 / 32
    whole = draw_heatmap(lm, 32, sigma)
    win = draw_heatmap(w.ld, 16, sigma / w.extent)
    for i in range(n):  # find the window's offset from its pixels
        hit = [
            (y, x)
            for y in range(17)
            for x in range(17)
            if torch.equal(img[i, :, y : y + 16, x : x + 16], w.src[i])
        ]
        y, x = hit[0]
        assert torch.allclose(win[i], whole[i, :, y : y + 16, x : x + 16], atol=1e-5)


def test_best_checkpoint_holds_the_lowest_validation_metric(data, tmp_path):
    assert _run("gr", data, tmp_path / "b", 6) == 0
    best = load_checkpoint(tmp_path / "b" / "best.pt")
    seen = [
        h["val/gr_face_mse"] for h in load_checkpoint(tmp_path / "b")["history"] if "val/gr_face_mse" in h
    ]
    assert len(seen) == 3 and best["metrics"]["val/gr_face_mse"] == min(seen)


def test_joint_with_detached_segmentation(data, tmp_path):
    assert _run("joint", data, tmp_path / "j", 2, "--warp", "--detach-seg") == 0
    cfg = load_checkpoint(tmp_path / "j")["config"]
    assert cfg.detach_seg and cfg.gr.warp
