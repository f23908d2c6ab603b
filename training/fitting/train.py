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
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from training.data.dataset import (
    PairBatch,
    TrackArrays,
    TrackInfo,
    augment,
    load_track,
    open_dataset,
    random_window,
    resize_batch,
    sample_pairs,
    split_identities,
    track_weights,
)
from training.fitting.config import (
    STAGES,
    TrainConfig,
    config_mismatch,
    load_checkpoint,
    preset,
    save_checkpoint,
)
from training.fitting.run_log import save_curves, save_grid
from training.fitting.stages import STAGE_CLASSES, StageInputs, TrainingStage, make_stage, validate
from training.models import (
    MODEL_VARIANTS,
    GrConfig,
    LandmarkTransformer,
    gr_config,
)

log = logging.getLogger(__name__)


def make_optimizers(cfg: TrainConfig, stage: TrainingStage) -> dict[str, torch.optim.Optimizer]:
    gen = [p for net in stage.trainable() for p in net.parameters()]
    opts = {"g": torch.optim.Adam(gen, lr=cfg.lr, betas=stage.betas)}
    disc = [p for net in stage.discriminators() for p in net.parameters()]
    if disc:
        opts["d"] = torch.optim.Adam(disc, lr=cfg.lr_d, betas=stage.betas)
    return opts


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
    images = STAGE_CLASSES[cfg.stage].images()
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


@dataclass(frozen=True)
class TrainData:
    """The training tracks in memory, their sampling weights, and the fixed validation batches."""

    train: list[TrackArrays]
    weights: np.ndarray
    val: list[PairBatch]
    train_tracks: tuple[TrackInfo, ...]
    val_tracks: tuple[TrackInfo, ...]


