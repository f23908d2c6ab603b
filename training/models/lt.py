"""Landmark transformer LT and AU regressor La (FACEGAN section 3.1): two MLPs over normalised landmarks."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from realtime.face.topology import NUM_LANDMARKS

AUD_DIM = 20  # 17 AU intensities + yaw, pitch, roll / 90 (CONTRACTS.md section 1)


@dataclass(frozen=True)
class LTConfig:
    """LT: (ls, AUd) -> lt = ls + dls."""

    num_landmarks: int = NUM_LANDMARKS
    """Mesh points (the full refined MediaPipe mesh; see the model card for why not 68)."""
    aud_dim: int = AUD_DIM
    """Driving vector length."""
    hidden: int = 1024
    """Width of the hidden layers."""
    layers: int = 3
    """Hidden layers."""


@dataclass(frozen=True)
class LaConfig:
    """La: landmarks -> AUd, used frozen inside the AU-consistency loss of LT (eq. 3)."""

    num_landmarks: int = NUM_LANDMARKS
    """Mesh points."""
    aud_dim: int = AUD_DIM
    """Driving vector length."""
    hidden: int = 512
    """Width of the hidden layers."""
    layers: int = 3
    """Hidden layers."""


def _mlp(din: int, hidden: int, layers: int, dout: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(din if i == 0 else hidden, hidden), nn.LeakyReLU(0.2)]
    mods.append(nn.Linear(hidden, dout))
    return nn.Sequential(*mods)


class LandmarkTransformer(nn.Module):
    def __init__(self, cfg: LTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n = cfg.num_landmarks * 2
        self.mlp = _mlp(n + cfg.aud_dim, cfg.hidden, cfg.layers, n)
        # Start at dls = 0 (lt = ls): the identity map is the right prior for a residual.
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, ls: torch.Tensor, aud: torch.Tensor) -> torch.Tensor:
        # ls: (B, N, 2) normalised; aud: (B, 20)
        b = ls.shape[0]
        dls = self.mlp(torch.cat([ls.reshape(b, -1), aud], dim=1))  # (B, 2N)
        return ls + dls.reshape(b, -1, 2)  # lt = ls + dls, (B, N, 2)


class AURegressor(nn.Module):
    def __init__(self, cfg: LaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mlp = _mlp(cfg.num_landmarks * 2, cfg.hidden, cfg.layers, cfg.aud_dim)

    def forward(self, landmarks: torch.Tensor) -> torch.Tensor:
        # landmarks: (B, N, 2) -> (B, 20). Centred per sample so La reads shape, not placement.
        centred = landmarks - landmarks.mean(dim=1, keepdim=True)
        return self.mlp(centred.reshape(landmarks.shape[0], -1))
