"""The whole per-frame chain LT -> Gr -> Gb (docs/CONTRACTS.md section 4, DESIGN.md section 3).

Everything about the source is computed once in `set_source`: its crop, its landmarks ls, its own
segmentation (Gr run once with the source's own landmarks, so Gr reproduces the source) and
Ib = source * P(background). Per frame, `run(aud)` is three network calls; Gr draws the heatmap Ht inside its
graph, so it is made on whatever device runs Gr.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import numpy as np

from engines.base import Runner
from engines.registry import BackendChoice, open_runner
from engines.spec import EngineError, ModelFileError, SpecMismatchError, check_arrays

log = logging.getLogger(__name__)

Variant = Literal["lite", "full"]
Precision = Literal["shipped", "int8"]
"""`shipped`: the fp16 ONNX as exported; `int8`: `<name>.int8.onnx` from engines.quantize for Gr and Gb."""


@dataclass(frozen=True)
class SourceTensors:
    """What the chain keeps per source (all float32, no batch axis)."""

    source: np.ndarray  # (3, S, S) aligned crop in [0, 1]
    ls: np.ndarray  # (478, 2) normalised source landmarks
    seg: np.ndarray  # (3, S, S) the source's own (background, hair, face) probabilities
    background: np.ndarray  # (3, S, S) Ib = source * P(background)


@dataclass(frozen=True)
class ChainOutput:
    image: np.ndarray  # (B, 3, S, S) Ir, eq. 9
    mask: np.ndarray  # (B, 1, S, S) M
    face: np.ndarray  # (B, 3, S, S) Ifr
    seg: np.ndarray  # (B, 3, S, S) softmax over (background, hair, face)
    lt: np.ndarray  # (B, 478, 2) transformed landmarks, eq. 1


def chain_paths(weights_dir: Path, variant: Variant, precision: Precision = "shipped") -> dict[str, Path]:
    """The three ONNX files of a variant; int8 applies to the two U-Nets (LT is a tiny MLP)."""
    suffix = ".int8.onnx" if precision == "int8" else ".onnx"
    return {
        "lt": weights_dir / "lt.onnx",
        "gr": weights_dir / f"gr_{variant}{suffix}",
        "gb": weights_dir / f"gb_{variant}{suffix}",
    }


def gr_warps(runner: Runner) -> bool:
    """A Gr with the warping step: its spec lists `source_landmarks` (docs/CONTRACTS.md section 2)."""
    return "source_landmarks" in runner.spec.input_names


def gr_feeds(
    runner: Runner, source: np.ndarray, landmarks: np.ndarray, source_landmarks: np.ndarray
) -> dict[str, np.ndarray]:
    """Gr's inputs; a Gr with the warping step (its spec lists `source_landmarks`) also gets ls."""
    feeds = {"source": source, "landmarks": landmarks}
    if gr_warps(runner):
        feeds["source_landmarks"] = source_landmarks
    return feeds


