"""One class per training stage: its networks, its losses (the paper's eqs. 1-11) and its validation metrics.

    la     AU regressor La (landmarks -> AUd), needed frozen inside LT's eq. 3
    lt     landmark transformer LT, eqs. 1-4
    gr     face reenactor Gr with its discriminator, eqs. 5-8
    gb     background mixer Gb on true foregrounds, with its discriminator, eqs. 9-11
    joint  Gr -> Gb end to end (engines.compose's foreground step between them), eqs. 5-11

`make_stage(cfg, inputs)` is the one place a stage name becomes behaviour; the training loop only calls the
methods of TrainingStage. Networks are typed attributes of each stage; `networks()` names them as checkpoints do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engines.compose import ChainNets, foreground, reenact
from training.data.dataset import ImagePairs, PairBatch, resize_batch
from training.fitting import losses as L
from training.fitting.config import IMAGE_STAGES, Stage, TrainConfig, load_checkpoint
from training.models import (
    AURegressor,
    BackgroundMixer,
    FaceReenactor,
    LandmarkTransformer,
    MultiScaleDiscriminator,
)
from training.models.gr import warp_source

Metrics = dict[str, list[float]]
"""Validation values per metric name, averaged over the validation batches."""


@dataclass(frozen=True)
class StepOut:
    losses: dict[str, torch.Tensor]
    total: torch.Tensor
    output: torch.Tensor | None = None  # (B, 3, S, S) image for sample grids


@dataclass(frozen=True)
class StageInputs:
    """Trained networks a stage reads from earlier runs."""

    la: Path | None = None
    """lt stage: the La checkpoint, frozen inside eq. 3 (required)."""


def _add(acc: Metrics, key: str, value: float) -> None:
    acc.setdefault(key, []).append(value)


def _face_mse(x: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """MSE over the pixels of `mask` (B, 1, S, S), per colour channel."""
    return float(((x - target) ** 2 * mask).sum() / (mask.sum() * 3).clamp(min=1))


def _split_d(feats: list[list[torch.Tensor]], n: int) -> torch.Tensor:
    """Eqs. 7 and 10, D side, on features of [fake; real] run through D as one batch."""
    return L.adversarial_d([[f[:n] for f in s] for s in feats], [[f[n:] for f in s] for s in feats])


class TrainingStage:
    """What the training loop needs of a stage. Subclasses build their networks in `__init__`, in a fixed order
    (it decides the initial weights drawn from the seeded RNG)."""

    name: ClassVar[Stage]
    best_metric: ClassVar[str]
    """The validation metric (lower is better) by which `best.pt` is kept beside `checkpoint.pt`."""
    uses_lt_for_validation: ClassVar[bool] = False
    """Reports Table 1's "with LT" self-reenactment when a trained LT is given (`--lt`)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg

    @classmethod
    def create(cls, cfg: TrainConfig, inputs: StageInputs) -> TrainingStage:
        return cls(cfg)  # type: ignore[call-arg]

    @classmethod
    def images(cls) -> bool:
        """Loads images and masks (Gr/Gb), not landmarks alone."""
        return cls.name in IMAGE_STAGES

    def networks(self) -> dict[str, nn.Module]:
        """Every network of the stage by its checkpoint name, in build order."""
        raise NotImplementedError

    def trainable(self) -> list[nn.Module]:
        """The networks the generator optimiser trains, in order (the optimiser state is saved in it)."""
        raise NotImplementedError

    def discriminators(self) -> list[nn.Module]:
        return []

    @property
    def betas(self) -> tuple[float, float]:
        return (0.5, 0.999) if self.images() else (0.9, 0.999)  # GAN stages: the usual 0.5

    def generator_step(self, b: PairBatch, edges: torch.Tensor) -> StepOut:
        raise NotImplementedError

    def discriminator_loss(self, b: PairBatch) -> dict[str, torch.Tensor]:
        return {}

    def validate_batch(self, b: PairBatch, acc: Metrics, lt_net: nn.Module | None) -> torch.Tensor | None:
        """Adds this batch's metrics to `acc`; returns the output image for the sample grid (image stages)."""
        raise NotImplementedError


class LaStage(TrainingStage):
    name = "la"
    best_metric = "val/aud_mse"

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        self.la = AURegressor(cfg.la)

    def networks(self) -> dict[str, nn.Module]:
        return {"la": self.la}

    def trainable(self) -> list[nn.Module]:
        return [self.la]

    def generator_step(self, b: PairBatch, edges: torch.Tensor) -> StepOut:
        out = {"au": F.mse_loss(self.la(b.ld), b.aud_d)}
        return StepOut(out, out["au"])

    def validate_batch(self, b: PairBatch, acc: Metrics, lt_net: nn.Module | None) -> torch.Tensor | None:
        _add(acc, "val/aud_mse", F.mse_loss(self.la(b.ld), b.aud_d).item())
        return None


