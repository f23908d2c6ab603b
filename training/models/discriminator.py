"""Multi-scale PatchGAN discriminator (eqs. 6, 7, 10): returns every layer's features for feature matching."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DiscConfig:
    in_channels: int = 3
    """Image channels (+1 when conditioned on the heatmap Ht)."""
    width: int = 64
    """Channels of the first layer (doubled per stride-2 layer, capped at 8x)."""
    layers: int = 3
    """Stride-2 layers per scale."""
    scales: int = 2
    """Image scales (full, 1/2, ...): the paper's multi-scale adversarial loss."""


class PatchDiscriminator(nn.Module):
    def __init__(self, cfg: DiscConfig) -> None:
        super().__init__()
        ch, mods = cfg.in_channels, nn.ModuleList()
        for i in range(cfg.layers):
            out = cfg.width * min(2**i, 8)
            # Spectral norm keeps D Lipschitz without batch statistics (stable with small batches).
            mods.append(nn.Sequential(nn.utils.spectral_norm(nn.Conv2d(ch, out, 4, 2, 1)), nn.LeakyReLU(0.2)))
            ch = out
        mods.append(nn.Sequential(nn.utils.spectral_norm(nn.Conv2d(ch, ch, 3, 1, 1)), nn.LeakyReLU(0.2)))
        mods.append(nn.Conv2d(ch, 1, 3, 1, 1))
        self.layers = mods

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats  # last item: patch logits (B, 1, h, w)


class MultiScaleDiscriminator(nn.Module):
    def __init__(self, cfg: DiscConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.discs = nn.ModuleList([PatchDiscriminator(cfg) for _ in range(cfg.scales)])

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        # x: (B, C, S, S) -> per scale, the list of features (last = logits)
        outs = []
        for i, d in enumerate(self.discs):
            outs.append(d(x if i == 0 else F.avg_pool2d(x, 2**i)))
        return outs


def disc_config(variant: str, in_channels: int) -> DiscConfig:
    # lite: width 16 because on the 2-core CPU the discriminator calls cost more than Gr itself.
    widths = {"tiny": (8, 2), "lite": (16, 2), "full": (64, 3)}
    if variant not in widths:
        raise ValueError(f"unknown discriminator variant {variant!r}; choose one of {sorted(widths)}")
    w, s = widths[variant]
    return DiscConfig(in_channels=in_channels, width=w, layers=3, scales=s)
