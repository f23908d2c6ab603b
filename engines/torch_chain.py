"""The chain LT -> Gr -> Gb fused on one GPU: engines.compose.reenact on device tensors, one CUDA graph each.

engines.chain.ReenactmentChain uses this when all three networks run on the torch backend; it depends on
compose and torch_backend only, so neither of them imports engines.chain.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engines.compose import CHAIN_OUTPUTS, ChainNets, gr_warps, reenact
from engines.torch_backend import GraphCache, TorchRunner


class FusedTorchChain:
    """LT -> Gr -> Gb kept on the GPU, one CUDA graph per batch size: no host round trip between networks.

    Inputs are (ls, aud, source, background) batches, or (ls, lt, ...) for `run_lt`; the chain's cached
    source tiles are the same array objects call after call, so only `aud` (80 bytes a row) crosses to the
    device per frame. `lt` may be None for a chain driven by landmarks only.
    """

    def __init__(self, lt: TorchRunner | None, gr: TorchRunner, gb: TorchRunner) -> None:
        self.lt, self.gr, self.gb = lt, gr, gb
        self.gr_warp = gr_warps(gr)  # Gr's warping step wants ls
        self.nets: ChainNets[Any] = ChainNets(gr=self._gr, gb=self._gb, lt=None if lt is None else self._lt)
        self._by_aud = GraphCache("fused chain", gr.device, gr.warmup, enabled=gr.cuda_graphs)
        self._by_lt = GraphCache("fused chain (lt given)", gr.device, gr.warmup, enabled=gr.cuda_graphs)

    def _lt(self, ls: Any, aud: Any) -> Any:
        assert self.lt is not None
        (lt,) = self.lt.forward([ls, aud])  # (B, 478, 2)
        return lt

    def _gr(self, source: Any, lt: Any, ls: Any) -> tuple[Any, Any]:
        face, seg = self.gr.forward([source, lt, ls] if self.gr_warp else [source, lt])  # (B, 3, S, S) each
        return face, seg

    def _gb(self, face: Any, background: Any) -> tuple[Any, Any]:
        image, mask = self.gb.forward([face, background])
        return image, mask

    def _from_aud(self, inputs: list[Any]) -> list[Any]:
        ls, aud, source, background = inputs
        return list(reenact(self.nets, source, ls, background, aud=aud))

    def _from_lt(self, inputs: list[Any]) -> list[Any]:
        ls, lt, source, background = inputs
        return list(reenact(self.nets, source, ls, background, lt=lt))

    def run(
        self, ls: np.ndarray, aud: np.ndarray, source: np.ndarray, background: np.ndarray
    ) -> dict[str, np.ndarray]:
        return self._run(self._by_aud, self._from_aud, [ls, aud, source, background])

    def run_lt(
        self, ls: np.ndarray, lt: np.ndarray, source: np.ndarray, background: np.ndarray
    ) -> dict[str, np.ndarray]:
        return self._run(self._by_lt, self._from_lt, [ls, lt, source, background])

    def _run(self, cache: GraphCache, fn: Any, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        with torch.no_grad():  # only the per-frame input (aud or lt) is copied in again on replay
            outs = cache.run(fn, arrays, reuse=(True, False, True, True))
        return dict(zip(CHAIN_OUTPUTS, outs, strict=True))
