"""`facegan-train la|lt|gr|gb|joint`: train the FACEGAN networks on a prepared dataset.

Stages: la (AU regressor, needed by LT's eq. 3), lt (landmark transformer), gr (face reenactor), gb (background
mixer on ground-truth foregrounds), joint (Gr -> Gb end to end). Data parallel through torchrun: each rank draws
its own batches and gradients are averaged with all_reduce (gloo on CPU, nccl on GPU). We average gradients by
hand rather than wrap in DistributedDataParallel because a GAN step calls the discriminator several times per
backward, which DDP's reducer does not allow; the arithmetic is the same.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import sys
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from training import losses as L
from training.dataset import (
    AugConfig,
    PairBatch,
    TrackArrays,
    augment,
    load_track,
    open_dataset,
    sample_pairs,
    split_identities,
    track_weights,
)
from training.models import (
    AURegressor,
    BackgroundMixer,
    DiscConfig,
    FaceReenactor,
    GbConfig,
    GrConfig,
    LaConfig,
    LandmarkTransformer,
    LTConfig,
    MultiScaleDiscriminator,
    disc_config,
    gb_config,
    gr_config,
)

log = logging.getLogger(__name__)
Stage = Literal["la", "lt", "gr", "gb", "joint"]
Variant = Literal["tiny", "lite", "full"]
IMAGE_STAGES = ("gr", "gb", "joint")
CKPT_FORMAT = "facegan-checkpoint"


@dataclass(frozen=True)
class LossWeights:
    landmark: float = 1.0  # eq. 1
    displacement: float = 0.01  # eq. 2
    au: float = 0.1  # eq. 3
    connectivity: float = 1.0  # eq. 4
    pixel: float = 10.0  # eqs. 5, 9
    feature: float = 10.0  # eq. 6 (feature matching, substituted for VGG)
    adversarial: float = 1.0  # eqs. 7, 10
    segmentation: float = 1.0  # eq. 8
    mask: float = 0.1  # eq. 11


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines what is trained; saved in every checkpoint and compared on resume."""

    stage: Stage = "lt"
    variant: Variant = "lite"
    size: int = 128
    """Final image size (Gr/Gb); data is decoded at this size."""
    batch: int = 8
    """Batch per process."""
    lr: float = 2e-4
    lr_d: float = 2e-4
    seed: int = 0
    val_fraction: float = 0.1
    """Fraction of (moving) identities held out for validation."""
    lt: LTConfig = field(default_factory=LTConfig)
    la: LaConfig = field(default_factory=LaConfig)
    gr: GrConfig = field(default_factory=lambda: gr_config("lite"))
    gb: GbConfig = field(default_factory=lambda: gb_config("lite"))
    disc: DiscConfig = field(default_factory=DiscConfig)
    aug: AugConfig = field(default_factory=AugConfig)
    weights: LossWeights = field(default_factory=LossWeights)


def preset(stage: Stage, variant: Variant, size: int) -> TrainConfig:
    """Named configurations: tiny (tests, seconds on CPU), lite (CPU real time), full (GPU)."""
    mlp = {"tiny": (64, 2), "lite": (1024, 3), "full": (1024, 4)}[variant]
    la_mlp = {"tiny": (64, 2), "lite": (512, 3), "full": (512, 3)}[variant]
    image = stage in IMAGE_STAGES
    return TrainConfig(
        stage=stage,
        variant=variant,
        size=size,
        batch={"tiny": 4, "lite": 8 if image else 64, "full": 16 if image else 256}[variant],
        lr=2e-4 if image else 1e-3,
        lt=LTConfig(hidden=mlp[0], layers=mlp[1]),
        la=LaConfig(hidden=la_mlp[0], layers=la_mlp[1]),
        gr=gr_config(variant),
        gb=gb_config(variant),
        disc=disc_config(variant, 4 if stage == "gr" else 3),
        # LT must not see unpredictable shifts between source and driving: shared geometry for it.
        aug=AugConfig(independent=image),
    )


# ---------------------------------------------------------------- config <-> dict, mismatch report


def config_from_dict(d: dict[str, Any], cls: type = TrainConfig) -> Any:
    kw = {}
    for f in fields(cls):
        if f.name not in d:
            continue
        v = d[f.name]
        default = f.default_factory() if callable(f.default_factory) else None  # type: ignore[misc]
        if is_dataclass(default):
            v = config_from_dict(v, type(default))
        elif isinstance(v, list):
            v = tuple(v)
        kw[f.name] = v
    return cls(**kw)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = tuple(v) if isinstance(v, list) else v
    return out


