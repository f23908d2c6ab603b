"""One training step per stage (the paper's eqs. 1-11), validation on held-out identities, sample grids and curves."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engines.compose import ChainNets, foreground, reenact
from training import losses as L
from training.config import TrainConfig
from training.dataset import (
    PairBatch,
)
from training.models.gr import warp_source

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- one training step per stage


@dataclass(frozen=True)
class StepOut:
    losses: dict[str, torch.Tensor]
    total: torch.Tensor
    output: torch.Tensor | None = None  # (B, 3, S, S) image for sample grids


def _resize(b: PairBatch, size: int) -> PairBatch:
    """Progressive training: the 256 batch seen at 128 (area for images, nearest for masks)."""
    if b.src is None or b.src.shape[-1] == size:
        return b

    def img(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(size, size), mode="area")

    def seg(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()

    return replace(b, src=img(b.src), drv=img(b.drv), seg_s=seg(b.seg_s), seg_d=seg(b.seg_d))  # type: ignore[arg-type]


def _random_window(b: PairBatch, patch: int, rng: np.random.Generator) -> PairBatch:
    """A random patch x patch window of each pair, the same window for source and driving, landmarks moved
    into it. The lite nets are fully convolutional: trained on windows of the full-size crops they learn at
    the scale they run at (unlike 128 downscaled crops) for the cost of 128x128 training."""
    assert b.src is not None and b.drv is not None and b.seg_s is not None and b.seg_d is not None
    s = b.src.shape[-1]
    if patch >= s:
        return b
    n = b.src.shape[0]
    off = torch.from_numpy(rng.integers(0, s - patch + 1, size=(n, 2))).float()  # (B, 2) x, y in pixels

    def cut(x: torch.Tensor) -> torch.Tensor:
        return torch.stack(
            [
                x[i, ..., int(off[i, 1]) : int(off[i, 1]) + patch, int(off[i, 0]) : int(off[i, 0]) + patch]
                for i in range(n)
            ]
        )

    def move(u: torch.Tensor) -> torch.Tensor:  # normalised over s -> normalised over the window
        return (u + 1) * (s / patch) - 2 * off[:, None, :] / patch - 1

    return replace(
        b,
        src=cut(b.src),
        drv=cut(b.drv),
        seg_s=cut(b.seg_s),
        seg_d=cut(b.seg_d),
        ls=move(b.ls),
        ld=move(b.ld),
        extent=b.extent * patch / s,  # Gr keeps its splat and flow widths the same on the face
    )


def generator_step(cfg: TrainConfig, m: dict[str, nn.Module], b: PairBatch, edges: torch.Tensor) -> StepOut:
    w, out = cfg.weights, {}
    if cfg.stage == "la":
        out["au"] = F.mse_loss(m["la"](b.ld), b.aud_d)
        return StepOut(out, out["au"])
    if cfg.stage == "lt":
        lt = m["lt"](b.ls, b.aud_d)  # (B, 478, 2)
        out["eq1_landmark"] = L.landmark_l1(lt, b.ld)
        out["eq2_displacement"] = L.displacement_l2(lt - b.ls)
        out["eq3_au"] = L.au_consistency(m["la"](lt), b.aud_d)
        out["eq4_connectivity"] = L.connectivity(lt, b.ld, edges)
        total = (
            w.landmark * out["eq1_landmark"]
            + w.displacement * out["eq2_displacement"]
            + w.au * out["eq3_au"]
            + w.connectivity * out["eq4_connectivity"]
        )
        return StepOut(out, total)
    assert b.src is not None and b.drv is not None and b.seg_s is not None and b.seg_d is not None
    fg_d = (b.seg_d > 0).float()[:, None]  # (B, 1, S, S) hair + face of the driving frame
    ib = b.src * (b.seg_s == 0).float()[:, None]  # Ib: the source with face and hair removed
    total, image = b.src.new_zeros(()), None
    if cfg.stage in ("gr", "joint"):
        face, seg_logits, ht = m["gr"].forward_logits(b.src, b.ld, b.ls, b.extent)  # on driving landmarks
        out["eq5_pixel"] = L.pixel_l1(face, b.drv, fg_d)
        fake = m["d_gr"](torch.cat([face * fg_d, ht], 1))
        real = m["d_gr"](torch.cat([b.drv * fg_d, ht], 1))
        out["eq6_feature"] = L.feature_matching(fake, real)
        out["eq7_adv"] = L.adversarial_g(fake)
        out["eq8_seg"] = L.segmentation_ce(seg_logits, b.seg_d)
        total = total + (
            w.pixel * out["eq5_pixel"]
            + w.feature * out["eq6_feature"]
            + w.adversarial * out["eq7_adv"]
            + w.segmentation * out["eq8_seg"]
        )
        prob = torch.softmax(seg_logits, 1)
        if (
            cfg.detach_seg
        ):  # Gb's losses then reach Gr's pixels but not its segmentation (eq. 8 alone trains it)
            prob = prob.detach()
        face_in, image = foreground(face, prob), face * fg_d
    if cfg.stage in ("gb", "joint"):
        if cfg.stage == "gb":
            face_in = b.drv * fg_d  # stand-in for Ifr * (hair + face): the real driving foreground
        image, mask = m["gb"](face_in, ib)  # eq. 9 inside: Ir = M * Ic + (1 - M) * Ib
        out["eq9_pixel"] = L.pixel_l1(image, b.drv)
        fake, real = m["d_gb"](image), m["d_gb"](b.drv)
        out["eq9_feature"] = L.feature_matching(fake, real)
        out["eq10_adv"] = L.adversarial_g(fake)
        out["eq11_mask"] = L.mask_regularisation(mask)
        total = total + (
            w.pixel * out["eq9_pixel"]
            + w.feature * out["eq9_feature"]
            + w.adversarial * out["eq10_adv"]
            + w.mask * out["eq11_mask"]
        )
    return StepOut(out, total, image)


def discriminator_loss(cfg: TrainConfig, m: dict[str, nn.Module], b: PairBatch) -> dict[str, torch.Tensor]:
    """Eqs. 7 and 10, D side: real and generated images go through D in one batch."""
    assert b.src is not None and b.drv is not None and b.seg_s is not None and b.seg_d is not None
    fg_d = (b.seg_d > 0).float()[:, None]
    out = {}
    with torch.no_grad():
        if cfg.stage in ("gr", "joint"):
            face, seg_logits, ht = m["gr"].forward_logits(b.src, b.ld, b.ls, b.extent)
            face_in = foreground(face, torch.softmax(seg_logits, 1))
        if cfg.stage == "gb":
            face_in = b.drv * fg_d
        if cfg.stage in ("gb", "joint"):
            image, _ = m["gb"](face_in, b.src * (b.seg_s == 0).float()[:, None])
    n = b.src.shape[0]
    if cfg.stage in ("gr", "joint"):
        feats = m["d_gr"](torch.cat([torch.cat([face * fg_d, ht], 1), torch.cat([b.drv * fg_d, ht], 1)]))
        out["d_gr"] = L.adversarial_d(
            [[f[:n] for f in s] for s in feats], [[f[n:] for f in s] for s in feats]
        )
    if cfg.stage in ("gb", "joint"):
        feats = m["d_gb"](torch.cat([image, b.drv]))
        out["d_gb"] = L.adversarial_d(
            [[f[:n] for f in s] for s in feats], [[f[n:] for f in s] for s in feats]
        )
    return out


# ---------------------------------------------------------------- validation on held-out identities


def _face_mse(x: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """MSE over the pixels of `mask` (B, 1, S, S), per colour channel."""
    return float(((x - target) ** 2 * mask).sum() / (mask.sum() * 3).clamp(min=1))


@torch.no_grad()
def validate(
    cfg: TrainConfig,
    m: dict[str, nn.Module],
    val: list[PairBatch],
    size: int,
    lt_net: nn.Module | None = None,
) -> tuple[dict[str, float], Any]:
    """Metrics on fixed pairs of held-out people (no augmentation). Returns metrics and a sample batch tuple.

    With `lt_net` (joint stage, `--lt`), also Table 1's "with LT" self-reenactment: Gr driven by
    LT(ls, AUd) instead of the driving frame's own landmarks."""
    for net in m.values():
        net.eval()
    acc: dict[str, list[float]] = {}
    sample = None
    for b in val:
        b = _resize(b, size)
        if cfg.stage == "la":
            acc.setdefault("val/aud_mse", []).append(F.mse_loss(m["la"](b.ld), b.aud_d).item())
        elif cfg.stage == "lt":
            lt = m["lt"](b.ls, b.aud_d)
            acc.setdefault("val/lt_landmark_l1", []).append((lt - b.ld).abs().mean().item())
            acc.setdefault("val/no_motion_landmark_l1", []).append((b.ls - b.ld).abs().mean().item())
        else:
            assert b.src is not None and b.drv is not None and b.seg_d is not None and b.seg_s is not None
            fg_d = (b.seg_d > 0).float()[:, None]
            if cfg.stage in ("gr", "joint"):
                face, seg = m["gr"](b.src, b.ld, b.ls)
                acc.setdefault("val/gr_face_mse", []).append(_face_mse(face, b.drv, fg_d))
                # the bars to beat: copying the source, and (with the warping step) the warp alone
                acc.setdefault("val/copy_source_face_mse", []).append(_face_mse(b.src, b.drv, fg_d))
                if cfg.gr.warp:
                    warped = warp_source(b.src, b.ls, b.ld, cfg.gr)
                    acc.setdefault("val/warp_only_face_mse", []).append(_face_mse(warped, b.drv, fg_d))
                acc.setdefault("val/seg_accuracy", []).append(
                    (seg.argmax(1) == b.seg_d).float().mean().item()
                )
                out, face_in = face * fg_d, foreground(face, seg)
            if cfg.stage in ("gb", "joint"):
                if cfg.stage == "gb":
                    face_in = b.drv * fg_d
                out, _ = m["gb"](face_in, b.src * (b.seg_s == 0).float()[:, None])
                key = "val/self_reenactment_mse" if cfg.stage == "joint" else "val/gb_mse_true_foreground"
                acc.setdefault(key, []).append(F.mse_loss(out, b.drv).item())
            if cfg.stage == "joint" and lt_net is not None:
                nets = ChainNets(gr=m["gr"], gb=m["gb"], lt=lt_net)
                ib = b.src * (b.seg_s == 0).float()[:, None]
                out_lt = reenact(nets, b.src, b.ls, ib, aud=b.aud_d).image
                acc.setdefault("val/self_reenactment_mse_with_lt", []).append(
                    F.mse_loss(out_lt, b.drv).item()
                )
            if sample is None:
                sample = (b.src[:4], b.drv[:4], out[:4])
    for net in m.values():
        net.train()
    return {k: float(np.mean(v)) for k, v in acc.items()}, sample


def save_grid(path: Path, sample: tuple[torch.Tensor, ...]) -> None:
    """PNG grid, one row per pair: source | driving | output."""
    import cv2

    rows = [torch.cat([t[i] for t in sample], dim=2) for i in range(sample[0].shape[0])]  # (3, S, 3S)
    grid = (torch.cat(rows, dim=1).permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def save_curves(path: Path, history: list[dict[str, float]]) -> None:
    try:
        import matplotlib
    except ImportError:  # e.g. a bare GPU machine: curves stay in TensorBoard / the checkpoint history
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for h in history for k in h if k != "step"})
    if not keys:
        return
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 1.8 * len(keys)), squeeze=False)
    for ax, k in zip(axes[:, 0], keys, strict=True):
        pts = [(h["step"], h[k]) for h in history if k in h]
        ax.plot([p[0] for p in pts], [p[1] for p in pts])
        ax.set_ylabel(k, fontsize=7)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
