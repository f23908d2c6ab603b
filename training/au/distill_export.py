"""The AU head's export (facegan-distill-au, step 5): ONNX with fp16 initializers cast to float32 inside the
graph, and its I/O spec (the parity check and the model card, which need the scores, stay in distill_au)."""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from training.au.distill import TrainConfig

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------- export


def export_onnx(model, path: Path, opset: int = 17) -> None:
    """Write the model with fp16 initializers, each widened by a Cast node inside the graph, and float32
    input `features (batch, F)` / output `aus (batch, 17)`. ONNX Runtime's CPU provider has no fp16 Gemm,
    so the arithmetic runs in float32 on fp16-rounded weights."""
    import io

    import onnx
    import torch

    buf = io.BytesIO()
    dummy = torch.zeros(1, model.cfg.num_features)
    # The TorchScript exporter writes a plain opset-17 graph of this MLP in a second (the contract's opset).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (dummy,),
            buf,
            input_names=["features"],
            output_names=["aus"],
            opset_version=opset,
            dynamic_axes={"features": {0: "batch"}, "aus": {0: "batch"}},
            dynamo=False,
        )
    from training.release.fp16 import fp16_initializers

    m = fp16_initializers(onnx.load_from_string(buf.getvalue()), "facegan-distill-au")
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(path))


def fp16_reference(model):
    """A copy of the model whose weights are rounded to fp16 (what the exported graph computes)."""
    import copy

    import torch

    ref = copy.deepcopy(model)
    with torch.no_grad():
        for t in list(ref.parameters()) + list(ref.buffers()):
            t.copy_(t.half().float())
    return ref


def write_spec(
    onnx_path: Path, model_cfg, train_cfg: TrainConfig, steps: int, dataset: str, opset: int = 17
) -> Path:
    import json

    from engines.spec import sha256_file

    spec = {
        "format": "facegan-io-spec",
        "version": 1,
        "network": "au_head",
        "variant": None,
        "image_size": None,
        "num_landmarks": 478,
        "precision": "fp16",
        "opset": opset,
        "onnx_sha256": sha256_file(onnx_path),
        "inputs": [{"name": "features", "shape": ["batch", model_cfg.num_features], "dtype": "float32"}],
        "outputs": [{"name": "aus", "shape": ["batch", model_cfg.num_aus], "dtype": "float32"}],
        "training": {
            "config": {"model": asdict(model_cfg), "train": asdict(train_cfg)},
            "steps": steps,
            "dataset": dataset,
        },
    }
    path = onnx_path.with_name(onnx_path.name.removesuffix(".onnx") + ".spec.json")
    path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return path
