"""Train the eye painter on samples from `training.painter.data`, resume, export fp16 ONNX and its model card.

Loss (per window): L1 of the composite (alpha * RGB + (1 - alpha) * warped, as run time pastes it) against the
true frame, five times heavier around the eye, plus L1 of its image gradients (the lash line stays a line, not
a smear), plus a penalty on alpha away from the eye (the painter touches only the eye). No adversarial term:
a closed lid is smooth skin and a lash line, which L1 with gradients draws; teeth-like detail is not asked of it.
The recipe fits the project's CPUs: `--minutes 40` on 2 cores, `--resume` continues from the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.models.eye_painter import EyePainterConfig, EyePainterNet, composite
from training.painter.data import EyeSamples

log = logging.getLogger(__name__)

EYE_WEIGHT = 5.0
"""L1 weight around the eye (the dilated target outline) over the rest of the window."""
GRAD_WEIGHT = 0.5
ALPHA_WEIGHT = 0.05
"""Penalty on alpha outside the eye's neighbourhood."""


def to_tensors(s: EyeSamples, idx: np.ndarray) -> tuple[torch.Tensor, ...]:
    """(inputs (B, 7, h, w), warped (B, 3, h, w), target (B, 3, h, w), near-eye weight (B, 1, h, w))."""

    def img(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a[idx]).permute(0, 3, 1, 2).float() / 255.0

    warped, source, target = img(s.warped), img(s.source), img(s.target)
    mask = torch.from_numpy(s.mask[idx]).float()[:, None] / 255.0
    near = F.max_pool2d(mask, 9, stride=1, padding=4)  # the eye and a few pixels around it
    return torch.cat([warped, source, mask], 1), warped, target, near


def jitter(
    x: torch.Tensor, warped: torch.Tensor, target: torch.Tensor, g: torch.Generator
) -> tuple[torch.Tensor, ...]:
    """The same light change (per-channel gain, offset) on the three pictures of a sample."""
    b = x.shape[0]
    gain = 0.8 + 0.4 * torch.rand(b, 3, 1, 1, generator=g)
    off = 0.06 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)

    def f(t: torch.Tensor) -> torch.Tensor:
        return (t * gain + off).clamp(0.0, 1.0)

    return torch.cat([f(x[:, :3]), f(x[:, 3:6]), x[:, 6:]], 1), f(warped), f(target)


def grad_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]
    return (dx(a) - dx(b)).abs().mean() + (dy(a) - dy(b)).abs().mean()


def loss_terms(
    net: EyePainterNet, x: torch.Tensor, warped: torch.Tensor, target: torch.Tensor, near: torch.Tensor
) -> dict[str, torch.Tensor]:
    paint = net(x)
    out = composite(paint, warped)
    weight = 1.0 + (EYE_WEIGHT - 1.0) * near
    l1 = (weight * (out - target).abs()).mean()
    grad = grad_l1(out, target)
    alpha = (paint[:, 3:4] * (1.0 - near)).mean()
    return {"l1": l1, "grad": grad, "alpha": alpha, "total": l1 + GRAD_WEIGHT * grad + ALPHA_WEIGHT * alpha}


@torch.no_grad()
def evaluate(net: EyePainterNet, s: EyeSamples, batch: int = 256) -> dict[str, float]:
    """Mean absolute error (0-255 grey levels) near the eye: the warp alone, and painted."""
    net.eval()
    err_w, err_p, n = 0.0, 0.0, 0.0
    for i in range(0, len(s), batch):
        idx = np.arange(i, min(i + batch, len(s)))
        x, warped, target, near = to_tensors(s, idx)
        out = composite(net(x), warped)
        w = near.expand_as(target)
        err_w += float(((warped - target).abs() * w).sum())
        err_p += float(((out - target).abs() * w).sum())
        n += float(w.sum())
    net.train()
    return {"warp_mae": 255.0 * err_w / max(n, 1.0), "painted_mae": 255.0 * err_p / max(n, 1.0)}