def _load_data(cfg: TrainConfig, run: RunOptions, dev: torch.device) -> TrainData:
    ds = open_dataset(run.data)
    train_t, val_t = split_identities(ds, cfg.val_fraction, cfg.seed)
    if not cfg.stills:
        train_t = tuple(t for t in train_t if t.kind == "video")
    if not train_t:
        raise ValueError(f"{run.data}: no training identities left after holding out validation")
    train_a = _load_arrays(train_t, ds.crop_size, cfg, run.max_frames)
    val_a = _load_arrays(val_t, ds.crop_size, cfg, run.max_frames)
    vrng = np.random.default_rng([cfg.seed, 7])
    n_val = max(1, run.val_pairs // cfg.batch)
    val = (
        [sample_pairs(val_a, cfg.batch, vrng, track_weights(val_a)).to(dev) for _ in range(n_val)]
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
    return TrainData(train_a, track_weights(train_a), val, train_t, val_t)


def _init_from(stage: TrainingStage, run: RunOptions) -> None:
    """--init-gr / --init-gb: start Gr or Gb (and its discriminator, where shapes agree) from a checkpoint."""
    nets = stage.networks()
    for name, path in (("gr", run.init_gr), ("gb", run.init_gb)):
        if path is None or name not in nets:
            continue
        saved = load_checkpoint(path)["models"]
        nets[name].load_state_dict(saved[name])
        disc = f"d_{name}"  # its discriminator too, where the checkpoint has one of the same shape
        if disc in nets and disc in saved:
            try:
                nets[disc].load_state_dict(saved[disc])
            except RuntimeError:
                log.info("init: %s of %s has another shape; %s starts from scratch", disc, path, disc)


def _resume(
    cfg: TrainConfig, run: RunOptions, stage: TrainingStage, opts: dict[str, torch.optim.Optimizer]
) -> tuple[int, list[dict[str, float]]]:
    """(step, history) of the checkpoint `run.resume`, its weights, optimiser and RNG state restored."""
    if run.resume is None:
        return 0, []
    ck = load_checkpoint(run.resume)
    diff = config_mismatch(ck["config"], cfg)
    if diff:
        raise ValueError(f"cannot resume from {run.resume}: its config differs in " + "; ".join(diff))
    for k, mod in stage.networks().items():
        mod.load_state_dict(ck["models"][k])
    for k, o in opts.items():
        o.load_state_dict(ck["optims"][k])
        lr = cfg.lr if k == "g" else cfg.lr_d
        for group in o.param_groups:
            if group["lr"] != lr:
                log.info("resume: %s learning rate %g -> %g", k, group["lr"], lr)
            group["lr"] = lr
    torch.set_rng_state(ck["rng"]["torch"])
    return ck["step"], ck.get("history", [])


def _validation_lt(run: RunOptions, stage: TrainingStage, dev: torch.device) -> nn.Module | None:
    """The trained LT of Table 1's "with LT" metric (joint stage, --lt), frozen."""
    if run.lt_ckpt is None or not stage.uses_lt_for_validation:
        return None
    lt_ck = load_checkpoint(run.lt_ckpt)
    lt_net = LandmarkTransformer(lt_ck["config"].lt).to(dev).eval()
    lt_net.load_state_dict(lt_ck["models"]["lt"])
    return lt_net


def _run_info(run: RunOptions, data: TrainData, world: int, dev: torch.device) -> dict[str, Any]:
    """What goes into every checkpoint beside the model (for the model card)."""
    hw = (
        torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    )
    return {
        "hardware": f"{world} x {hw}",
        "dataset": str(run.data),
        "val_identities": sorted({t.identity for t in data.val_tracks}),
        "world_size": world,
        # how the run was driven (not part of the model config, may change between resumes; for the model card)
        "run": {"patch": run.patch, "max_frames": run.max_frames, "progressive_until": run.progressive_until},
    }


def _optimise(
    stage: TrainingStage,
    opts: dict[str, torch.optim.Optimizer],
    b: PairBatch,
    edges: torch.Tensor,
    step: int,
    world: int,
    out_dir: Path | None,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    """One D step (image stages) then one G step; returns (G losses, D losses, G total)."""
    dl: dict[str, torch.Tensor] = {}
    if "d" in opts:
        dl = stage.discriminator_loss(b)
        _check_finite(step, dl, b, out_dir)
        opts["d"].zero_grad(set_to_none=True)
        sum(dl.values()).backward()  # type: ignore[union-attr]
        _allreduce_grads([p for net in stage.discriminators() for p in net.parameters()], world)
        opts["d"].step()
    g = stage.generator_step(b, edges)
    _check_finite(step, {**g.losses, "total": g.total}, b, out_dir)
    gen_params = [p for net in stage.trainable() for p in net.parameters()]
    opts["g"].zero_grad(set_to_none=True)
    g.total.backward()
    _allreduce_grads(gen_params, world)
    if stage.cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(gen_params, stage.cfg.grad_clip)
    opts["g"].step()
    return g.losses, dl, g.total


def train(cfg: TrainConfig, run: RunOptions) -> dict[str, float]:
    """Train one stage; returns the last validation metrics. Rank 0 writes everything under run.out."""
    from tqdm import tqdm

    from realtime.face.topology import CONTOUR_EDGES

    # 1. processes, seeds, data
    rank, world, dev = _dist_setup(run.device)
    torch.manual_seed(cfg.seed)
    data = _load_data(cfg, run, dev)
    # 2. the stage's networks (built in a fixed order from the seed), optimisers, resume
    stage = make_stage(cfg, StageInputs(la=run.la_ckpt))
    cfg = stage.cfg  # the lt stage takes La's config from La's checkpoint
    _init_from(stage, run)
    for mod in stage.networks().values():
        mod.to(dev)
    opts = make_optimizers(cfg, stage)
    step, history = _resume(cfg, run, stage, opts)
    best = min((h[stage.best_metric] for h in history if stage.best_metric in h), default=float("inf"))
    if world > 1:
        for mod in stage.networks().values():
            for t in list(mod.parameters()) + list(mod.buffers()):
                dist.broadcast(t.data, 0)
    edges = torch.tensor(CONTOUR_EDGES, device=dev)
    lt_net = _validation_lt(run, stage, dev)
    # 3. outputs (rank 0)
    out_dir = run.out if rank == 0 else None
    writer = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        if run.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out_dir / "tb"))
    extra = _run_info(run, data, world, dev)
    metrics: dict[str, float] = {}
    # 4. the loop: a batch, one optimisation step, then (rank 0) logs, validation, checkpoints
    bar = tqdm(total=run.steps, initial=step, disable=rank != 0, desc=cfg.stage, mininterval=2.0)
    while step < run.steps:
        size = 128 if step < run.progressive_until and cfg.size > 128 else cfg.size
        rng = np.random.default_rng([cfg.seed, step, rank])
        b = resize_batch(augment(sample_pairs(data.train, cfg.batch, rng, data.weights), rng, cfg.aug), size)
        if run.patch and stage.images():
            b = random_window(b, run.patch, rng)
        losses, dl, total = _optimise(stage, opts, b.to(dev), edges, step, world, out_dir)
        step += 1
        bar.update(1)
        if out_dir is None:
            continue
        if step % run.log_every == 0 or step == run.steps:
            row = {"step": float(step), **{k: float(v.detach()) for k, v in {**losses, **dl}.items()}}
            history.append(row)
            bar.set_postfix(loss=f"{total.item():.4f}")
            if writer:
                for k, v in row.items():
                    if k != "step":
                        writer.add_scalar(f"train/{k}", v, step)
        if data.val and (step % run.val_every == 0 or step == run.steps):
            metrics, sample = validate(stage, data.val, size, lt_net)
            history.append({"step": float(step), **metrics})
            log.info("step %d %s", step, " ".join(f"{k}={v:.5f}" for k, v in metrics.items()))
            if writer:
                for k, v in metrics.items():
                    writer.add_scalar(k, v, step)
            if sample is not None:
                save_grid(out_dir / "samples" / f"step{step:07d}.png", sample)
            save_curves(out_dir / "curves.png", history)
            if (
                metrics.get(stage.best_metric, float("inf")) < best
            ):  # held-out people decide, not the last step
                best = metrics[stage.best_metric]
                info = {**extra, "history": history, "metrics": metrics}
                save_checkpoint(out_dir / "best.pt", cfg, step, stage.networks(), opts, info)
        if step % run.ckpt_every == 0 or step == run.steps:
            info = {**extra, "history": history, "metrics": metrics}
            save_checkpoint(out_dir / "checkpoint.pt", cfg, step, stage.networks(), opts, info)
    # 5. close
    bar.close()
    if writer:
        writer.close()
    if world > 1:
        dist.barrier()
    return metrics


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="facegan-train", description=__doc__.split("\n")[0])
    p.add_argument("stage", choices=STAGES)
    p.add_argument("--data", type=Path, required=True, help="prepared dataset folder (facegan-prepare)")
    p.add_argument(
        "--out", type=Path, required=True, help="run folder: checkpoint.pt, tb/, curves.png, samples/"
    )
    p.add_argument("--config", choices=MODEL_VARIANTS, default="lite")
    p.add_argument("--steps", type=int, default=1000, help="total steps (a resumed run continues up to this)")
    p.add_argument("--size", type=int, default=128, help="image size for Gr/Gb (128 or 256; tiny allows 64)")
    p.add_argument("--batch", type=int, default=None, help="batch per process (default: from --config)")
    p.add_argument(
        "--lr", type=float, default=None, help="generator learning rate (may change when resuming)"
    )
    p.add_argument(
        "--lr-d", type=float, default=None, help="discriminator learning rate (may change when resuming)"
    )
    p.add_argument("--grad-clip", type=float, default=0.0, help="clip the generator gradient norm (0: off)")
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
    p.add_argument("--warp", action="store_true", help="Gr with the warping step (flow from ls to lt)")
    p.add_argument("--flow-sigma", type=float, default=None, help="warping Gr: local flow kernel width")
    p.add_argument("--flow-wide", type=float, default=None, help="warping Gr: wide flow kernel width")
    p.add_argument(
        "--detach-seg", action="store_true", help="joint: keep Gb's losses off Gr's segmentation head"
    )
    p.add_argument("--no-flip", action="store_true", help="no horizontal flips (data-efficiency comparison)")
    p.add_argument("--no-stills", action="store_true", help="video tracks only, no still photos")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-tensorboard", action="store_true")
    return p.parse_args(argv)


