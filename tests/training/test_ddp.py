"""Data-parallel training through torchrun: 2 processes, gloo backend, CPU, tiny config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from _synthetic_dataset import write_synthetic_dataset

from training.fitting.train import load_checkpoint

REPO = Path(__file__).resolve().parents[2]


def test_two_process_gloo_training(tmp_path):
    data = write_synthetic_dataset(tmp_path / "ds", n_tracks=4, frames=4, size=32, seed=0)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "training.fitting.train",
        "gr",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "run"),
        "--config",
        "tiny",
        "--size",
        "32",
        "--steps",
        "2",
        "--val-every",
        "2",
        "--val-pairs",
        "4",
        "--device",
        "cpu",
        "--no-tensorboard",
        "--threads",
        "1",
    ]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    ck = load_checkpoint(tmp_path / "run")
    assert ck["world_size"] == 2 and ck["step"] == 2
    assert all(torch.isfinite(v).all() for v in ck["models"]["gr"].values() if v.is_floating_point())