class ReenactmentChain:
    """LT -> Gr -> Gb as one call per frame or per batch of frames. Use as a context manager."""

    def __init__(
        self,
        weights_dir: str | Path,
        variant: Variant = "lite",
        backend: BackendChoice = "auto",
        *,
        precision: Precision = "shipped",
        **runner_options: Any,
    ) -> None:
        paths = chain_paths(Path(weights_dir), variant, precision)
        for net, p in paths.items():
            if not p.is_file():
                raise ModelFileError(f"chain {variant}/{precision}: {net} model not found: {p}")
        self.runners: dict[str, Runner] = {
            net: open_runner(p, backend, **runner_options) for net, p in paths.items()
        }
        for net, r in self.runners.items():
            if r.spec.network != net:
                raise ModelFileError(
                    f"{r.model_path}: spec says network {r.spec.network!r}, expected {net!r}"
                )
        self.variant = variant
        self.backend = self.runners["gr"].backend
        self.image_size = int(self.runners["gr"].spec.input("source").shape[-1])
        self._source: SourceTensors | None = None
        self._tiled: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._fused: Any = None  # engines.torch_backend.FusedTorchChain when every network runs on torch

    def __enter__(self) -> Self:
        for r in self.runners.values():
            r.activate()
        if all(r.backend == "torch" for r in self.runners.values()):
            from engines.torch_backend import FusedTorchChain, TorchRunner

            runners = [self.runners[n] for n in ("lt", "gr", "gb")]
            assert all(isinstance(r, TorchRunner) for r in runners)
            self._fused = FusedTorchChain(*runners)  # type: ignore[arg-type]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._fused = None
        for r in self.runners.values():
            r.deactivate()

    def prepare_source(self, crop: np.ndarray, ls: np.ndarray) -> SourceTensors:
        """Source-side tensors for `crop (3, S, S)` float32 in [0, 1] and `ls (478, 2)` float32."""
        s = self.image_size
        if crop.shape != (3, s, s) or ls.ndim != 2 or ls.shape[1] != 2:
            raise SpecMismatchError(
                f"set_source: crop {crop.shape} must be (3, {s}, {s}), ls {ls.shape} (N, 2)"
            )
        out = self.runners["gr"].infer(gr_feeds(self.runners["gr"], crop[None], ls[None], ls[None]))
        seg = out["seg"][0]  # (3, S, S)
        background = (crop * seg[0:1]).astype(np.float32, copy=False)  # Ib, (3, S, S)
        return SourceTensors(source=crop, ls=ls, seg=seg, background=background)

    def set_source(self, crop: np.ndarray, ls: np.ndarray) -> SourceTensors:
        """Make `crop`/`ls` the source every later `run` uses; returns its cached tensors."""
        self._source = self.prepare_source(crop, ls)
        self._tiled.clear()
        return self._source

    def _batched_source(
        self, batch: int, sources: Sequence[SourceTensors] | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if sources is not None:  # several streams, one source each
            if len(sources) != batch:
                raise SpecMismatchError(f"run: {len(sources)} sources for a batch of {batch} driving vectors")
            return (
                np.stack([s.source for s in sources]),
                np.stack([s.ls for s in sources]),
                np.stack([s.background for s in sources]),
            )
        if self._source is None:
            raise EngineError("run: call set_source(crop, ls) first, or pass sources=")
        if batch not in self._tiled:  # cached: tiling 16 crops every frame would cost more than LT
            src = self._source
            self._tiled[batch] = tuple(  # type: ignore[assignment]
                np.ascontiguousarray(np.broadcast_to(a, (batch, *a.shape)))
                for a in (src.source, src.ls, src.background)
            )
        return self._tiled[batch]

    def run(self, aud: np.ndarray, sources: Sequence[SourceTensors] | None = None) -> ChainOutput:
        """Reenact for driving vectors `aud (B, 20)` float32; `sources` gives one source per row."""
        if aud.ndim != 2:
            raise SpecMismatchError(f"run: aud must be (B, 20), got shape {aud.shape}")
        source, ls, background = self._batched_source(aud.shape[0], sources)
        if self._fused is not None:  # one device-resident graph; validate what the runners would have
            check_arrays(self.runners["lt"].spec.inputs, {"ls": ls, "aud": aud}, "input", "lt")
            check_arrays(
                self.runners["gb"].spec.inputs, {"face": source, "background": background}, "input", "gb"
            )
            return ChainOutput(**self._fused.run(ls, aud, source, background))
        lt = self.runners["lt"].infer({"ls": ls, "aud": aud})["lt"]  # (B, 478, 2)
        gr = self.runners["gr"].infer(gr_feeds(self.runners["gr"], source, lt, ls))
        seg = gr["seg"]  # (B, 3, S, S)
        face_in = gr["face"] * (seg[:, 1:2] + seg[:, 2:3])  # Ifr without its background, (B, 3, S, S)
        gb = self.runners["gb"].infer({"face": face_in, "background": background})
        return ChainOutput(image=gb["image"], mask=gb["mask"], face=gr["face"], seg=seg, lt=lt)