def train(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = EyeSamples.load(args.samples)
    val = EyeSamples.load(args.samples.with_suffix(".val.npz"))
    ck_path = args.out / "eye_painter.pt"
    cfg = EyePainterConfig()
    net = EyePainterNet(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    step, spent = 0, 0.0
    if args.resume and ck_path.is_file():
        ck = torch.load(ck_path, weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])
        step, spent = ck["step"], ck["seconds"]
        log.info("resumed at step %d (%.0f s trained)", step, spent)
    g = torch.Generator().manual_seed(args.seed + step)
    rng = np.random.default_rng(args.seed + step)
    t0, deadline = time.time(), time.time() + 60.0 * args.minutes
    history = []
    while time.time() < deadline and (args.steps is None or step < args.steps):
        idx = rng.integers(0, len(data), args.batch)
        x, warped, target, near = to_tensors(data, idx)
        x, warped, target = jitter(x, warped, target, g)
        terms = loss_terms(net, x, warped, target, near)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
        step += 1
        if step % 1000 == 0:
            ev = evaluate(net, val)
            history.append({"step": step, **{k: float(v.detach()) for k, v in terms.items()}, **ev})
            log.info(
                "step %d loss %.4f held-out MAE warp %.2f painted %.2f",
                step,
                float(terms["total"].detach()),
                ev["warp_mae"],
                ev["painted_mae"],
            )
    spent += time.time() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": net.state_dict(),
            "optim": opt.state_dict(),
            "step": step,
            "seconds": spent,
            "config": asdict(cfg),
        },
        ck_path,
    )
    final = evaluate(net, val)
    summary = {
        "step": step,
        "seconds": round(spent),
        "train_samples": len(data),
        "heldout_samples": len(val),
        "heldout_identities": sorted(set(val.identity.tolist())),
        **final,
        "history": history,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def export(net: EyePainterNet, path: Path) -> float:
    """fp16 ONNX (initializers fp16, widened by Cast nodes: ONNX Runtime's CPU provider computes in float32),
    input `eyes (batch, 7, 48, 96)`, output `paint (batch, 4, 48, 96)`; returns the max parity error."""
    import io
    import warnings

    import onnx
    import onnxruntime as ort

    from realtime.render.eyes import EYE_WINDOW

    net.eval()
    w, h = EYE_WINDOW
    dummy = torch.rand(2, net.cfg.in_channels, h, w, generator=torch.Generator().manual_seed(0))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (dummy,),
            buf,
            input_names=["eyes"],
            output_names=["paint"],
            opset_version=17,
            dynamic_axes={"eyes": {0: "batch"}, "paint": {0: "batch"}},
            dynamo=False,
        )
    from training.release.fp16 import fp16_initializers

    m = fp16_initializers(onnx.load_from_string(buf.getvalue()), "training.painter")
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(path))
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"eyes": dummy.numpy()}
    )[0]
    with torch.no_grad():
        ref = net(dummy).numpy()
    return float(np.abs(got - ref).max())


def model_card(summary: dict, parity: float, args: argparse.Namespace, size_bytes: int) -> str:
    params = sum(p.numel() for p in EyePainterNet(EyePainterConfig()).parameters())
    return f"""# eye_painter: the mesh flow's eye painter

Generated by `python -m training.painter.train` from its checkpoint; the numbers are read from the run.

- What it does: paints a closing (or opening) eye's window where the mesh flow's warp squeezes the iris and
  lashes into a ragged line (realtime/render/eyes.py: windows, when an eye is painted, how it is pasted).
- Data: `{args.samples}`, cut by `python -m training.painter.data` from the prepared dataset (internal
  research data from ../shared/data/dev, not shipped): self-reenactment pairs of one track whose eye opening
  changed by more than 20 %, the source frame warped by the run-time mesh flow to the target frame's landmarks.
  {summary["train_samples"]} training windows; {summary["heldout_samples"]} held-out windows of
  {len(summary["heldout_identities"])} people no network of the project trained on
  ({", ".join(summary["heldout_identities"])}).
- Network: 3-scale U-Net, {params:,} parameters, input (batch, 7, 48, 96), output RGB + alpha;
  file {size_bytes / 1e6:.2f} MB, fp16 weights, float32 inputs/outputs, opset 17. Export parity (ONNX fp16 weights
  vs torch fp32): max |diff| {parity:.2e}.
- Training: {summary["step"]} steps of batch {args.batch}, Adam lr {args.lr}, {summary["seconds"] / 60:.0f} minutes on
  {platform.machine()} CPU with {args.threads} threads, light jitter; loss: L1 of the composite (x{EYE_WEIGHT:g} near the
  eye) + {GRAD_WEIGHT:g} x gradient L1 + {ALPHA_WEIGHT:g} x alpha away from the eye. No pretrained weights.
- Held-out error near the eye (mean absolute error, grey levels 0-255; the dilated target eye outline):
  warp alone **{summary["warp_mae"]:.2f}**, painted **{summary["painted_mae"]:.2f}**.

Rebuild: `python -m training.painter.data --data /work/prepared/dev --out /work/painter/eyes.npz`, then
`python -m training.painter.train --samples /work/painter/eyes.npz --out runs/eyes --minutes 40 --export realtime/weights`
(add `--resume` to continue a run).
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.painter.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=Path, required=True, help="samples .npz from training.painter.data")
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, summary.json)")
    p.add_argument("--minutes", type=float, default=40.0, help="training time budget (default 40)")
    p.add_argument("--steps", type=int, default=None, help="stop at this step count instead")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT/eye_painter.pt")
    p.add_argument("--export", type=Path, default=None, help="write eye_painter.onnx and eye_painter.md here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    summary = train(args)
    print(
        f"step {summary['step']}: held-out MAE near the eye, warp {summary['warp_mae']:.2f}, painted {summary['painted_mae']:.2f}"
    )
    if args.export is not None:
        net = EyePainterNet(EyePainterConfig())
        net.load_state_dict(torch.load(args.out / "eye_painter.pt", weights_only=False)["model"])
        onnx_path = args.export / "eye_painter.onnx"
        parity = export(net, onnx_path)
        card = model_card(summary, parity, args, onnx_path.stat().st_size)
        (args.export / "eye_painter.md").write_text(card)
        print(f"exported {onnx_path} (parity {parity:.2e}) and its model card")
    return 0


if __name__ == "__main__":
    sys.exit(main())
