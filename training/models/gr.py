"""Face reenactor Gr (FACEGAN section 3.2): U-Net on (source crop, heatmap Ht of lt) -> face Ifr + segmentation."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from realtime.face.topology import HEATMAP_POINTS
from training.models.unet import UNet, UNetConfig


@dataclass(frozen=True)
class GrConfig:
    """Gr: source (B,3,S,S) + landmarks (B,478,2) -> face (B,3,S,S), seg (B,3,S,S)."""

    unet: UNetConfig = field(
        default_factory=lambda: UNetConfig(in_channels=3, side_channels=1, out_channels=6)
    )
    """The U-Net: RGB in, Ht as the side input at the body's resolution, 6 outputs (RGB + 3 segmentation logits)."""
    sigma: float = 1.5 / 128
    """Gaussian splat width in normalised units (1.5 px at 128, 3 px at 256: scales with the image)."""


def draw_heatmap(landmarks: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """Ht: Gaussian splats of HEATMAP_POINTS, summed and clamped to 1.

    Separable Gaussians: the sum over points of gy(y) * gx(x) is a matrix product of the per-point y and x
    profiles, so the graph is MatMul + Exp only (exports to ONNX, runs on any device, no scatter).
    """
    idx = torch.tensor(HEATMAP_POINTS, device=landmarks.device)
    pts = landmarks.index_select(1, idx)  # (B, P, 2)
    # float32 Range then Cast: ONNX Runtime has no fp16 Range kernel (matters for the fp16 export).
    grid = ((torch.arange(size, device=landmarks.device, dtype=torch.float32) + 0.5) / size * 2 - 1).to(
        landmarks.dtype
    )
    inv = -0.5 / (sigma * sigma)
    gx = torch.exp(inv * (grid.view(1, 1, -1) - pts[..., 0:1]) ** 2)  # (B, P, S)
    gy = torch.exp(inv * (grid.view(1, 1, -1) - pts[..., 1:2]) ** 2)  # (B, P, S)
    ht = torch.matmul(gy.transpose(1, 2), gx)  # (B, S, S): rows y, columns x
    return ht.clamp(max=1.0).unsqueeze(1)  # (B, 1, S, S)


def channel_softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over dim 1 written out: ONNX Runtime's Softmax on a non-last axis transposes the whole image
    twice (20% of the lite Gr's CPU time); this form is element-wise ops and one ReduceMax / ReduceSum."""
    e = torch.exp(x - x.amax(dim=1, keepdim=True))
    return e / e.sum(dim=1, keepdim=True)


class FaceReenactor(nn.Module):
    def __init__(self, cfg: GrConfig) -> None:
        super().__init__()
        u = cfg.unet
        if u.in_channels != 3 or u.side_channels != 1 or u.out_channels != 6:
            raise ValueError("GrConfig.unet must have in_channels=3, side_channels=1 (Ht), out_channels=6")
        self.cfg = cfg
        self.unet = UNet(cfg.unet)

    def _logits(self, source: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # source: (B, 3, S, S) in [0, 1]; landmarks: (B, 478, 2) in [-1, 1]
        # Ht is drawn at the body's resolution S/f: nothing heatmap-sized runs at S when f > 1.
        ht = draw_heatmap(landmarks, source.shape[-1] // self.cfg.unet.space_to_depth, self.cfg.sigma)
        return self.unet(source * 2 - 1, ht), ht  # (B, 6, S, S), (B, 1, S/f, S/f)

    def forward(self, source: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, _ = self._logits(source, landmarks)
        face = torch.sigmoid(out[:, :3])  # Ifr, (B, 3, S, S)
        seg = channel_softmax(out[:, 3:])  # (background, hair, face), (B, 3, S, S)
        return face, seg

    def forward_logits(self, source: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Training form: face, segmentation logits (for cross-entropy, eq. 8) and Ht at (B, 1, S, S) for D."""
        out, ht = self._logits(source, landmarks)
        if ht.shape[-1] != source.shape[-1]:
            ht = draw_heatmap(landmarks, source.shape[-1], self.cfg.sigma)
        return torch.sigmoid(out[:, :3]), out[:, 3:], ht


# lite: the body runs at S/2 (PixelUnshuffle in, PixelShuffle out), add-skips, depthwise-separable below 1/4 of
# the body; nothing but the (un)shuffles and output activations at full resolution (CPU time is memory traffic).
LITE_UNET = {
    "widths": (24, 48, 96, 160),
    "blocks": (
        0,
        1,
        2,
        2,
    ),  # 0: level 0 is the stem alone in the encoder and nothing but the sum in the decoder
    "separable_from": 2,
    "norm": "batch",
    "space_to_depth": 2,
    "skip": "add",
}
# full: ~7.9M parameters per net, so Gr + Gb in fp16 (~31 MB) fit the 64 MiB that may travel to a GPU machine.
FULL_UNET = {
    "widths": (32, 64, 128, 256, 256, 256),
    "blocks": (2,) * 6,
    "separable_from": 99,
    "norm": "batch",
}
TINY_UNET = {"widths": (8, 8, 16), "blocks": (1, 1, 1), "separable_from": 99, "norm": "batch"}


def gr_config(variant: str) -> GrConfig:
    """Named sizes from one code path: tiny (tests), lite (CPU real time), full (GPU)."""
    presets = {"tiny": TINY_UNET, "lite": LITE_UNET, "full": FULL_UNET}
    if variant not in presets:
        raise ValueError(f"unknown Gr variant {variant!r}; choose one of {sorted(presets)}")
    return GrConfig(unet=UNetConfig(in_channels=3, side_channels=1, out_channels=6, **presets[variant]))  # type: ignore[arg-type]


def gr_lite() -> FaceReenactor:
    return FaceReenactor(gr_config("lite"))


def gr_full() -> FaceReenactor:
    return FaceReenactor(gr_config("full"))
