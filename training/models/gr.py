"""Face reenactor Gr (FACEGAN section 3.2): U-Net on (source crop, heatmap Ht of lt) -> face Ifr + segmentation."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from realtime.face.topology import HEATMAP_POINTS
from training.models.unet import UNet, UNetConfig, unet_preset


@dataclass(frozen=True)
class GrConfig:
    """Gr: source (B,3,S,S) + landmarks (B,478,2) -> face (B,3,S,S), seg (B,3,S,S)."""

    unet: UNetConfig = field(
        default_factory=lambda: UNetConfig(in_channels=3, side_channels=1, out_channels=6)
    )
    """The U-Net: RGB in, Ht as the side input at the body's resolution, 6 outputs (RGB + 3 segmentation logits)."""
    sigma: float = 1.5 / 128
    """Gaussian splat width in normalised units (1.5 px at 128, 3 px at 256: scales with the image)."""
    warp: bool = False
    """Warping step (issue 3's data-efficiency question): the source is resampled along a dense flow interpolated
    from the landmark displacements ls -> lt, and Gr blends that warped source with its own synthesis through a
    predicted mask. Needs the source landmarks as a third input; the U-Net then has 6 inputs (source, warped)
    and 7 outputs (RGB, 3 segmentation logits, blend logit)."""
    flow_sigma: float = 0.04
    """Width of the local interpolation kernel of the flow, normalised units (~5 px at 256).

    Judged on held-out people (docs/TRAINING.md section 6): narrower kernels keep the lips' and eyelids' own
    motion apart. A lite Gr trained with sigma 0.1 / wide 0.15 and merely exported with 0.04 / 0.1 already moved
    expression distance ED 0.94 -> 0.79 and PSIM 0.54 -> 0.61 at equal MSE, and the warp alone scores masked
    face MSE 0.00626 vs 0.00681 on the trainer's 256x256 validation pairs."""
    flow_wide: float = 0.1
    """Width of the wide kernel that carries the landmarks' motion out to hair and background."""
    flow_wide_weight: float = 0.05
    """How much the wide kernel counts against the local one (small: it only matters away from the mesh)."""


def _grid(size: int, like: torch.Tensor) -> torch.Tensor:
    """Pixel centres in normalised units, (size,); float32 Range then Cast (no fp16 Range kernel in ORT)."""
    g = (torch.arange(size, device=like.device, dtype=torch.float32) + 0.5) / size * 2 - 1
    return g.to(like.dtype)


