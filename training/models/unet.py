"""Shared U-Net building blocks for Gr and Gb (one code path, several sizes: tiny, lite and full)."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from engines.spec import Variant

Norm = Literal["none", "batch", "group"]
Skip = Literal["concat", "add"]
ModelVariant = Literal["tiny", Variant]
"""Named network sizes: the shipped ones (engines.spec.Variant: lite for CPUs, full for GPUs) and tiny, for tests."""
MODEL_VARIANTS: tuple[ModelVariant, ...] = typing.get_args(ModelVariant)


@dataclass(frozen=True)
class UNetConfig:
    """A U-Net whose body runs at 1/`space_to_depth` of the image size: `widths[i]` channels at 1/2**i of that."""

    in_channels: int = 4
    """Image-resolution input channels (Gr: RGB = 3 plus the heatmap side input; Gb: face + background = 6)."""
    out_channels: int = 6
    """Raw image-resolution output channels; the owning network splits and activates them."""
    widths: tuple[int, ...] = (16, 32, 64, 128, 128)
    """Channels per body level, from the body's full resolution down."""
    blocks: tuple[int, ...] = (1, 1, 2, 2, 2)
    """3x3 convolutions per level in the encoder (the decoder uses the same count; the stem is level 0's first)."""
    separable_from: int = 99
    """Levels >= this use depthwise-separable convolutions (cheap on CPU); 99 = never."""
    norm: Norm = "batch"
    """BatchNorm folds into the convolution in ONNX Runtime, so it is free at inference."""
    space_to_depth: int = 1
    """f > 1: a (2f x 2f, stride f) convolution stem in, PixelShuffle(f) out, so the body runs at S/f. On a 2-core
    CPU the time of a U-Net goes to memory traffic of full-resolution activations, not to FLOPs: the lite nets
    run nothing but the stem, the shuffle and the output activations at full resolution."""
    side_channels: int = 0
    """Extra input channels concatenated at the body's resolution (Gr's heatmap, drawn directly at S/f)."""
    skip: Skip = "concat"
    """Decoder merge: `concat` (classic U-Net) or `add` (a 1x1 projection at the coarse level, nearest upsampling,
    sum: no concat and no wide 3x3 convolution at the fine level)."""


# lite: the body runs at S/2 (PixelUnshuffle in, PixelShuffle out), add-skips, depthwise-separable below 1/4 of
# the body; nothing but the (un)shuffles and output activations at full resolution (CPU time is memory traffic).
LITE_UNET = UNetConfig(
    widths=(24, 48, 96, 160),
    blocks=(0, 1, 2, 2),  # 0: level 0 is the stem alone in the encoder and nothing but the sum in the decoder
    separable_from=2,
    norm="batch",
    space_to_depth=2,
    skip="add",
)
# full: ~7.9M parameters per net, so Gr + Gb in fp16 (~31 MB) fit the 64 MiB that may travel to a GPU machine.
FULL_UNET = UNetConfig(widths=(32, 64, 128, 256, 256, 256), blocks=(2,) * 6, separable_from=99, norm="batch")
TINY_UNET = UNetConfig(widths=(8, 8, 16), blocks=(1, 1, 1), separable_from=99, norm="batch")
UNET_PRESETS: dict[ModelVariant, UNetConfig] = {"tiny": TINY_UNET, "lite": LITE_UNET, "full": FULL_UNET}
"""The U-Net body of each size; Gr and Gb set its input and output channels (gr_config, gb_config)."""


def unet_preset(variant: str, net: str) -> UNetConfig:
    """The preset body for `variant`, refused with the choices when unknown (`net` names the caller)."""
    if variant not in UNET_PRESETS:
        raise ValueError(f"unknown {net} variant {variant!r}; choose one of {sorted(UNET_PRESETS)}")
    return UNET_PRESETS[variant]  # type: ignore[index]


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


