"""`facegan-export RUNDIR_or_CKPT --out realtime/weights [--name gr_lite]`: ONNX + I/O spec + model card.

Each network is exported twice, fp32 and fp16 (fp16 weights and arithmetic, float32 inputs and outputs cast at
the graph's edges), and both are checked against torch in ONNX Runtime before anything is written:
fp32 max abs error <= 1e-4; fp16 PSNR >= 40 dB on image outputs and max abs error <= 5e-3 on landmark / AU
outputs. ONNX Runtime's x86 CPU provider lacks most fp16 kernels, so the fp16 graph is checked after widening
it to float32 the way the engines' CPU backend loads it (`engines.fp16.upcast_fp16_to_fp32`).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.fitting.config import TrainConfig, load_checkpoint
from training.fitting.stages import build_models

log = logging.getLogger(__name__)
OPSET = 17
FP32_MAX_ABS = 1e-4
FP16_MIN_PSNR = 40.0
FP16_MAX_ABS = 5e-3


class ParityError(RuntimeError):
    pass


@dataclass(frozen=True)
class NetIO:
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    image_outputs: tuple[str, ...]


IO = {
    "lt": NetIO(("ls", "aud"), ("lt",), ()),
    "la": NetIO(("landmarks",), ("aud",), ()),
    "gr": NetIO(("source", "landmarks"), ("face", "seg"), ("face", "seg")),
    "gb": NetIO(("face", "background"), ("image", "mask"), ("image", "mask")),
}
GR_WARP_IO = NetIO(("source", "landmarks", "source_landmarks"), ("face", "seg"), ("face", "seg"))


def net_io(net: str, cfg: TrainConfig) -> NetIO:
    """The network's ONNX inputs/outputs; a Gr with the warping step also takes the source landmarks."""
    return GR_WARP_IO if net == "gr" and cfg.gr.warp else IO[net]


class _Fp16(nn.Module):
    """float32 in -> fp16 network -> float32 out (the shipped form, CONTRACTS.md section 2)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.half()

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net(*[x.half() for x in xs])
        out = out if isinstance(out, tuple) else (out,)
        return tuple(o.float() for o in out)


def example_inputs(
    net: str, size: int, batch: int = 2, seed: int = 0, warp: bool = False
) -> tuple[torch.Tensor, ...]:
    """Plausible inputs: smooth images in [0, 1], landmarks on an ellipse-ish face, AUs in [0, 1]; with `warp`,
    Gr's source landmarks are the driving ones moved a little (a real flow, not the identity)."""
    g = torch.Generator().manual_seed(seed)
    lm = (torch.rand(batch, 478, 2, generator=g) - 0.5) * 1.2  # (B, 478, 2)

    def img() -> torch.Tensor:
        low = torch.rand(batch, 3, size // 16, size // 16, generator=g)
        return torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)

    if net in ("lt", "la"):
        aud = torch.cat(
            [torch.rand(batch, 17, generator=g), (torch.rand(batch, 3, generator=g) - 0.5) * 0.5], 1
        )
        return (lm, aud) if net == "lt" else (lm,)
    if net == "gb":
        return (img(), img())
    if not warp:
        return (img(), lm)
    shift = (torch.rand(batch, 1, 2, generator=g) - 0.5) * 0.1
    return (img(), lm, lm + shift + torch.randn(lm.shape, generator=g) * 0.01)


def to_onnx(module: nn.Module, args: tuple[torch.Tensor, ...], io_: NetIO) -> bytes:
    buf = io.BytesIO()
    dyn = {n: {0: "batch"} for n in io_.inputs + io_.outputs}
    torch.onnx.export(
        module,
        args,
        buf,
        input_names=list(io_.inputs),
        output_names=list(io_.outputs),
        opset_version=OPSET,
        dynamic_axes=dyn,
        dynamo=False,
    )
    return buf.getvalue()