def config_mismatch(saved: TrainConfig, current: TrainConfig) -> list[str]:
    a, b = _flatten(asdict(saved)), _flatten(asdict(current))
    return [
        f"{k}: checkpoint {a.get(k)!r} vs now {b.get(k)!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


# ---------------------------------------------------------------- models


def build_models(cfg: TrainConfig) -> dict[str, nn.Module]:
    """The trainable networks of a stage (La also appears, frozen, in the lt stage)."""
    m: dict[str, nn.Module] = {}
    if cfg.stage in ("la", "lt"):
        m["la"] = AURegressor(cfg.la)
    if cfg.stage == "lt":
        m["lt"] = LandmarkTransformer(cfg.lt)
    if cfg.stage in ("gr", "joint"):
        m["gr"] = FaceReenactor(cfg.gr)
        m["d_gr"] = MultiScaleDiscriminator(replace(cfg.disc, in_channels=4))
    if cfg.stage in ("gb", "joint"):
        m["gb"] = BackgroundMixer(cfg.gb)
        m["d_gb"] = MultiScaleDiscriminator(replace(cfg.disc, in_channels=3))
    return m


def trainable(cfg: TrainConfig) -> tuple[str, ...]:
    return {"la": ("la",), "lt": ("lt",), "gr": ("gr",), "gb": ("gb",), "joint": ("gr", "gb")}[cfg.stage]


def make_optimizers(cfg: TrainConfig, models: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
    betas = (0.5, 0.999) if cfg.stage in IMAGE_STAGES else (0.9, 0.999)
    gen = [p for n in trainable(cfg) for p in models[n].parameters()]
    opts = {"g": torch.optim.Adam(gen, lr=cfg.lr, betas=betas)}
    disc = [p for n, m in models.items() if n.startswith("d_") for p in m.parameters()]
    if disc:
        opts["d"] = torch.optim.Adam(disc, lr=cfg.lr_d, betas=betas)
    return opts


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / "checkpoint.pt"
    if not p.is_file():
        raise FileNotFoundError(f"no checkpoint at {p}")
    ck = torch.load(p, map_location="cpu", weights_only=False)
    if not isinstance(ck, dict) or ck.get("format") != CKPT_FORMAT:
        raise ValueError(f"{p} is not a facegan checkpoint")
    ck["config"] = config_from_dict(ck["config"])
    return ck


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
        face, seg_logits, ht = m["gr"].forward_logits(b.src, b.ld)  # Gr is trained on driving landmarks
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
        face_in, image = face * (prob[:, 1:2] + prob[:, 2:3]), face * fg_d
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
            face, seg_logits, ht = m["gr"].forward_logits(b.src, b.ld)
            prob = torch.softmax(seg_logits, 1)
            face_in = face * (prob[:, 1:2] + prob[:, 2:3])
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
                face, seg = m["gr"](b.src, b.ld)
                err = ((face - b.drv) ** 2 * fg_d).sum() / (fg_d.sum() * 3).clamp(min=1)
                acc.setdefault("val/gr_face_mse", []).append(err.item())
                acc.setdefault("val/seg_accuracy", []).append(
                    (seg.argmax(1) == b.seg_d).float().mean().item()
                )
                out, face_in = face * fg_d, face * (seg[:, 1:2] + seg[:, 2:3])
            if cfg.stage in ("gb", "joint"):
                if cfg.stage == "gb":
                    face_in = b.drv * fg_d
                out, _ = m["gb"](face_in, b.src * (b.seg_s == 0).float()[:, None])
                key = "val/self_reenactment_mse" if cfg.stage == "joint" else "val/gb_mse_true_foreground"
                acc.setdefault(key, []).append(F.mse_loss(out, b.drv).item())
            if cfg.stage == "joint" and lt_net is not None:
                face_lt, seg_lt = m["gr"](b.src, lt_net(b.ls, b.aud_d))
                out_lt, _ = m["gb"](
                    face_lt * (seg_lt[:, 1:2] + seg_lt[:, 2:3]), b.src * (b.seg_s == 0).float()[:, None]
                )
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


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(
    path: Path,
    cfg: TrainConfig,
    step: int,
    models: dict[str, nn.Module],
    opts: dict[str, torch.optim.Optimizer],
    extra: dict[str, Any],
) -> None:
    ck = {
        "format": CKPT_FORMAT,
        "version": 1,
        "config": asdict(cfg),
        "step": step,
        "models": {k: v.state_dict() for k, v in models.items()},
        "optims": {k: v.state_dict() for k, v in opts.items()},
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        **extra,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(ck, tmp)
    tmp.replace(path)  # atomic: a crash never leaves a half-written checkpoint


class NonFiniteLoss(FloatingPointError):
    pass


def _check_finite(step: int, losses: dict[str, torch.Tensor], batch: PairBatch, run_dir: Path | None) -> None:
    bad = [k for k, v in losses.items() if not torch.isfinite(v).all()]
    if not bad:
        return
    where = ""
    if run_dir is not None:
        p = run_dir / f"nan_step{step:07d}.pt"
        torch.save(
            {"step": step, "losses": {k: v.detach() for k, v in losses.items()}, "batch": batch.__dict__}, p
        )
        where = f"; the batch is saved in {p}"
    raise NonFiniteLoss(f"non-finite loss {bad} at step {step}{where}")


# ---------------------------------------------------------------- the loop


@dataclass(frozen=True)
class RunOptions:
    """How long and where to run; not part of the model, so it may change between resumes."""

    data: Path
    out: Path
    steps: int = 1000
    resume: Path | None = None
    la_ckpt: Path | None = None
    """lt stage: the trained La (frozen inside eq. 3)."""
    init_gr: Path | None = None
    init_gb: Path | None = None
    val_every: int = 200
    ckpt_every: int = 500
    log_every: int = 10
    val_pairs: int = 64
    progressive_until: int = 0
    """Image stages: train at 128 until this step, then at the config's size (the paper's 128 -> 256)."""
    max_frames: int | None = None
    """Keep at most this many frames per track in memory (evenly spaced)."""
    device: str = "auto"
    tensorboard: bool = True
    lt_ckpt: Path | None = None
    """joint stage: a trained LT, only for the "with LT" validation metric (Table 1)."""
    patch: int = 0
    """Image stages: train on random patch x patch windows of the full-size images (0: whole images)."""


def _dist_setup(device: str) -> tuple[int, int, torch.device]:
    dev = torch.device(
        "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
    )
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    return rank, world, dev


def _allreduce_grads(params: list[nn.Parameter], world: int) -> None:
    grads = [p.grad for p in params if p.grad is not None]
    if world == 1 or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    i = 0
    for g in grads:
        g.copy_(flat[i : i + g.numel()].view_as(g))
        i += g.numel()


def _load_arrays(tracks: tuple, crop: int, cfg: TrainConfig, max_frames: int | None) -> list[TrackArrays]:
    images = cfg.stage in IMAGE_STAGES
    out = []
    for t in tracks:
        a = load_track(t, crop, cfg.size, images=images)
        if max_frames and len(a.landmarks) > max_frames:
            keep = np.linspace(0, len(a.landmarks) - 1, max_frames).astype(int)
            a = TrackArrays(
                a.info,
                a.landmarks[keep],
                a.aud[keep],
                None if a.images is None else a.images[keep],
                None if a.seg is None else a.seg[keep],
            )
        out.append(a)
    return out


def _init_models(cfg: TrainConfig, run: RunOptions) -> tuple[TrainConfig, dict[str, nn.Module]]:
    if cfg.stage == "lt":
        if run.la_ckpt is None:
            raise ValueError(
                "the lt stage needs a trained La for eq. 3: run `facegan-train la ...` and pass --la CKPT"
            )
        la_ck = load_checkpoint(run.la_ckpt)
        cfg = replace(cfg, la=la_ck["config"].la)
    models = build_models(cfg)
    if cfg.stage == "lt":
        models["la"].load_state_dict(la_ck["models"]["la"])
        models["la"].requires_grad_(False)
    for name, path in (("gr", run.init_gr), ("gb", run.init_gb)):
        if path is not None and name in models:
            models[name].load_state_dict(load_checkpoint(path)["models"][name])
    return cfg, models


def train(cfg: TrainConfig, run: RunOptions) -> dict[str, float]:
    """Train one stage; returns the last validation metrics. Rank 0 writes everything under run.out."""
    from realtime.face.topology import CONTOUR_EDGES

    # 1. processes, seeds, data
    rank, world, dev = _dist_setup(run.device)
    torch.manual_seed(cfg.seed)
    ds = open_dataset(run.data)
    train_t, val_t = split_identities(ds, cfg.val_fraction, cfg.seed)
    if not train_t:
        raise ValueError(f"{run.data}: no training identities left after holding out validation")
    train_a = _load_arrays(train_t, ds.crop_size, cfg, run.max_frames)
    val_a = _load_arrays(val_t, ds.crop_size, cfg, run.max_frames)
    weights = track_weights(train_a)
    vrng = np.random.default_rng([cfg.seed, 7])
    val = (
        [
            sample_pairs(val_a, cfg.batch, vrng, track_weights(val_a)).to(dev)
            for _ in range(max(1, run.val_pairs // cfg.batch))
        ]
        if val_a
        else []
    )
    log.info(
        "%d train tracks (%d people), %d validation tracks (%d people held out)",
        len(train_t),
        len({t.identity for t in train_t}),
        len(val_t),
        len({t.identity for t in val_t}),
    )
    # 2. models, optimisers, resume
    cfg, models = _init_models(cfg, run)
    for mod in models.values():
        mod.to(dev)
    opts = make_optimizers(cfg, models)
    step, history = 0, []
    if run.resume is not None:
        ck = load_checkpoint(run.resume)
        diff = config_mismatch(ck["config"], cfg)
        if diff:
            raise ValueError(f"cannot resume from {run.resume}: its config differs in " + "; ".join(diff))
        for k, mod in models.items():
            mod.load_state_dict(ck["models"][k])
        for k, o in opts.items():
            o.load_state_dict(ck["optims"][k])
        step, history = ck["step"], ck.get("history", [])
        torch.set_rng_state(ck["rng"]["torch"])
    if world > 1:
        for mod in models.values():
            for t in list(mod.parameters()) + list(mod.buffers()):
                dist.broadcast(t.data, 0)
    gen_params = [p for n in trainable(cfg) for p in models[n].parameters()]
    d_params = [p for n, mod in models.items() if n.startswith("d_") for p in mod.parameters()]
    edges = torch.tensor(CONTOUR_EDGES, device=dev)
    lt_net = None
    if run.lt_ckpt is not None and cfg.stage == "joint":
        lt_ck = load_checkpoint(run.lt_ckpt)
        lt_net = LandmarkTransformer(lt_ck["config"].lt).to(dev).eval()
        lt_net.load_state_dict(lt_ck["models"]["lt"])
    # 3. outputs (rank 0)
    out_dir = run.out if rank == 0 else None
    writer = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        if run.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out_dir / "tb"))
    hw = (
        torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    )
    extra = {
        "hardware": f"{world} x {hw}",
        "dataset": str(run.data),
        "val_identities": sorted({t.identity for t in val_t}),
        "world_size": world,
        # how the run was driven (not part of the model config, may change between resumes; for the model card)
        "run": {"patch": run.patch, "max_frames": run.max_frames, "progressive_until": run.progressive_until},
    }
    metrics: dict[str, float] = {}
    # 4. the loop
    from tqdm import tqdm

    bar = tqdm(total=run.steps, initial=step, disable=rank != 0, desc=cfg.stage, mininterval=2.0)
    while step < run.steps:
        size = 128 if step < run.progressive_until and cfg.size > 128 else cfg.size
        rng = np.random.default_rng([cfg.seed, step, rank])
        b = _resize(augment(sample_pairs(train_a, cfg.batch, rng, weights), rng, cfg.aug), size)
        if run.patch and cfg.stage in IMAGE_STAGES:
            b = _random_window(b, run.patch, rng)
        b = b.to(dev)
        if "d" in opts:
            dl = discriminator_loss(cfg, models, b)
            _check_finite(step, dl, b, out_dir)
            opts["d"].zero_grad(set_to_none=True)
            sum(dl.values()).backward()  # type: ignore[union-attr]
            _allreduce_grads(d_params, world)
            opts["d"].step()
        else:
            dl = {}
        g = generator_step(cfg, models, b, edges)
        _check_finite(step, {**g.losses, "total": g.total}, b, out_dir)
        opts["g"].zero_grad(set_to_none=True)
        g.total.backward()
        _allreduce_grads(gen_params, world)
        opts["g"].step()
        step += 1
        bar.update(1)
        if out_dir is None:
            continue
        if step % run.log_every == 0 or step == run.steps:
            row = {"step": float(step), **{k: float(v.detach()) for k, v in {**g.losses, **dl}.items()}}
            history.append(row)
            bar.set_postfix(loss=f"{g.total.item():.4f}")
            if writer:
                for k, v in row.items():
                    if k != "step":
                        writer.add_scalar(f"train/{k}", v, step)
        if val and (step % run.val_every == 0 or step == run.steps):
            metrics, sample = validate(cfg, models, val, size, lt_net)
            history.append({"step": float(step), **metrics})
            log.info("step %d %s", step, " ".join(f"{k}={v:.5f}" for k, v in metrics.items()))
            if writer:
                for k, v in metrics.items():
                    writer.add_scalar(k, v, step)
            if sample is not None:
                save_grid(out_dir / "samples" / f"step{step:07d}.png", sample)
            save_curves(out_dir / "curves.png", history)
        if step % run.ckpt_every == 0 or step == run.steps:
            save_checkpoint(
                out_dir / "checkpoint.pt",
                cfg,
                step,
                models,
                opts,
                {**extra, "history": history, "metrics": metrics},
            )
    bar.close()
    if writer:
        writer.close()
    if world > 1:
        dist.barrier()
    return metrics


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="facegan-train", description=__doc__.split("\n")[0])
    p.add_argument("stage", choices=["la", "lt", "gr", "gb", "joint"])
    p.add_argument("--data", type=Path, required=True, help="prepared dataset folder (facegan-prepare)")
    p.add_argument(
        "--out", type=Path, required=True, help="run folder: checkpoint.pt, tb/, curves.png, samples/"
    )
    p.add_argument("--config", choices=["tiny", "lite", "full"], default="lite")
    p.add_argument("--steps", type=int, default=1000, help="total steps (a resumed run continues up to this)")
    p.add_argument("--size", type=int, default=128, help="image size for Gr/Gb (128 or 256; tiny allows 64)")
    p.add_argument("--batch", type=int, default=None, help="batch per process (default: from --config)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--resume", type=Path, default=None, help="checkpoint (or run folder) to continue from")
    p.add_argument("--la", type=Path, default=None, help="lt stage: La checkpoint for eq. 3")
    p.add_argument(
        "--lt", type=Path, default=None, help="joint stage: LT checkpoint for the with-LT validation metric"
    )
    p.add_argument("--init-gr", type=Path, default=None, help="joint stage: start Gr from this checkpoint")
    p.add_argument("--init-gb", type=Path, default=None, help="joint stage: start Gb from this checkpoint")
    p.add_argument(
        "--progressive-until",
        type=int,
        default=None,
        help="train at 128 up to this step, then at --size (default: half of --steps when --size > 128)",
    )
    p.add_argument("--val-every", type=int, default=200)
    p.add_argument("--ckpt-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--val-pairs", type=int, default=64)
    p.add_argument("--max-frames", type=int, default=None, help="frames kept per track in memory")
    p.add_argument(
        "--patch",
        type=int,
        default=0,
        help="Gr/Gb: train on random PATCHxPATCH windows of the --size images (validation on whole images)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-tensorboard", action="store_true")
    return p.parse_args(argv)


def config_and_run(a: argparse.Namespace) -> tuple[TrainConfig, RunOptions]:
    cfg = preset(a.stage, a.config, a.size)
    cfg = replace(
        cfg, seed=a.seed, val_fraction=a.val_fraction, batch=a.batch or cfg.batch, lr=a.lr or cfg.lr
    )
    mult = max(u.space_to_depth * 2 ** (len(u.widths) - 1) for u in (cfg.gr.unet, cfg.gb.unet))
    if a.stage in IMAGE_STAGES and a.size % mult:
        raise ValueError(f"--size {a.size} must be a multiple of {mult} for the {a.config} U-Net")
    default_prog = a.steps // 2 if a.size > 128 and not a.patch else 0
    prog = a.progressive_until if a.progressive_until is not None else default_prog
    if a.patch and a.patch % mult:
        raise ValueError(f"--patch {a.patch} must be a multiple of {mult} for the {a.config} U-Net")
    run = RunOptions(
        a.data,
        a.out,
        a.steps,
        a.resume,
        a.la,
        a.init_gr,
        a.init_gb,
        a.val_every,
        a.ckpt_every,
        a.log_every,
        a.val_pairs,
        prog,
        a.max_frames,
        a.device,
        not a.no_tensorboard,
        lt_ckpt=a.lt,
        patch=a.patch,
    )
    return cfg, run


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        cfg, run = config_and_run(a)
        metrics = train(cfg, run)
    except (ValueError, FileNotFoundError, NonFiniteLoss) as e:
        print(f"facegan-train: error: {e}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    print(" ".join(f"{k}={v:.5f}" for k, v in metrics.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