def draw_heatmap(landmarks: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """Ht: Gaussian splats of HEATMAP_POINTS, summed and clamped to 1.

    Separable Gaussians: the sum over points of gy(y) * gx(x) is a matrix product of the per-point y and x
    profiles, so the graph is MatMul + Exp only (exports to ONNX, runs on any device, no scatter).
    """
    idx = torch.tensor(HEATMAP_POINTS, device=landmarks.device)
    pts = landmarks.index_select(1, idx)  # (B, P, 2)
    grid = _grid(size, landmarks)
    inv = -0.5 / (sigma * sigma)
    gx = torch.exp(inv * (grid.view(1, 1, -1) - pts[..., 0:1]) ** 2)  # (B, P, S)
    gy = torch.exp(inv * (grid.view(1, 1, -1) - pts[..., 1:2]) ** 2)  # (B, P, S)
    ht = torch.matmul(gy.transpose(1, 2), gx)  # (B, S, S): rows y, columns x
    return ht.clamp(max=1.0).unsqueeze(1)  # (B, 1, S, S)


def landmark_flow(
    ls: torch.Tensor, lt: torch.Tensor, size: int, cfg: GrConfig, extent: float = 1.0
) -> torch.Tensor:
    """Backward displacement (B, 2, size, size): at each output pixel p, the source is read at p + flow(p).

    The displacement d_i = ls_i - lt_i, known at the transformed landmarks lt_i, is spread over the image by
    Nadaraya-Watson interpolation with a local and a wide Gaussian kernel: flow(p) = sum_i w_i(p) d_i /
    sum_i w_i(p). The Gaussians are separable, so both sums are one matrix product of per-point y and x
    profiles (the same MatMul + Exp graph as `draw_heatmap`; exports to ONNX, runs on any device).
    """
    grid = _grid(size, lt)
    d = ls - lt  # (B, N, 2)

    def profiles(sigma: float, gain: float) -> tuple[torch.Tensor, torch.Tensor]:
        inv = -0.5 / (sigma * sigma)
        gx = torch.exp(inv * (grid.view(1, 1, -1) - lt[..., 0:1]) ** 2) * gain  # (B, N, S)
        gy = torch.exp(inv * (grid.view(1, 1, -1) - lt[..., 1:2]) ** 2)  # (B, N, S)
        return gx, gy

    gx_n, gy_n = profiles(cfg.flow_sigma / extent, 1.0)
    gx_w, gy_w = profiles(cfg.flow_wide / extent, cfg.flow_wide_weight)
    gx, gy = torch.cat([gx_n, gx_w], 1), torch.cat([gy_n, gy_w], 1)  # (B, 2N, S)
    dd = torch.cat([d, d], 1)  # (B, 2N, 2)
    rhs = torch.cat([gx, gx * dd[..., 0:1], gx * dd[..., 1:2]], 2)  # (B, 2N, 3S)
    sums = torch.matmul(gy.transpose(1, 2), rhs)  # (B, S, 3S): rows y; [weight | x-sum | y-sum]
    w, sx, sy = sums[..., :size], sums[..., size : 2 * size], sums[..., 2 * size :]
    w = w + 1e-6
    return torch.stack([sx / w, sy / w], 1)  # (B, 2, S, S): displacement (x, y)


def warp_source(
    source: torch.Tensor, ls: torch.Tensor, lt: torch.Tensor, cfg: GrConfig, extent: float = 1.0
) -> torch.Tensor:
    """The source moved to the transformed landmarks: flow at 1/8 resolution, upsampled, one bilinear read.

    The flow is smooth (kernel width 0.1 = 13 px at 256): computed at 1/2, 1/4, 1/8 or 1/16 resolution the warp
    alone scores the same masked face MSE on training people (0.00254, 0.00254, 0.00254, 0.00255 at 256), so
    1/8 it is (the MatMul is 16x cheaper than at 1/2)."""
    s = source.shape[-1]
    flow = landmark_flow(ls, lt, s // 8, cfg, extent)  # (B, 2, S/8, S/8)
    flow = F.interpolate(flow, size=(s, s), mode="bilinear", align_corners=False)  # (B, 2, S, S)
    grid = _grid(s, source)
    base = torch.stack([grid.view(1, -1).expand(s, s), grid.view(-1, 1).expand(s, s)], -1)  # (S, S, 2): x, y
    return F.grid_sample(
        source, base + flow.permute(0, 2, 3, 1), mode="bilinear", padding_mode="border", align_corners=False
    )


def channel_softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over dim 1 written out: ONNX Runtime's Softmax on a non-last axis transposes the whole image
    twice (20% of the lite Gr's CPU time); this form is element-wise ops and one ReduceMax / ReduceSum."""
    e = torch.exp(x - x.amax(dim=1, keepdim=True))
    return e / e.sum(dim=1, keepdim=True)


class FaceReenactor(nn.Module):
    def __init__(self, cfg: GrConfig) -> None:
        super().__init__()
        u = cfg.unet
        cin, cout = (6, 7) if cfg.warp else (3, 6)
        if u.in_channels != cin or u.side_channels != 1 or u.out_channels != cout:
            raise ValueError(
                f"GrConfig.unet must have in_channels={cin}, side_channels=1 (Ht), out_channels={cout}"
                f" (warp={cfg.warp})"
            )
        self.cfg = cfg
        self.unet = UNet(cfg.unet)

    def _face(
        self,
        source: torch.Tensor,
        landmarks: torch.Tensor,
        source_landmarks: torch.Tensor | None,
        extent: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(face Ifr (B, 3, S, S), segmentation logits (B, 3, S, S), Ht (B, 1, S/f, S/f)).

        `extent`: the fraction of the aligned crop's width that the image spans (1 at run time; patch/size when
        training on windows). Widths in normalised units (Ht's sigma, the flow kernels) are divided by it, so a
        splat or a kernel covers the same part of the face in a window as in the whole crop.
        """
        # source: (B, 3, S, S) in [0, 1]; landmarks, source_landmarks: (B, 478, 2) in [-1, 1]
        # Ht is drawn at the body's resolution S/f: nothing heatmap-sized runs at S when f > 1.
        ht = draw_heatmap(
            landmarks, source.shape[-1] // self.cfg.unet.space_to_depth, self.cfg.sigma / extent
        )
        if not self.cfg.warp:
            out = self.unet(source * 2 - 1, ht)  # (B, 6, S, S)
            return torch.sigmoid(out[:, :3]), out[:, 3:6], ht
        if source_landmarks is None:
            raise ValueError("this Gr has a warping step: pass the source landmarks")
        warped = warp_source(source, source_landmarks, landmarks, self.cfg, extent)  # (B, 3, S, S)
        out = self.unet(torch.cat([source, warped], 1) * 2 - 1, ht)  # (B, 7, S, S)
        # The blend starts near the warped source (sigmoid(2) = 0.88): Gr learns what to synthesise, not to copy.
        alpha = torch.sigmoid(out[:, 6:7] + 2.0)
        face = alpha * warped + (1 - alpha) * torch.sigmoid(out[:, :3])
        return face, out[:, 3:6], ht

    def forward(
        self, source: torch.Tensor, landmarks: torch.Tensor, source_landmarks: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        face, logits, _ = self._face(source, landmarks, source_landmarks)
        return face, channel_softmax(logits)  # Ifr, (background, hair, face): both (B, 3, S, S)

    def forward_logits(
        self,
        source: torch.Tensor,
        landmarks: torch.Tensor,
        source_landmarks: torch.Tensor | None = None,
        extent: float = 1.0,
    ) -> tuple[torch.Tensor, ...]:
        """Training form: face, segmentation logits (for cross-entropy, eq. 8) and Ht at (B, 1, S, S) for D."""
        face, logits, ht = self._face(source, landmarks, source_landmarks, extent)
        if ht.shape[-1] != source.shape[-1]:
            ht = draw_heatmap(landmarks, source.shape[-1], self.cfg.sigma / extent)
        return face, logits, ht


def gr_config(variant: str, warp: bool = False) -> GrConfig:
    """Named sizes from one code path: tiny (tests), lite (CPU real time), full (GPU); with or without warping."""
    cin, cout = (6, 7) if warp else (3, 6)
    unet = replace(unet_preset(variant, "Gr"), in_channels=cin, side_channels=1, out_channels=cout)
    return GrConfig(unet=unet, warp=warp)


def gr_lite() -> FaceReenactor:
    return FaceReenactor(gr_config("lite"))


def gr_full() -> FaceReenactor:
    return FaceReenactor(gr_config("full"))
