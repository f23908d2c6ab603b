"""FACEGAN losses, eqs. 1-11 (numbering as in DESIGN.md section 2).

Substitutions made here, each because the paper's ingredient cannot be had on this project:
- Perceptual term (eq. 6): no ImageNet VGG weights can be fetched, so it is discriminator feature matching
  (L1 between D's intermediate features of real and generated images, pix2pixHD-style) - see `feature_matching`.
- Segmentation targets (eq. 8): from the prepared masks (MediaPipe selfie segmentation + mesh hull), not a
  face-parsing network - see `segmentation_ce`.
- Adversarial terms (eqs. 7, 10): hinge loss on a multi-scale PatchGAN (a stable stand-in for the original GAN loss).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------- LT (eqs. 1-4)


def landmark_l1(lt: torch.Tensor, ld: torch.Tensor) -> torch.Tensor:
    """Eq. 1: L1 between the transformed landmarks lt = ls + dls and the driving landmarks ld, (B, N, 2)."""
    return (lt - ld).abs().mean()


def displacement_l2(dls: torch.Tensor) -> torch.Tensor:
    """Eq. 2: L2 on the displacement dls, keeping lt close to the source's shape."""
    return (dls**2).sum(dim=-1).mean()


def au_consistency(aud_of_lt: torch.Tensor, aud: torch.Tensor) -> torch.Tensor:
    """Eq. 3: the frozen La must read the driving AUs back from lt: ||La(lt) - AUd||^2."""
    return F.mse_loss(aud_of_lt, aud)


def connectivity(lt: torch.Tensor, ld: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Eq. 4: distances between neighbouring landmarks (mesh contour edges, (E, 2)) of lt match those of ld."""
    d_t = (lt[:, edges[:, 0]] - lt[:, edges[:, 1]]).norm(dim=-1)  # (B, E)
    d_d = (ld[:, edges[:, 0]] - ld[:, edges[:, 1]]).norm(dim=-1)  # (B, E)
    return (d_t - d_d).abs().mean()


# ---------------------------------------------------------------- Gr (eqs. 5-8)


def pixel_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Eqs. 5 and 9: L1 between generated and driving pixels, optionally weighted by a (B, 1, S, S) mask."""
    diff = (pred - target).abs()
    if weight is None:
        return diff.mean()
    return (diff * weight).sum() / (weight.sum() * pred.shape[1]).clamp(min=1.0)


def feature_matching(
    fake: Sequence[Sequence[torch.Tensor]], real: Sequence[Sequence[torch.Tensor]]
) -> torch.Tensor:
    """Eq. 6, substituted: the paper's VGG perceptual loss becomes L1 between the multi-scale discriminator's
    intermediate features of the generated and the real image (no ImageNet weights are available here)."""
    total = fake[0][0].new_zeros(())
    count = 0
    for f_scale, r_scale in zip(fake, real, strict=True):
        for f, r in zip(f_scale[:-1], r_scale[:-1], strict=True):  # skip the logits
            total = total + (f - r.detach()).abs().mean()
            count += 1
    return total / max(count, 1)


def adversarial_g(fake: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    """Eqs. 7 and 10, generator side (hinge): -mean D(G(x)) summed over scales."""
    return sum((-s[-1].mean() for s in fake), fake[0][-1].new_zeros(()))


def adversarial_d(
    fake: Sequence[Sequence[torch.Tensor]], real: Sequence[Sequence[torch.Tensor]]
) -> torch.Tensor:
    """Eqs. 7 and 10, discriminator side (hinge), summed over scales."""
    loss = fake[0][-1].new_zeros(())
    for f, r in zip(fake, real, strict=True):
        loss = loss + F.relu(1 + f[-1]).mean() + F.relu(1 - r[-1]).mean()
    return loss


def segmentation_ce(seg_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 8: cross-entropy of Gr's (background, hair, face) logits (B, 3, S, S) against the driving frame's
    prepared mask (B, S, S) int64 in {0, 1, 2} (substituted targets: MediaPipe, not a face parser)."""
    return F.cross_entropy(seg_logits, target)


# ---------------------------------------------------------------- Gb (eqs. 9-11)


def mask_regularisation(mask: torch.Tensor, tv_weight: float = 1.0) -> torch.Tensor:
    """Eq. 11: L2 on the blend mask M (use Ib wherever it suffices) + total variation (a smooth seam), (B,1,S,S)."""
    l2 = (mask**2).mean()
    tv = (mask[..., 1:, :] - mask[..., :-1, :]).abs().mean() + (
        mask[..., :, 1:] - mask[..., :, :-1]
    ).abs().mean()
    return l2 + tv_weight * tv
