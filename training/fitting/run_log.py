"""What a training run writes beside its checkpoints: sample grids (source | driving | output) and loss curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def save_grid(path: Path, sample: tuple[torch.Tensor, ...]) -> None:
    """PNG grid, one row per pair: source | driving | output."""
    import cv2

    rows = [torch.cat([t[i] for t in sample], dim=2) for i in range(sample[0].shape[0])]  # (3, S, 3S)
    grid = (torch.cat(rows, dim=1).permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def save_curves(path: Path, history: list[dict[str, float]]) -> None:
    try:
        import matplotlib
    except ImportError:  # e.g. a bare GPU machine: curves stay in TensorBoard / the checkpoint history
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for h in history for k in h if k != "step"})
    if not keys:
        return
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 1.8 * len(keys)), squeeze=False)
    for ax, k in zip(axes[:, 0], keys, strict=True):
        pts = [(h["step"], h[k]) for h in history if k in h]
        ax.plot([p[0] for p in pts], [p[1] for p in pts])
        ax.set_ylabel(k, fontsize=7)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