class StridedStem(nn.Module):
    """Image (B, Cin, S, S) -> (B, w0, S/f, S/f) in one strided convolution, plus the side input (already at S/f)
    through its own 3x3 convolution, summed: the same as a convolution of the concatenation, without a concat."""

    def __init__(self, cin: int, side: int, cout: int, f: int, norm: Norm) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 2 * f, f, f // 2, bias=norm == "none")
        self.side = nn.Conv2d(side, cout, 3, 1, 1, bias=False) if side else None
        self.act = nn.Sequential(_norm(norm, cout), nn.LeakyReLU(0.2, inplace=True))

    def forward(self, x: torch.Tensor, side: torch.Tensor | None) -> torch.Tensor:
        h = self.conv(x)
        if self.side is not None:
            if side is None:
                raise ValueError("this U-Net needs its side input")
            h = h + self.side(side)
        return self.act(h)


class UNet(nn.Module):
    """Encoder with stride-2 convolutions, decoder with nearest upsampling and skip concatenation or sum."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        if len(cfg.widths) != len(cfg.blocks):
            raise ValueError("UNetConfig: widths and blocks must have the same length")
        if cfg.space_to_depth < 1:
            raise ValueError("UNetConfig: space_to_depth must be >= 1")
        self.cfg = cfg
        w, f = cfg.widths, cfg.space_to_depth
        if f > 1:
            self.stem: nn.Module = StridedStem(cfg.in_channels, cfg.side_channels, w[0], f, cfg.norm)
        else:
            self.stem = conv_block(cfg.in_channels + cfg.side_channels, w[0], cfg.norm, separable=False)
        self.down = nn.ModuleList()
        self.enc = nn.ModuleList()
        for i, ch in enumerate(w):
            sep = i >= cfg.separable_from
            self.down.append(nn.Identity() if i == 0 else conv_block(w[i - 1], ch, cfg.norm, False, stride=2))
            self.enc.append(
                nn.Sequential(*[conv_block(ch, ch, cfg.norm, sep) for _ in range(cfg.blocks[i] - 1)])
            )
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.proj = nn.ModuleList()  # add-skips: 1x1 projections w[i+1] -> w[i] at the coarse level
        self.dec = nn.ModuleList()
        for i in range(len(w) - 2, -1, -1):
            sep = i >= cfg.separable_from
            if cfg.skip == "add":
                self.proj.append(nn.Conv2d(w[i + 1], w[i], 1))
                layers = [conv_block(w[i], w[i], cfg.norm, sep) for _ in range(cfg.blocks[i])]
            else:
                layers = [conv_block(w[i + 1] + w[i], w[i], cfg.norm, False)]
                layers += [conv_block(w[i], w[i], cfg.norm, sep) for _ in range(cfg.blocks[i] - 1)]
            self.dec.append(nn.Sequential(*layers))
        self.head = nn.Conv2d(w[0], cfg.out_channels * f * f, 3, 1, 1)
        self.shuffle = nn.PixelShuffle(f) if f > 1 else nn.Identity()

    def forward(self, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, Cin, S, S); side: (B, side_channels, S/f, S/f); S divisible by min_size_multiple
        if self.cfg.space_to_depth > 1:
            h = self.stem(x, side)  # (B, w[0], S/f, S/f)
        else:
            h = self.stem(x if side is None else torch.cat([x, side], dim=1))
        skips = []
        for down, enc in zip(self.down, self.enc, strict=True):
            h = enc(down(h))
            skips.append(h)  # (B, w[i], S/f/2**i, S/f/2**i)
        h = skips.pop()
        if self.cfg.skip == "add":
            for proj, dec in zip(self.proj, self.dec, strict=True):
                h = dec(self.up(proj(h)) + skips.pop())
        else:
            for dec in self.dec:
                h = dec(torch.cat([self.up(h), skips.pop()], dim=1))
        return self.shuffle(self.head(h))  # (B, Cout, S, S)

    @property
    def min_size_multiple(self) -> int:
        return self.cfg.space_to_depth * 2 ** (len(self.cfg.widths) - 1)