def to_pt2(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path) -> float:
    """`torch.export.save` of the fp32 network, batch dynamic (CONTRACTS.md 2: the torch backend's sidecar).

    Reloaded and run at another batch size before returning; returns its max abs difference from eager torch.
    """
    batch = torch.export.Dim("batch", min=1, max=1024)
    dyn = tuple({0: batch} for _ in args)
    ep = torch.export.export(module, args, dynamic_shapes=dyn, strict=False)
    tmp = path.with_name(path.stem + ".tmp.pt2")  # torch.export.save wants the .pt2 ending
    torch.export.save(ep, str(tmp))
    tmp.replace(path)
    check = tuple(torch.cat([a, a[:1]]) for a in args)  # batch + 1: proves the batch axis is dynamic
    with torch.no_grad():
        ref, got = module(*check), torch.export.load(str(path)).module()(*check)
    ref = ref if isinstance(ref, tuple) else (ref,)
    got = got if isinstance(got, tuple) else (got,)
    err = max(float((r - g).abs().max()) for r, g in zip(ref, got, strict=True))
    if err > FP32_MAX_ABS:
        path.unlink()
        raise ParityError(
            f"{path.name}: reloaded torch.export program differs by {err:.2e} > {FP32_MAX_ABS:.0e}"
        )
    return err


def wants_pt2(net: str, cfg: TrainConfig, mode: str) -> bool:
    """`auto`: the chain's networks (lt, gr, gb) except the full Gr/Gb, whose .pt2 (~32 MB each in fp32) is too
    big to commit (export those with `--pt2 always` where they will run); La is not in the chain."""
    if mode != "auto":
        return mode == "always"
    return net != "la" and not (net in ("gr", "gb") and cfg.variant == "full")


def _upcast(model_bytes: bytes) -> bytes:
    import onnx

    try:
        from engines.fp16 import upcast_fp16_to_fp32
    except ImportError as e:  # the engines part is not installed: nothing to compare against
        raise ParityError("fp16 parity needs engines.fp16.upcast_fp16_to_fp32") from e
    return upcast_fp16_to_fp32(onnx.load_from_string(model_bytes)).SerializeToString()


