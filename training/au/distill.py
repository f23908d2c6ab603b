"""`facegan-distill-au`: distil the Face Landmarker teacher's AUs into the project's small AU head.

Steps (each a function below):
 1. sample frames of ../shared/data/dev (every k-th video frame, frame folders, photos; MANIFEST.csv gives
    the identity of every file);
 2. on each frame run BOTH the run-time mesh (image mode: what the student sees) and the teacher; keep the
    frame when both find the same largest face; cache (mesh landmarks, teacher AUs, identity) in an .npz
    outside the repo, so retraining is cheap;
 3. features = realtime.face.au_head.au_features(landmarks, mean_face); train the MLP of
    training/models/au_head.py with whole identities held out (seeded); left/right mirror augmentation with
    the mesh's mirror index map (the 17 AU targets are left/right averages, so a mirrored face keeps them);
 4. report per-AU MAE and Pearson correlation against the teacher on the held-out identities;
 5. export realtime/weights/au_head.onnx (fp16 initializers, Cast to float32 inside the graph, float32 I/O),
    au_head.spec.json and the au_head.md model card.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime.face.types import AU_ORDER
from training.au.distill_data import DistillData, SamplingConfig, extract, load_cache
from training.au.distill_export import export_onnx, fp16_reference, write_spec

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dev"
DEFAULT_CACHE = REPO.parent / "prepared" / "au_distill.npz"
MOVE_STD = 0.05
"""An AU "moves in the data" when the teacher's standard deviation over the held-out frames exceeds this."""


# -------------------------------------------------------------------------------------------- features


def mirror_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(N, 478, 3) -> the landmarks the mesh would give on the horizontally flipped frames (up to a shift)."""
    from training.data.mesh_mirror import mesh_mirror

    out = np.asarray(landmarks)[:, list(mesh_mirror())].copy()  # (N, 478, 3)
    out[..., 0] *= -1.0  # x -> -x; the constant image width does not matter to the rigid fit
    return out


def features_of(landmarks: np.ndarray, mean_face: np.ndarray) -> np.ndarray:
    """(N, 478, 3) -> (N, 1434) float32 AU-head features, the run time's own function per frame."""
    from realtime.face.au_head import au_features

    return np.stack([au_features(p, mean_face) for p in landmarks]).astype(np.float32)


