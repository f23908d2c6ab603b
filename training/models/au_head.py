"""The AU head: a small MLP from pose-free mesh features (realtime.face.au_head.au_features) to 17 AUs.

Distilled from the Face Landmarker teacher by training/au/distill.py and shipped as realtime/weights/au_head.onnx.
Feature standardisation (mean, std over the training set) lives inside the module as buffers, so the
exported graph takes the raw features that `au_features` produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

NUM_FEATURES = 478 * 3
NUM_AUS = 17


@dataclass(frozen=True)
class AUHeadConfig:
    """Shape of the AU head."""

    num_features: int = NUM_FEATURES
    """Input length: 478 mesh points x (x, y, z) in the mean face's frontal frame, minus the mean face."""
    num_aus: int = NUM_AUS
    """Outputs: the 17 AUs in AU_ORDER."""
    hidden: int = 512
    """Width of the hidden layers."""
    layers: int = 2
    """Number of hidden layers."""
    dropout: float = 0.1
    """Dropout after each hidden layer (training only)."""


class AUHeadNet(nn.Module):
    """(B, num_features) raw features -> (B, num_aus) AU intensities (unclipped; run time clips to [0, 1])."""

    def __init__(self, cfg: AUHeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("feat_mean", torch.zeros(cfg.num_features))
        self.register_buffer("feat_std", torch.ones(cfg.num_features))
        mods: list[nn.Module] = []
        din = cfg.num_features
        for _ in range(cfg.layers):
            mods += [nn.Linear(din, cfg.hidden), nn.GELU(), nn.Dropout(cfg.dropout)]
            din = cfg.hidden
        mods.append(nn.Linear(din, cfg.num_aus))
        self.mlp = nn.Sequential(*mods)

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the training set's feature statistics; std is floored so constant features stay finite."""
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(std.clamp_min(1e-4))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = (features - self.feat_mean) / self.feat_std  # (B, F)
        return self.mlp(x)  # (B, 17)