def run_onnx(model_bytes: bytes, names: tuple[str, ...], args: tuple[torch.Tensor, ...]) -> list[np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    return sess.run(None, {n: a.numpy() for n, a in zip(names, args, strict=True)})


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def check_parity(
    net: str, io_: NetIO, ref: tuple[torch.Tensor, ...], fp32: list[np.ndarray], fp16: list[np.ndarray]
) -> dict[str, float]:
    """Raise ParityError unless both ONNX graphs match torch within the stated tolerances."""
    report: dict[str, float] = {}
    for name, r, a, h in zip(io_.outputs, ref, fp32, fp16, strict=True):
        r = r.numpy()
        report[f"{name}_fp32_max_abs"] = err32 = float(np.abs(a - r).max())
        if err32 > FP32_MAX_ABS:
            raise ParityError(
                f"{net}.{name}: fp32 ONNX differs from torch by {err32:.2e} > {FP32_MAX_ABS:.0e}"
            )
        if name in io_.image_outputs:
            report[f"{name}_fp16_psnr_db"] = p = psnr(h, r)
            if p < FP16_MIN_PSNR:
                raise ParityError(
                    f"{net}.{name}: fp16 ONNX PSNR {p:.1f} dB < {FP16_MIN_PSNR} dB against torch"
                )
        else:
            report[f"{name}_fp16_max_abs"] = e16 = float(np.abs(h - r).max())
            if e16 > FP16_MAX_ABS:
                raise ParityError(
                    f"{net}.{name}: fp16 ONNX differs from torch by {e16:.2e} > {FP16_MAX_ABS:.0e}"
                )
    return report


def nets_in(cfg: TrainConfig) -> tuple[str, ...]:
    return {"la": ("la",), "lt": ("lt",), "gr": ("gr",), "gb": ("gb",), "joint": ("gr", "gb")}[cfg.stage]


def default_name(net: str, cfg: TrainConfig) -> str:
    return f"{net}_{cfg.variant}" if net in ("gr", "gb") else net


def export_network(
    ck: dict[str, Any], net: str, out_dir: Path, name: str, precision: str = "fp16", pt2: str = "auto"
) -> dict[str, Any]:
    """Export one network of a checkpoint; writes <name>.onnx, .spec.json, .md (and .pt2) only if parity holds."""
    cfg: TrainConfig = ck["config"]
    model = build_models(cfg)[net]
    model.load_state_dict(ck["models"][net])
    model.eval()
    size = cfg.size
    args = example_inputs(net, size, warp=cfg.gr.warp)
    io_ = net_io(net, cfg)
    with torch.no_grad():
        ref = model(*args)
        ref = ref if isinstance(ref, tuple) else (ref,)
        onnx32 = to_onnx(model, args, io_)
        import copy

        onnx16 = to_onnx(_Fp16(copy.deepcopy(model)), args, io_)
    report = check_parity(
        net, io_, ref, run_onnx(onnx32, io_.inputs, args), run_onnx(_upcast(onnx16), io_.inputs, args)
    )
    data = onnx16 if precision == "fp16" else onnx32
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{name}.onnx"
    if wants_pt2(net, cfg, pt2):  # before the .onnx: a failed check leaves no half-exported network
        report["pt2_fp32_max_abs"] = to_pt2(model, args, out_dir / f"{name}.pt2")
    onnx_path.write_bytes(data)
    spec = make_spec(net, cfg, ck, data, precision, args, ref)
    (out_dir / f"{name}.spec.json").write_text(json.dumps(spec, indent=1) + "\n")
    nparams = sum(p.numel() for p in model.parameters())
    (out_dir / f"{name}.md").write_text(model_card(name, net, cfg, ck, report, nparams, len(data), precision))
    log.info("wrote %s (%.1f MB) parity %s", onnx_path, len(data) / 1e6, report)
    return report


def make_spec(
    net: str,
    cfg: TrainConfig,
    ck: dict[str, Any],
    data: bytes,
    precision: str,
    args: tuple[torch.Tensor, ...],
    ref: tuple[torch.Tensor, ...],
) -> dict[str, Any]:
    def shapes(names: tuple[str, ...], ts: tuple[torch.Tensor, ...]) -> list[dict[str, Any]]:
        return [
            {"name": n, "shape": ["batch", *t.shape[1:]], "dtype": "float32"}
            for n, t in zip(names, ts, strict=True)
        ]

    image = net in ("gr", "gb")
    return {
        "format": "facegan-io-spec",
        "version": 1,
        "network": net,
        "variant": cfg.variant if image else None,
        "image_size": cfg.size if image else None,
        "num_landmarks": cfg.lt.num_landmarks if net != "gb" else None,
        "precision": precision,
        "opset": OPSET,
        "onnx_sha256": hashlib.sha256(data).hexdigest(),
        "inputs": shapes(net_io(net, cfg).inputs, args),
        "outputs": shapes(net_io(net, cfg).outputs, ref),
        "training": {
            "config": asdict(cfg),
            "steps": ck["step"],
            "dataset": ck.get("dataset", ""),
            "val_identities": ck.get("val_identities", []),
            "metrics": ck.get("metrics", {}),
        },
    }


def _size_line(cfg: TrainConfig, ck: dict[str, Any]) -> str:
    run = ck.get("run") or {}
    trained = ck.get("trained_size", cfg.size)
    line = f"{cfg.size}x{cfg.size} (exported input size)"
    if trained != cfg.size:
        line += f"; trained on whole {trained}x{trained} crops (the nets are fully convolutional)"
    if run.get("patch"):
        line += (
            f"; trained on random {run['patch']}x{run['patch']} windows of the {cfg.size}x{cfg.size} crops"
        )
    elif run.get("progressive_until"):
        line += f"; trained at 128x128 up to step {run['progressive_until']}, then {cfg.size}x{cfg.size}"
    if run.get("max_frames"):
        line += f"; at most {run['max_frames']} frames per track kept"
    return line


def model_card(
    name: str,
    net: str,
    cfg: TrainConfig,
    ck: dict[str, Any],
    parity: dict[str, float],
    nparams: int,
    nbytes: int,
    precision: str,
) -> str:
    val_ids = ck.get("val_identities", [])
    metrics = ck.get("metrics", {}) or {}
    lines = [
        f"# {name}: FACEGAN {net.upper()} ({cfg.variant})",
        "",
        "Generated by `facegan-export` from the training checkpoint; numbers below are read from it, not typed.",
        "",
        f"- Data: `{ck.get('dataset', '?')}` (prepared from ../shared/data/dev; internal research data, not shipped)",
        f"- Identities held out for validation: {len(val_ids)} ({', '.join(val_ids[:12])}{' ...' if len(val_ids) > 12 else ''})",
        f"- Training stage `{cfg.stage}`, steps: {ck['step']}, batch {cfg.batch} per process x {ck.get('world_size', 1)}",
        f"- Image size: {_size_line(cfg, ck) if net in ('gr', 'gb') else 'n/a (landmarks)'}",
        f"- Hardware: {ck.get('hardware', 'unknown')}",
        f"- Parameters: {nparams:,}; file: {nbytes / 1e6:.2f} MB, {precision} weights, float32 inputs/outputs, opset {OPSET}",
        "- Landmarks: the full 478-point MediaPipe mesh (normalised crop coordinates), not a 68-point subset.",
        "",
        "## Validation metrics (held-out identities, last validation of the run)",
        "",
    ]
    lines += [f"- `{k}`: {v:.5f}" for k, v in metrics.items()] or ["- none recorded"]
    lines += ["", "## Export parity (torch vs ONNX Runtime, CPU)", ""]
    lines += [f"- `{k}`: {v:.3g}" for k, v in parity.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="facegan-export", description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", type=Path, help="run folder or checkpoint.pt")
    p.add_argument("--out", type=Path, required=True, help="folder for <name>.onnx/.spec.json/.md")
    p.add_argument(
        "--name", default=None, help="file name stem (one network only); default lt, la, gr_lite, ..."
    )
    p.add_argument(
        "--net", choices=["lt", "la", "gr", "gb"], default=None, help="which network of the checkpoint"
    )
    p.add_argument("--precision", choices=["fp16", "fp32"], default="fp16", help="what <name>.onnx holds")
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="Gr/Gb: export at this image size instead of the trained one (fully convolutional; said in the card)",
    )
    p.add_argument(
        "--pt2",
        choices=["auto", "always", "never"],
        default="auto",
        help="also write <name>.pt2 for the torch backend (auto: all but the full Gr/Gb, too big to commit)",
    )
    a = p.parse_args(argv)
    try:
        ck = load_checkpoint(a.checkpoint)
        if a.size and a.size != ck["config"].size:
            ck = {**ck, "trained_size": ck["config"].size, "config": replace(ck["config"], size=a.size)}
        nets = (a.net,) if a.net else nets_in(ck["config"])
        if a.name and len(nets) > 1:
            raise ValueError(f"--name needs one network; this checkpoint holds {nets}: add --net")
        for net in nets:
            if net not in ck["models"]:
                raise ValueError(f"checkpoint has no {net!r} network (it holds {sorted(ck['models'])})")
            export_network(ck, net, a.out, a.name or default_name(net, ck["config"]), a.precision, a.pt2)
    except (ValueError, FileNotFoundError, ParityError) as e:
        print(f"facegan-export: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