def split_identities(identity: np.ndarray, kind: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of held-out frames: `fraction` of the people, drawn separately among people with video
    or frame sequences and people with photos only, so both kinds are in the held-out set."""
    rng = np.random.default_rng(seed)
    moving = set(identity[kind != "photo"].tolist())
    held: set[str] = set()
    for group in (sorted(moving), sorted(set(identity.tolist()) - moving)):
        n = max(1, round(fraction * len(group))) if group else 0
        held |= set(rng.choice(group, size=n, replace=False).tolist()) if n else set()
    return np.isin(identity, sorted(held))


# ------------------------------------------------------------------------------------------ training


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    """Passes over the (mirror-doubled) training frames."""
    batch: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    holdout: float = 0.15
    """Fraction of identities held out for validation."""
    seed: int = 0
    mirror: bool = True
    """Add the left/right mirror of every training frame."""
    threads: int = 2


def train(x: np.ndarray, y: np.ndarray, cfg: TrainConfig, model_cfg):  # -> AUHeadNet
    """Fit the MLP on (x, y) with MSE weighted per AU by 1/spread (rare AUs count as much as frequent ones)."""
    import torch

    from training.models.au_head import AUHeadNet

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model = AUHeadNet(model_cfg)
    model.set_normalisation(xt.mean(0), xt.std(0))
    weight = 1.0 / torch.clamp(yt.std(0), min=0.05)  # (17,)
    weight = weight / weight.mean()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * ((len(x) + cfg.batch - 1) // cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), cfg.batch):
            idx = perm[i : i + cfg.batch]
            loss = (((model(xt[idx]) - yt[idx]) ** 2) * weight).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if epoch % 10 == 0 or epoch == cfg.epochs - 1:
            log.info("epoch %d/%d: weighted mse %.5f", epoch + 1, cfg.epochs, total / len(x))
    model.eval()
    return model, steps


def predict(model, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return np.clip(model(torch.from_numpy(x)).numpy(), 0.0, 1.0)


@dataclass(frozen=True)
class AUScore:
    au: str
    mae: float
    corr: float
    teacher_std: float
    moves: bool


def score(pred: np.ndarray, target: np.ndarray) -> list[AUScore]:
    """Per-AU MAE and Pearson correlation against the teacher; `moves`: teacher std above MOVE_STD."""
    out = []
    for i, au in enumerate(AU_ORDER):
        p, t = pred[:, i].astype(np.float64), target[:, i].astype(np.float64)
        corr = float(np.corrcoef(p, t)[0, 1]) if p.std() > 1e-9 and t.std() > 1e-9 else float("nan")
        out.append(
            AUScore(au.value, float(np.abs(p - t).mean()), corr, float(t.std()), bool(t.std() > MOVE_STD))
        )
    return out


def summary(scores: list[AUScore]) -> dict[str, float]:
    moving = [s.corr for s in scores if s.moves]
    by = {s.au: s for s in scores}
    return {
        "mean_corr_moving": float(np.nanmean(moving)) if moving else float("nan"),
        "moving_aus": float(len(moving)),
        "corr_AU45": by["AU45"].corr,
        "corr_AU26": by["AU26"].corr,
        "mean_mae": float(np.mean([s.mae for s in scores])),
    }


def score_table(scores: list[AUScore]) -> str:
    lines = ["| AU | MAE | Pearson r | teacher std | moves |", "|---|---|---|---|---|"]
    for s in scores:
        lines.append(
            f"| {s.au} | {s.mae:.3f} | {s.corr:.3f} | {s.teacher_std:.3f} | {'yes' if s.moves else 'no'} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- main


def write_model_card(path: Path, *, scores: list[AUScore], info: dict[str, object], parity: float) -> None:
    s = summary(scores)
    lines = [
        "# au_head: landmarks -> 17 action units",
        "",
        "Made by `facegan-distill-au` (training/au/distill.py); this card is written by that command:",
        f"`{info.get('command', 'facegan-distill-au')}`.",
        "",
        "## What it is",
        "",
        f"A {info['layers']}-hidden-layer MLP (width {info['hidden']}, GELU, {info['params']:,} parameters) over",
        "`realtime.face.au_head.au_features`: the 478 MediaPipe Face Mesh points rotated to frontal and scaled into",
        "the mean face's frame (rigid fit to realtime/weights/mean_face.npy), minus the mean face (1434 numbers).",
        "Output: the 17 OpenFace AUs in AU_ORDER; run time clips them to [0, 1].",
        "",
        "Weights are fp16 initializers, each widened by a Cast node inside the graph, so ONNX Runtime's CPU provider",
        "runs it in float32 on fp16-rounded weights; float32 input `features (batch, 1434)`, output `aus (batch, 17)`.",
        f"Largest difference between the exported graph and the fp32 torch model on the held-out frames: {parity:.2e}.",
        "",
        "## Teacher and data",
        "",
        "Teacher: MediaPipe Face Landmarker (`../shared/models/face_landmarker.task`, Apache-2.0), 52 blendshapes mapped",
        "to the 17 AUs by `training.data.teacher.BLENDSHAPE_TO_AU`. Student input: the run-time mesh (legacy Face Mesh,",
        "image mode, refined) on the same frame; a frame is kept when both find the same largest face.",
        "",
        f"Data: `../shared/data/dev` (internal research data, not shipped): sampling {info['sampling']}.",
        f"Frames kept: {info['frames']} ({info['frames_by_kind']}); rejected: {info['rejected']}.",
        f"Identities: {info['identities']} in all; {info['held_identities']} held out whole ({info['held_frames']} frames,",
        f"seed {info['seed']}, {info['holdout']:.0%} drawn separately among people with video and photo-only people).",
        f"Training: {info['train_frames']} frames{' + their left/right mirrors' if info['mirror'] else ''}, {info['epochs']} epochs,",
        f"{info['steps']} steps, AdamW, one-cycle lr {info['lr']}, MSE weighted per AU by 1/max(std, 0.05).",
        f"Hardware: {info['hardware']}; training took {info['train_seconds']:.0f} s.",
        "",
        "## Held-out identities: agreement with the teacher",
        "",
        f'An AU "moves in the data" when the teacher\'s standard deviation over the held-out frames exceeds {MOVE_STD}.',
        "",
        score_table(scores),
        "",
        f"Mean Pearson r over the {int(s['moving_aus'])} AUs that move: **{s['mean_corr_moving']:.3f}** (target >= 0.8);",
        f"AU45 (blink) **{s['corr_AU45']:.3f}**, AU26 (jaw drop) **{s['corr_AU26']:.3f}** (targets >= 0.9).",
        f"Mean MAE over all 17: {s['mean_mae']:.3f}.",
        "",
        "## Limits",
        "",
        "- It copies the teacher, including the teacher's own errors; AUs that barely move in the dev data",
        "  (marked 'no' above) are learned from little signal and should not be trusted for fine control.",
        "- The mesh runs in video (tracking) mode at run time; the pairs were extracted in image mode.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def onnx_parity(onnx_path: Path, model, x: np.ndarray) -> float:
    """Max |ONNX Runtime - torch fp32| on x; also checks the graph equals the fp16-rounded torch model."""
    from realtime.face.au_head import AUHead

    got = AUHead(onnx_path).predict(x)
    ref16 = predict(fp16_reference(model), x)
    if float(np.abs(got - ref16).max()) > 1e-4:
        raise RuntimeError(
            f"exported {onnx_path} disagrees with the fp16-rounded torch model by {np.abs(got - ref16).max():.2e}"
        )
    return float(np.abs(got - predict(model, x)).max())


def fit_and_export(
    data: DistillData,
    mean_face: np.ndarray,
    out_dir: Path | None,
    cfg: TrainConfig,
    model_cfg,
    info: dict[str, object],
) -> list[AUScore]:
    """Steps 3-5: features, split, train, score on held-out identities, export (when out_dir is given)."""
    held = split_identities(data.identity, data.kind, cfg.holdout, cfg.seed)
    x = features_of(data.landmarks, mean_face)  # (N, 1434)
    x_tr, y_tr = x[~held], data.aus[~held]
    if cfg.mirror:
        x_tr = np.concatenate([x_tr, features_of(mirror_landmarks(data.landmarks[~held]), mean_face)])
        y_tr = np.concatenate([y_tr, y_tr])
    t0 = time.perf_counter()
    model, steps = train(x_tr, y_tr, cfg, model_cfg)
    info["train_seconds"] = time.perf_counter() - t0
    pred = predict(model, x[held])
    scores = score(pred, data.aus[held])
    info.update(
        steps=steps,
        train_frames=int((~held).sum()),
        held_frames=int(held.sum()),
        held_identities=len(set(data.identity[held].tolist())),
        identities=len(set(data.identity.tolist())),
        params=sum(p.numel() for p in model.parameters()),
        hidden=model_cfg.hidden,
        layers=model_cfg.layers,
        epochs=cfg.epochs,
        lr=cfg.lr,
        mirror=cfg.mirror,
        seed=cfg.seed,
        holdout=cfg.holdout,
    )
    if out_dir is not None:
        onnx_path = out_dir / "au_head.onnx"
        export_onnx(model, onnx_path)
        parity = onnx_parity(onnx_path, model, x[held])
        write_spec(onnx_path, model_cfg, cfg, steps, str(info["dataset"]))
        write_model_card(out_dir / "au_head.md", scores=scores, info=info, parity=parity)
        log.info("wrote %s (+ .spec.json, .md); ONNX vs torch max |diff| %.2e", onnx_path, parity)
    return scores


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facegan-distill-au",
        description="Distil the Face Landmarker teacher's AUs into the project's AU head (landmarks -> 17 AUs), "
        "validate on whole held-out people, and export realtime/weights/au_head.onnx + spec + model card.",
    )
    p.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder with MANIFEST.csv (default: %(default)s)"
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        help="extracted (landmarks, teacher AUs, identity) .npz; reused when present (default: %(default)s)",
    )
    p.add_argument(
        "--reextract", action="store_true", help="run mesh + teacher again even if the cache exists"
    )
    p.add_argument(
        "--teacher", type=Path, default=None, help="face_landmarker.task (default: ../shared/models/)"
    )
    p.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="where au_head.onnx/.spec.json/.md go (default: the package's realtime/weights)",
    )
    p.add_argument("--no-export", action="store_true", help="train and report only")
    p.add_argument(
        "--video-every", type=int, default=3, help="take every k-th video frame (default: %(default)s)"
    )
    p.add_argument(
        "--max-frames", type=int, default=0, help="stop sampling after N frames (0: all; for smoke runs)"
    )
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--no-mirror", action="store_true", help="no left/right mirror augmentation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from realtime.weights import weights_dir
    from training.models.au_head import AUHeadConfig

    sampling = SamplingConfig(video_every=args.video_every, max_frames=args.max_frames)
    if args.reextract or not args.cache.is_file():
        extract(args.data, args.cache, sampling, args.teacher)
    data = load_cache(args.cache)
    mean_face = np.load(weights_dir() / "mean_face.npy").astype(np.float64)
    with np.load(args.cache) as z:
        cached_sampling = str(z["sampling"])
    kinds = Counter(data.kind.tolist())
    info: dict[str, object] = {
        "dataset": str(args.data),
        "sampling": cached_sampling,
        "frames": len(data.aus),
        "frames_by_kind": ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())),
        "rejected": data.rejected,
        "command": " ".join(["facegan-distill-au", *(argv if argv is not None else sys.argv[1:])]),
        "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
    }
    cfg = TrainConfig(epochs=args.epochs, mirror=not args.no_mirror, seed=args.seed, threads=args.threads)
    model_cfg = AUHeadConfig(hidden=args.hidden, layers=args.layers)
    out_dir = None if args.no_export else (args.out_dir or weights_dir())
    scores = fit_and_export(data, mean_face, out_dir, cfg, model_cfg, info)
    s = summary(scores)
    print(score_table(scores))
    print(
        f"held-out identities {info['held_identities']} ({info['held_frames']} frames); "
        f"mean r over {int(s['moving_aus'])} moving AUs {s['mean_corr_moving']:.3f}; "
        f"AU45 r {s['corr_AU45']:.3f}; AU26 r {s['corr_AU26']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
