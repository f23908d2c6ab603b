"""What a training run trains and how it is stored: TrainConfig and its presets, the networks a stage builds,
checkpoints (config saved inside, compared on resume)."""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import nn

from training.data.dataset import (
    AugConfig,
)
from training.models import (
    DiscConfig,
    GbConfig,
    GrConfig,
    LaConfig,
    LTConfig,
    ModelVariant,
    disc_config,
    gb_config,
    gr_config,
)

log = logging.getLogger(__name__)
Stage = Literal["la", "lt", "gr", "gb", "joint"]
STAGES: tuple[Stage, ...] = get_args(Stage)
Variant = ModelVariant
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
    grad_clip: float = 0.0
    """Clip the generator's gradient to this global norm (0: off); may change on resume."""
    detach_seg: bool = False
    """Joint stage: Gb's losses do not reach Gr's segmentation head (through face * (hair + face))."""
    stills: bool = True
    """Train on still-photo tracks too (pairs made by synthetic motion); False: video tracks only."""


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


RESUMABLE_CHANGES = ("lr", "lr_d", "grad_clip")
"""Fields a resumed run may change: how the run is driven, not what is trained (the new learning rates replace
the optimiser's)."""


def config_mismatch(saved: TrainConfig, current: TrainConfig) -> list[str]:
    a, b = _flatten(asdict(saved)), _flatten(asdict(current))
    return [
        f"{k}: checkpoint {a.get(k)!r} vs now {b.get(k)!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k) and k not in RESUMABLE_CHANGES
    ]


# ---------------------------------------------------------------- checkpoints


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
