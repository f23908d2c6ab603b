"""The eye painter: a small U-Net over one eye's window (realtime.render.eyes) that paints what the mesh flow
cannot draw when an eye closes or opens, and says where (a blend alpha).

Input (B, 7, 48, 96): the warped output's window, the photo's own eye window, the target eye's outline mask.
Output (B, 4, 48, 96): RGB in [0, 1] and alpha in [0, 1]; the picture is alpha * RGB + (1 - alpha) * warped.
Three scales (48x96 -> 24x48 -> 12x24), about 0.2 M parameters: a few milliseconds for both eyes on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class EyePainterConfig:
    """Shape of the eye painter."""

    in_channels: int = 7
    """warped window (3), the photo's eye window (3), the target eye's outline mask (1)."""
    width: int = 24
    """Channels at full resolution; x2 at each of the two lower scales."""


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.LeakyReLU(0.2),
    )


class EyePainterNet(nn.Module):
    """(B, 7, H, W) -> (B, 4, H, W): RGB then alpha, each through a sigmoid. H and W divisible by 4."""

    def __init__(self, cfg: EyePainterConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.enc1 = _block(cfg.in_channels, w)  # (B, w, H, W)
        self.enc2 = _block(w, 2 * w, stride=2)  # (B, 2w, H/2, W/2)
        self.enc3 = _block(2 * w, 4 * w, stride=2)  # (B, 4w, H/4, W/4)
        self.up2 = nn.Sequential(
            nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(4 * w, 2 * w, 3, padding=1)
        )
        self.dec2 = _block(4 * w, 2 * w)
        self.up1 = nn.Sequential(
            nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(2 * w, w, 3, padding=1)
        )
        self.dec1 = _block(2 * w, w)
        self.head = nn.Conv2d(w, 4, 3, padding=1)
        with torch.no_grad():  # start from "paint nothing": alpha about 0.05 everywhere
            self.head.bias[3].fill_(-3.0)

    def forward(self, eyes: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(eyes)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([self.up2(e3), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return torch.sigmoid(self.head(d1))  # (B, 4, H, W)


def composite(paint: torch.Tensor, warped: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W): the painted window as run time pastes it, alpha * RGB + (1 - alpha) * warped."""
    alpha = paint[:, 3:4]
    return alpha * paint[:, :3] + (1.0 - alpha) * warped