def _flow_widths(gr: GrConfig, sigma: float | None, wide: float | None) -> GrConfig:
    if (sigma or wide) and not gr.warp:
        raise ValueError("--flow-sigma/--flow-wide need --warp")
    return replace(gr, flow_sigma=sigma or gr.flow_sigma, flow_wide=wide or gr.flow_wide)


def config_and_run(a: argparse.Namespace) -> tuple[TrainConfig, RunOptions]:
    cfg = preset(a.stage, a.config, a.size)
    cfg = replace(
        cfg,
        seed=a.seed,
        val_fraction=a.val_fraction,
        batch=a.batch or cfg.batch,
        lr=a.lr or cfg.lr,
        lr_d=a.lr_d or cfg.lr_d,
        grad_clip=a.grad_clip,
        gr=_flow_widths(gr_config(a.config, warp=a.warp), a.flow_sigma, a.flow_wide),
        aug=replace(cfg.aug, flip=0.0) if a.no_flip else cfg.aug,
        stills=not a.no_stills,
        detach_seg=a.detach_seg,
    )
    mult = max(u.space_to_depth * 2 ** (len(u.widths) - 1) for u in (cfg.gr.unet, cfg.gb.unet))
    if STAGE_CLASSES[a.stage].images() and a.size % mult:
        raise ValueError(f"--size {a.size} must be a multiple of {mult} for the {a.config} U-Net")
    default_prog = a.steps // 2 if a.size > 128 and not a.patch else 0
    prog = a.progressive_until if a.progressive_until is not None else default_prog
    if a.patch and a.patch % mult:
        raise ValueError(f"--patch {a.patch} must be a multiple of {mult} for the {a.config} U-Net")
    run = RunOptions(
        data=a.data,
        out=a.out,
        steps=a.steps,
        resume=a.resume,
        la_ckpt=a.la,
        init_gr=a.init_gr,
        init_gb=a.init_gb,
        val_every=a.val_every,
        ckpt_every=a.ckpt_every,
        log_every=a.log_every,
        val_pairs=a.val_pairs,
        progressive_until=prog,
        max_frames=a.max_frames,
        device=a.device,
        tensorboard=not a.no_tensorboard,
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
