"""Shared U-Net building blocks for Gr and Gb (one code path, two sizes: lite and full)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

Norm = Literal["none", "batch", "group"]


@dataclass(frozen=True)
class UNetConfig:
    """A U-Net: `widths[i]` channels at 1/2**i of the input size."""

    in_channels: int = 4
    """Input channels (Gr: RGB + heatmap = 4; Gb: face RGB + background RGB = 6)."""
    out_channels: int = 6
    """Raw output channels; the owning network splits and activates them."""
    widths: tuple[int, ...] = (16, 32, 64, 128, 128)
    """Channels per resolution level, from full resolution down."""
    blocks: tuple[int, ...] = (1, 1, 2, 2, 2)
    """3x3 convolutions per level in the encoder (the decoder uses the same count)."""
    separable_from: int = 99
    """Levels >= this use depthwise-separable convolutions (cheap on CPU); 99 = never."""
    norm: Norm = "batch"
    """BatchNorm folds into the convolution in ONNX Runtime, so it is free at inference."""


def _norm(kind: Norm, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "group":
        return nn.GroupNorm(min(8, ch), ch)
    return nn.Identity()


def conv_block(cin: int, cout: int, norm: Norm, separable: bool, stride: int = 1) -> nn.Sequential:
    """3x3 conv (or depthwise 3x3 + pointwise 1x1) -> norm -> LeakyReLU."""
    if separable and cin == cout:
        conv: nn.Module = nn.Sequential(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
            nn.Conv2d(cin, cout, 1, bias=norm == "none"),
        )
    else:
        conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=norm == "none")
    return nn.Sequential(conv, _norm(norm, cout), nn.LeakyReLU(0.2, inplace=True))


class UNet(nn.Module):
    """Encoder with stride-2 convolutions, decoder with nearest upsampling and skip concatenation."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        if len(cfg.widths) != len(cfg.blocks):
            raise ValueError("UNetConfig: widths and blocks must have the same length")
        self.cfg = cfg
        w = cfg.widths
        self.stem = conv_block(cfg.in_channels, w[0], cfg.norm, separable=False)
        self.down = nn.ModuleList()
        self.enc = nn.ModuleList()
        for i, ch in enumerate(w):
            sep = i >= cfg.separable_from
            self.down.append(nn.Identity() if i == 0 else conv_block(w[i - 1], ch, cfg.norm, False, stride=2))
            self.enc.append(
                nn.Sequential(*[conv_block(ch, ch, cfg.norm, sep) for _ in range(cfg.blocks[i] - 1)])
            )
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.dec = nn.ModuleList()
        for i in range(len(w) - 2, -1, -1):
            sep = i >= cfg.separable_from
            layers = [conv_block(w[i + 1] + w[i], w[i], cfg.norm, False)]
            layers += [conv_block(w[i], w[i], cfg.norm, sep) for _ in range(cfg.blocks[i] - 1)]
            self.dec.append(nn.Sequential(*layers))
        self.head = nn.Conv2d(w[0], cfg.out_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, Cin, S, S) with S divisible by 2 ** (levels - 1)
        h = self.stem(x)
        skips = []
        for down, enc in zip(self.down, self.enc, strict=True):
            h = enc(down(h))
            skips.append(h)  # (B, w[i], S / 2**i, S / 2**i)
        h = skips.pop()
        for dec in self.dec:
            h = dec(torch.cat([self.up(h), skips.pop()], dim=1))
        return self.head(h)  # (B, Cout, S, S)

    @property
    def min_size_multiple(self) -> int:
        return 2 ** (len(self.cfg.widths) - 1)
