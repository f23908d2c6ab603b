"""The whole per-frame chain LT -> Gr -> Gb on Runners (docs/CONTRACTS.md section 4, DESIGN.md section 3).

Everything about the source is computed once in `set_source`: its crop, its landmarks ls, its own
segmentation (Gr run once with the source's own landmarks, so Gr reproduces the source) and
Ib = source * P(background). Per frame, `run(aud)` (or `run_lt(lt)`, landmarks as they are) is three network
calls composed by engines.compose.reenact; Gr draws the heatmap Ht inside its graph, so it is made on
whatever device runs Gr. When all three networks run on torch the same composition runs fused on the GPU
(engines.torch_chain).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np

from engines.base import Runner
from engines.compose import ChainNets, Reenacted, gr_feeds, gr_warps, reenact, runner_nets
from engines.registry import BackendChoice, open_runner
from engines.spec import VARIANTS, EngineError, ModelFileError, SpecMismatchError, Variant, check_arrays

if TYPE_CHECKING:
    from engines.torch_chain import FusedTorchChain

log = logging.getLogger(__name__)

Precision = Literal["shipped", "int8"]
"""`shipped`: the fp16 ONNX as exported; `int8`: `<name>.int8.onnx` from engines.quantize for Gr and Gb."""

ChainOutput = Reenacted
"""What `run` returns: `image (B,3,S,S)` Ir, `mask` M, `face` Ifr, `seg`, `lt (B,478,2)` (numpy float32)."""

__all__ = [
    "VARIANTS",
    "ChainOutput",
    "Precision",
    "ReenactmentChain",
    "SourceTensors",
    "Variant",
    "chain_paths",
    "gr_feeds",
    "gr_warps",
]


@dataclass(frozen=True)
class SourceTensors:
    """What the chain keeps per source (all float32, no batch axis)."""

    source: np.ndarray  # (3, S, S) aligned crop in [0, 1]
    ls: np.ndarray  # (478, 2) normalised source landmarks
    seg: np.ndarray  # (3, S, S) the source's own (background, hair, face) probabilities
    background: np.ndarray  # (3, S, S) Ib = source * P(background)

    def with_background(self, picture: np.ndarray) -> SourceTensors:
        """The same source in front of another picture (3, S, S) in [0, 1]: Ib = picture * P(background)
        (the paper's background swap, Fig. 6)."""
        return replace(self, background=(picture * self.seg[0:1]).astype(np.float32, copy=False))


def chain_paths(
    weights_dir: Path, variant: Variant, precision: Precision = "shipped", *, lt: bool = True
) -> dict[str, Path]:
    """The ONNX files of a variant (LT's only with `lt`); int8 applies to the two U-Nets (LT is a tiny MLP)."""
    suffix = ".int8.onnx" if precision == "int8" else ".onnx"
    paths = {"lt": weights_dir / "lt.onnx"} if lt else {}
    return {**paths, "gr": weights_dir / f"gr_{variant}{suffix}", "gb": weights_dir / f"gb_{variant}{suffix}"}


class ReenactmentChain:
    """LT -> Gr -> Gb as one call per frame or per batch of frames. Use as a context manager.

    `lt=False` opens Gr and Gb only: a chain driven by given landmarks (`run_lt`), no LT file needed.
    """

    def __init__(
        self,
        weights_dir: str | Path,
        variant: Variant = "lite",
        backend: BackendChoice = "auto",
        *,
        precision: Precision = "shipped",
        lt: bool = True,
        **runner_options: Any,
    ) -> None:
        paths = chain_paths(Path(weights_dir), variant, precision, lt=lt)
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
        # landmarks per face, read from Gr's spec: the engines know no face (no 478 written here)
        self.num_landmarks = int(self.runners["gr"].spec.input("landmarks").shape[-2])
        self._nets: ChainNets[np.ndarray] = runner_nets(self.runners)
        self._source: SourceTensors | None = None
        self._tiled: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._fused: FusedTorchChain | None = None  # when every network runs on torch

    def __enter__(self) -> Self:
        for r in self.runners.values():
            r.activate()
        if all(r.backend == "torch" for r in self.runners.values()):
            from engines.torch_backend import TorchRunner
            from engines.torch_chain import FusedTorchChain

            lt, gr, gb = (self.runners.get(n) for n in ("lt", "gr", "gb"))
            assert isinstance(gr, TorchRunner) and isinstance(gb, TorchRunner)
            assert lt is None or isinstance(lt, TorchRunner)
            self._fused = FusedTorchChain(lt, gr, gb)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._fused = None
        for r in self.runners.values():
            r.deactivate()

    @property
    def source(self) -> SourceTensors | None:
        """The tensors of the source `set_source` made current (None before)."""
        return self._source

    def prepare_source(self, crop: np.ndarray, ls: np.ndarray) -> SourceTensors:
        """Source-side tensors for `crop (3, S, S)` float32 in [0, 1] and `ls (478, 2)` float32."""
        s = self.image_size
        if crop.shape != (3, s, s) or ls.ndim != 2 or ls.shape[1] != 2:
            raise SpecMismatchError(
                f"set_source: crop {crop.shape} must be (3, {s}, {s}), ls {ls.shape} (N, 2)"
            )
        _, seg = self._nets.gr(crop[None], ls[None], ls[None])
        seg = seg[0]  # (3, S, S)
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

    def run(self, aud: np.ndarray, sources: Sequence[SourceTensors] | None = None) -> Reenacted[np.ndarray]:
        """Reenact for driving vectors `aud (B, 20)` float32; `sources` gives one source per row."""
        if aud.ndim != 2:
            raise SpecMismatchError(f"run: aud must be (B, 20), got shape {aud.shape}")
        if "lt" not in self.runners:
            raise EngineError("run: this chain was opened with lt=False; drive it with run_lt(lt)")
        source, ls, background = self._batched_source(aud.shape[0], sources)
        if self._fused is not None:  # one device-resident graph; validate what the runners would have
            check_arrays(self.runners["lt"].spec.inputs, {"ls": ls, "aud": aud}, "input", "lt")
            self._check_gb(source, background)
            return Reenacted(**self._fused.run(ls, aud, source, background))
        return reenact(self._nets, source, ls, background, aud=aud)

    def run_lt(self, lt: np.ndarray, sources: Sequence[SourceTensors] | None = None) -> Reenacted[np.ndarray]:
        """Gr -> Gb for target landmarks `lt (B, 478, 2)` float32 as they are (no LT)."""
        if lt.ndim != 3:
            raise SpecMismatchError(f"run_lt: lt must be (B, 478, 2), got shape {lt.shape}")
        source, ls, background = self._batched_source(lt.shape[0], sources)
        if self._fused is not None:
            landmarks = tuple(t for t in self.runners["gr"].spec.inputs if t.name == "landmarks")
            check_arrays(landmarks, {"landmarks": lt}, "input", "gr")
            self._check_gb(source, background)
            return Reenacted(**self._fused.run_lt(ls, lt, source, background))
        return reenact(self._nets, source, ls, background, lt=lt)

    def _check_gb(self, source: np.ndarray, background: np.ndarray) -> None:
        check_arrays(
            self.runners["gb"].spec.inputs, {"face": source, "background": background}, "input", "gb"
        )