class LtStage(TrainingStage):
    """LT with eqs. 1-4; La, trained before, frozen inside eq. 3 (its config is taken from its checkpoint)."""

    name = "lt"
    best_metric = "val/lt_landmark_l1"

    @classmethod
    def create(cls, cfg: TrainConfig, inputs: StageInputs) -> TrainingStage:
        return cls(cfg, inputs.la)

    def __init__(self, cfg: TrainConfig, la_ckpt: Path | None) -> None:
        if la_ckpt is None:
            raise ValueError(
                "the lt stage needs a trained La for eq. 3: run `facegan-train la ...` and pass --la CKPT"
            )
        la_ck = load_checkpoint(la_ckpt)
        super().__init__(replace(cfg, la=la_ck["config"].la))
        self.la = AURegressor(self.cfg.la)
        self.lt = LandmarkTransformer(self.cfg.lt)
        self.la.load_state_dict(la_ck["models"]["la"])
        self.la.requires_grad_(False)

    def networks(self) -> dict[str, nn.Module]:
        return {"la": self.la, "lt": self.lt}

    def trainable(self) -> list[nn.Module]:
        return [self.lt]

    def generator_step(self, b: PairBatch, edges: torch.Tensor) -> StepOut:
        w = self.cfg.weights
        lt = self.lt(b.ls, b.aud_d)  # (B, 478, 2)
        out = {
            "eq1_landmark": L.landmark_l1(lt, b.ld),
            "eq2_displacement": L.displacement_l2(lt - b.ls),
            "eq3_au": L.au_consistency(self.la(lt), b.aud_d),
            "eq4_connectivity": L.connectivity(lt, b.ld, edges),
        }
        total = (
            w.landmark * out["eq1_landmark"]
            + w.displacement * out["eq2_displacement"]
            + w.au * out["eq3_au"]
            + w.connectivity * out["eq4_connectivity"]
        )
        return StepOut(out, total)

    def validate_batch(self, b: PairBatch, acc: Metrics, lt_net: nn.Module | None) -> torch.Tensor | None:
        lt = self.lt(b.ls, b.aud_d)
        _add(acc, "val/lt_landmark_l1", (lt - b.ld).abs().mean().item())
        _add(acc, "val/no_motion_landmark_l1", (b.ls - b.ld).abs().mean().item())
        return None


class GrPart:
    """Gr and its discriminator (conditioned on Ht): eqs. 5-8. Shared by the gr and joint stages."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.gr = FaceReenactor(cfg.gr)
        self.d_gr = MultiScaleDiscriminator(replace(cfg.disc, in_channels=4))

    def losses(
        self, b: ImagePairs
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        """(losses, their weighted sum, face Ifr, segmentation probabilities), Gr driven by the driving landmarks."""
        w, fg_d = self.cfg.weights, b.fg_d
        # The order of these calls is the order autograd sums gradients in: kept as trained, so runs reproduce.
        face, seg_logits, ht = self.gr.forward_logits(b.src, b.ld, b.ls, b.extent)
        out = {"eq5_pixel": L.pixel_l1(face, b.drv, fg_d)}
        fake = self.d_gr(torch.cat([face * fg_d, ht], 1))
        real = self.d_gr(torch.cat([b.drv * fg_d, ht], 1))
        out["eq6_feature"] = L.feature_matching(fake, real)
        out["eq7_adv"] = L.adversarial_g(fake)
        out["eq8_seg"] = L.segmentation_ce(seg_logits, b.seg_d)
        total = (
            w.pixel * out["eq5_pixel"]
            + w.feature * out["eq6_feature"]
            + w.adversarial * out["eq7_adv"]
            + w.segmentation * out["eq8_seg"]
        )
        return out, total, face, torch.softmax(seg_logits, 1)

    @torch.no_grad()
    def fake(self, b: ImagePairs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(face, Ht, foreground) for the discriminator step."""
        face, seg_logits, ht = self.gr.forward_logits(b.src, b.ld, b.ls, b.extent)
        return face, ht, foreground(face, torch.softmax(seg_logits, 1))

    def d_loss(self, b: ImagePairs, face: torch.Tensor, ht: torch.Tensor) -> torch.Tensor:
        fg_d = b.fg_d
        feats = self.d_gr(torch.cat([torch.cat([face * fg_d, ht], 1), torch.cat([b.drv * fg_d, ht], 1)]))
        return _split_d(feats, b.src.shape[0])

    def metrics(self, b: ImagePairs, face: torch.Tensor, seg: torch.Tensor, acc: Metrics) -> None:
        fg_d = b.fg_d
        _add(acc, "val/gr_face_mse", _face_mse(face, b.drv, fg_d))
        # the bars to beat: copying the source, and (with the warping step) the warp alone
        _add(acc, "val/copy_source_face_mse", _face_mse(b.src, b.drv, fg_d))
        if self.cfg.gr.warp:
            _add(
                acc,
                "val/warp_only_face_mse",
                _face_mse(warp_source(b.src, b.ls, b.ld, self.cfg.gr), b.drv, fg_d),
            )
        _add(acc, "val/seg_accuracy", (seg.argmax(1) == b.seg_d).float().mean().item())


