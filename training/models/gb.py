"""Background mixer Gb (FACEGAN section 3.3): U-Net on (reenacted face, source background Ib) -> Ic, M; eq. 9."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn

from training.models.unet import UNet, UNetConfig, unet_preset


@dataclass(frozen=True)
class GbConfig:
    """Gb: face (B,3,S,S), background (B,3,S,S) -> image Ir (B,3,S,S), mask M (B,1,S,S)."""

    unet: UNetConfig = field(default_factory=lambda: UNetConfig(in_channels=6, out_channels=4))
    """The U-Net body: 6 inputs (face RGB + background RGB), 4 outputs (Ic logits + mask logit)."""


class BackgroundMixer(nn.Module):
    def __init__(self, cfg: GbConfig) -> None:
        super().__init__()
        if cfg.unet.in_channels != 6 or cfg.unet.out_channels != 4:
            raise ValueError("GbConfig.unet must have in_channels=6 and out_channels=4")
        self.cfg = cfg
        self.unet = UNet(cfg.unet)

    def forward(self, face: torch.Tensor, background: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # face = Ifr * (hair + face prob), background = Ib: (B, 3, S, S) in [0, 1]
        out = self.unet(torch.cat([face * 2 - 1, background * 2 - 1], dim=1))  # (B, 4, S, S)
        ic = torch.sigmoid(out[:, :3])  # Ic, (B, 3, S, S)
        mask = torch.sigmoid(out[:, 3:4])  # M, (B, 1, S, S)
        image = mask * ic + (1 - mask) * background  # eq. 9: Ir = M * Ic + (1 - M) * Ib
        return image, mask


def gb_config(variant: str) -> GbConfig:
    return GbConfig(unet=replace(unet_preset(variant, "Gb"), in_channels=6, out_channels=4))


def gb_lite() -> BackgroundMixer:
    return BackgroundMixer(gb_config("lite"))


def gb_full() -> BackgroundMixer:
    return BackgroundMixer(gb_config("full"))