class GbPart:
    """Gb and its discriminator: eqs. 9-11 (eq. 9's Ir = M * Ic + (1 - M) * Ib is inside Gb). Shared by gb, joint."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.gb = BackgroundMixer(cfg.gb)
        self.d_gb = MultiScaleDiscriminator(replace(cfg.disc, in_channels=3))

    def losses(
        self, b: ImagePairs, face_in: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """(losses, their weighted sum, image Ir) for Gb on the foreground `face_in` and the true Ib."""
        w = self.cfg.weights
        image, mask = self.gb(face_in, b.ib)  # call order as in GrPart.losses
        out = {"eq9_pixel": L.pixel_l1(image, b.drv)}
        fake, real = self.d_gb(image), self.d_gb(b.drv)
        out["eq9_feature"] = L.feature_matching(fake, real)
        out["eq10_adv"] = L.adversarial_g(fake)
        out["eq11_mask"] = L.mask_regularisation(mask)
        total = (
            w.pixel * out["eq9_pixel"]
            + w.feature * out["eq9_feature"]
            + w.adversarial * out["eq10_adv"]
            + w.mask * out["eq11_mask"]
        )
        return out, total, image

    @torch.no_grad()
    def fake(self, b: ImagePairs, face_in: torch.Tensor) -> torch.Tensor:
        return self.gb(face_in, b.ib)[0]

    def d_loss(self, b: ImagePairs, image: torch.Tensor) -> torch.Tensor:
        return _split_d(self.d_gb(torch.cat([image, b.drv])), b.src.shape[0])


class GrStage(TrainingStage):
    name = "gr"
    best_metric = "val/gr_face_mse"

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        self.r = GrPart(cfg)

    def networks(self) -> dict[str, nn.Module]:
        return {"gr": self.r.gr, "d_gr": self.r.d_gr}

    def trainable(self) -> list[nn.Module]:
        return [self.r.gr]

    def discriminators(self) -> list[nn.Module]:
        return [self.r.d_gr]

    def generator_step(self, b: PairBatch, edges: torch.Tensor) -> StepOut:
        im = b.images()
        out, total, face, _ = self.r.losses(im)
        return StepOut(out, im.src.new_zeros(()) + total, face * im.fg_d)

    def discriminator_loss(self, b: PairBatch) -> dict[str, torch.Tensor]:
        im = b.images()
        face, ht, _ = self.r.fake(im)
        return {"d_gr": self.r.d_loss(im, face, ht)}

    def validate_batch(self, b: PairBatch, acc: Metrics, lt_net: nn.Module | None) -> torch.Tensor | None:
        im = b.images()
        face, seg = self.r.gr(im.src, im.ld, im.ls)
        self.r.metrics(im, face, seg, acc)
        return face * im.fg_d


class GbStage(TrainingStage):
    """Gb alone on the true driving foreground, a stand-in for Ifr * (hair + face) (DESIGN.md section 5)."""

    name = "gb"
    best_metric = "val/gb_mse_true_foreground"

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        self.m = GbPart(cfg)

    def networks(self) -> dict[str, nn.Module]:
        return {"gb": self.m.gb, "d_gb": self.m.d_gb}

    def trainable(self) -> list[nn.Module]:
        return [self.m.gb]

    def discriminators(self) -> list[nn.Module]:
        return [self.m.d_gb]

    def generator_step(self, b: PairBatch, edges: torch.Tensor) -> StepOut:
        im = b.images()
        out, total, image = self.m.losses(im, im.drv * im.fg_d)
        return StepOut(out, im.src.new_zeros(()) + total, image)

    def discriminator_loss(self, b: PairBatch) -> dict[str, torch.Tensor]:
        im = b.images()
        return {"d_gb": self.m.d_loss(im, self.m.fake(im, im.drv * im.fg_d))}

    def validate_batch(self, b: PairBatch, acc: Metrics, lt_net: nn.Module | None) -> torch.Tensor | None:
        im = b.images()
        out, _ = self.m.gb(im.drv * im.fg_d, im.ib)
        _add(acc, "val/gb_mse_true_foreground", F.mse_loss(out, im.drv).item())
        return out


class JointStage(TrainingStage):
    """Gr -> Gb end to end; with `detach_seg` Gb's losses reach Gr's pixels but not its segmentation (eq. 8 alone
    trains it: a plain joint run degraded Gr on held-out people)."""

    name = "joint"
    best_metric = "val/self_reenactment_mse"
    uses_lt_for_validation = True

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__(cfg)
        self.r = GrPart(cfg)
        self.m = GbPart(cfg)

    def networks(self) -> dict[str, nn.Module]:
        return {"gr": self.r.gr, "d_gr": self.r.d_gr, "gb": self.m.gb, "d_gb": self.m.d_gb}

    def trainable(self) -> list[nn.Module]:
        return [self.r.gr, self.m.gb]

    def discriminators(self) -> list[nn.Module]:
        return [self.r.d_gr, self.m.d_gb]

    def generator_step(self, b: PairBatch, edges: torch.Tensor) -> StepOut:
        im = b.images()
        out_r, total_r, face, prob = self.r.losses(im)
        if self.cfg.detach_seg:
            prob = prob.detach()
        out_m, total_m, image = self.m.losses(im, foreground(face, prob))
        return StepOut({**out_r, **out_m}, im.src.new_zeros(()) + total_r + total_m, image)

    def discriminator_loss(self, b: PairBatch) -> dict[str, torch.Tensor]:
        im = b.images()
        face, ht, face_in = self.r.fake(im)
        image = self.m.fake(im, face_in)
        return {"d_gr": self.r.d_loss(im, face, ht), "d_gb": self.m.d_loss(im, image)}

    def validate_batch(self, b: PairBatch, acc: Metrics, lt_net: nn.Module | None) -> torch.Tensor | None:
        im = b.images()
        nets = ChainNets(gr=self.r.gr, gb=self.m.gb, lt=lt_net)
        step = reenact(nets, im.src, im.ls, im.ib, lt=im.ld)  # the chain on the driving frame's own landmarks
        self.r.metrics(im, step.face, step.seg, acc)
        _add(acc, "val/self_reenactment_mse", F.mse_loss(step.image, im.drv).item())
        if lt_net is not None:  # Table 1's "with LT": Gr driven by LT(ls, AUd)
            with_lt = reenact(nets, im.src, im.ls, im.ib, aud=im.aud_d).image
            _add(acc, "val/self_reenactment_mse_with_lt", F.mse_loss(with_lt, im.drv).item())
        return step.image


STAGE_CLASSES: dict[Stage, type[TrainingStage]] = {
    s.name: s for s in (LaStage, LtStage, GrStage, GbStage, JointStage)
}


def make_stage(cfg: TrainConfig, inputs: StageInputs | None = None) -> TrainingStage:
    return STAGE_CLASSES[cfg.stage].create(cfg, inputs or StageInputs())


def build_models(cfg: TrainConfig) -> dict[str, nn.Module]:
    """The networks of a checkpoint's stage by name, freshly built (facegan-export loads weights into them).
    The lt stage's La is built from `cfg.la` here, untrained."""
    if cfg.stage == "lt":
        return {"la": AURegressor(cfg.la), "lt": LandmarkTransformer(cfg.lt)}
    return make_stage(cfg).networks()


@torch.no_grad()
def validate(
    stage: TrainingStage, val: list[PairBatch], size: int, lt_net: nn.Module | None = None
) -> tuple[dict[str, float], tuple[torch.Tensor, ...] | None]:
    """Metrics on fixed pairs of held-out people (no augmentation), and a sample (source, driving, output)."""
    nets = stage.networks().values()
    for net in nets:
        net.eval()
    acc: Metrics = {}
    sample = None
    for b in val:
        b = resize_batch(b, size)
        out = stage.validate_batch(b, acc, lt_net)
        if sample is None and out is not None and b.src is not None and b.drv is not None:
            sample = (b.src[:4], b.drv[:4], out[:4])
    for net in nets:
        net.train()
    return {k: float(np.mean(v)) for k, v in acc.items()}, sample
