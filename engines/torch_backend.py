"""torch on CUDA: fp16, torch.compile (default mode), CUDA-graph replay, pinned host buffers.

The network comes from `<name>.pt2` next to `<name>.onnx`: `torch.export.save` of the fp32 network, written by
facegan-export (CONTRACTS.md 2), called with the spec's inputs positionally in spec order and returning its
outputs in spec order. Engines never import training code, so this file is the whole model as far as
the run time is concerned.

`device="cpu"` runs the same program eagerly in fp32: a debugging and test path, never picked by `auto`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engines.base import BackendUnavailableError, Runner
from engines.spec import IOSpec, ModelFileError

log = logging.getLogger(__name__)

TorchPrecision = Literal["fp16", "autocast", "fp32"]
"""fp16: weights and activations in half; autocast: fp32 weights, fp16 matmuls/convs; fp32: no reduction."""
MAX_GRAPHS = 8  # one CUDA graph per input shape; each holds its own activation memory


def sidecar_path(model_path: str | Path) -> Path:
    """`dir/gr_full.onnx` -> `dir/gr_full.pt2`."""
    p = Path(model_path)
    return p.with_name(p.name.removesuffix(".onnx") + ".pt2")


def _half_float_literals(module: Any) -> int:
    """Make tensors the graph creates itself fp16 too (returns how many nodes changed).

    torch.export bakes `dtype=torch.float32` into ops such as arange/linspace/full (Gr's heatmap grid is
    one); with half weights they would promote the activations back to float32 and the next conv would
    refuse the mix. Rewriting those literals keeps the whole graph in half, as the fp16 ONNX is.
    """
    import torch

    changed = 0
    for node in module.graph.nodes:  # dtype may be a keyword (arange, full) or positional (to.dtype)
        if any(a is torch.float32 for a in (*node.args, *node.kwargs.values())):
            node.args = tuple(torch.float16 if a is torch.float32 else a for a in node.args)
            node.kwargs = {k: torch.float16 if v is torch.float32 else v for k, v in node.kwargs.items()}
            changed += 1
    if changed:
        module.recompile()
    return changed


@dataclass
class _Captured:
    """One CUDA graph with its static device tensors and pinned host staging buffers."""

    graph: Any
    dev_in: list[Any]
    dev_out: list[Any]
    host_in: list[Any]
    host_out: list[Any]
    last_in: list[np.ndarray | None]


class TorchRunner(Runner):
    backend = "torch"

    def __init__(
        self,
        model_path: str | Path,
        spec: IOSpec,
        *,
        device: str = "cuda",
        precision: TorchPrecision | None = None,
        compile: bool = True,
        cuda_graphs: bool = True,
        warmup: int = 3,
    ) -> None:
        super().__init__(model_path, spec)
        self.device = device
        self.precision: TorchPrecision = precision or ("fp32" if device == "cpu" else "fp16")
        self.compile = compile and device != "cpu"
        self.cuda_graphs = cuda_graphs and device != "cpu"
        self.warmup = warmup
        self._module: Any = None
        self._calls = GraphCache(self.model_path.name, device, warmup, enabled=self.cuda_graphs)

    def _activate(self) -> None:
        try:
            import torch
        except ImportError as exc:
            raise BackendUnavailableError("backend 'torch' needs torch with CUDA: pip install torch") from exc
        if self.device != "cpu" and not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"backend 'torch' needs a CUDA GPU; torch {torch.__version__} sees none "
                "(use backend='onnxruntime' on this machine)"
            )
        self._module = self._load(torch)
        log.info(
            "%s: torch %s on %s, %s, compile=%s, cuda_graphs=%s",
            self.model_path.name,
            torch.__version__,
            self._device_name(torch),
            self.precision,
            self.compile,
            self.cuda_graphs,
        )

    def _device_name(self, torch: Any) -> str:
        return "cpu" if self.device == "cpu" else torch.cuda.get_device_name(torch.device(self.device))

    def _load(self, torch: Any) -> Any:
        path = sidecar_path(self.model_path)
        if not path.is_file():
            raise ModelFileError(
                f"backend 'torch' needs {path} (torch.export.save of the network, written by facegan-export)"
            )
        try:
            ep = torch.export.load(str(path))
        except Exception as exc:  # torch raises a zoo of types on bad archives
            raise ModelFileError(f"{path} is not a readable torch.export program: {exc}") from exc
        device = torch.device(self.device)
        if device.type == "cuda" and device.index is None:
            # An explicit index: the pass writes this device into the graph's tensor-metadata asserts, and
            # torch.compile compares it with the tensors' own ("cuda" != "cuda:0" failed the shipped Gr on an
            # H200, torch 2.11).
            device = torch.device("cuda", torch.cuda.current_device())
        if device.type != "cpu":
            from torch.export.passes import move_to_device_pass

            ep = move_to_device_pass(ep, str(device))  # also moves device= constants baked into the graph
        module = ep.module().to(device)  # exported in eval mode; .eval() is unsupported here
        if self.precision == "fp16":
            module = module.half()
            _half_float_literals(module)
        if self.compile:
            module = torch.compile(module, dynamic=False)  # default mode: max-autotune takes > 8 min
        return module

    def forward(self, inputs: list[Any]) -> list[Any]:
        """Device tensors in spec order -> device tensors in spec order (cast in, run, cast out): all inside
        the captured graph so replay does every step. The fused chain (engines.torch_chain) calls it directly."""
        import torch

        half = self.precision == "fp16"
        args = [t.half() if half and t.is_floating_point() else t for t in inputs]
        device_type = torch.device(self.device).type
        with torch.autocast(device_type, dtype=torch.float16, enabled=self.precision == "autocast"):
            out = self._module(*args)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        if len(outs) != len(self.spec.outputs):
            raise ModelFileError(
                f"{sidecar_path(self.model_path).name} returned {len(outs)} outputs, its spec lists "
                f"{list(self.spec.output_names)}"
            )
        return [o.to(getattr(torch, t.dtype)) for o, t in zip(outs, self.spec.outputs, strict=True)]

    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        with torch.no_grad():
            outs = self._calls.run(self.forward, [feed[n] for n in self.spec.input_names])
        return dict(zip(self.spec.output_names, outs, strict=True))

    def _deactivate(self) -> None:
        self._calls.clear()
        self._module = None


def capture(
    fn: Callable[[list[Any]], list[Any]], arrays: list[np.ndarray], device: str, warmup: int
) -> _Captured:
    """Warm `fn` up on a side stream (torch.compile compiles here), then capture one CUDA graph of it."""
    import torch

    host_in = [torch.from_numpy(a.copy()).pin_memory() for a in arrays]
    dev_in = [h.to(device) for h in host_in]
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(max(1, warmup)):
            fn(dev_in)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        dev_out = fn(dev_in)
    host_out = [torch.empty(o.shape, dtype=o.dtype, pin_memory=True) for o in dev_out]
    return _Captured(graph, dev_in, dev_out, host_in, host_out, [None] * len(arrays))


def replay(cap: _Captured, arrays: list[np.ndarray], reuse: tuple[bool, ...] = ()) -> list[np.ndarray]:
    """Copy inputs in through pinned buffers, replay, copy outputs out.

    `reuse[i]` marks input i as immutable by contract (the chain's cached source tiles): when the very same
    array object comes again it is already on the device and is not copied.
    """
    import torch

    for i, (host, dev, a) in enumerate(zip(cap.host_in, cap.dev_in, arrays, strict=True)):
        if i < len(reuse) and reuse[i] and cap.last_in[i] is a:
            continue
        np.copyto(host.numpy(), a)
        dev.copy_(host, non_blocking=True)
        cap.last_in[i] = a
    cap.graph.replay()
    for host, dev in zip(cap.host_out, cap.dev_out, strict=True):
        host.copy_(dev, non_blocking=True)
    torch.cuda.current_stream().synchronize()
    return [h.numpy().copy() for h in cap.host_out]  # copies: the next replay overwrites the buffers


class GraphCache:
    """`run(fn, arrays)`: fn on device copies of host arrays, back to host, one CUDA graph per input shapes.

    The one home of the capture/replay bookkeeping, for a single network (TorchRunner) and for the fused chain
    alike. At most MAX_GRAPHS graphs are kept, the oldest dropped first; `enabled=False` runs fn eagerly.
    """

    def __init__(self, name: str, device: str, warmup: int, *, enabled: bool) -> None:
        self.name, self.device, self.warmup, self.enabled = name, device, warmup, enabled
        self._graphs: dict[tuple[tuple[int, ...], ...], _Captured] = {}

    def run(
        self, fn: Callable[[list[Any]], list[Any]], arrays: list[np.ndarray], reuse: tuple[bool, ...] = ()
    ) -> list[np.ndarray]:
        """Call under torch.no_grad(). `reuse` as in `replay`."""
        import torch

        if not self.enabled:
            return [o.cpu().numpy() for o in fn([torch.from_numpy(a).to(self.device) for a in arrays])]
        key = tuple(a.shape for a in arrays)
        if key not in self._graphs:
            if len(self._graphs) >= MAX_GRAPHS:
                self._graphs.pop(next(iter(self._graphs)))
            self._graphs[key] = capture(fn, arrays, self.device, self.warmup)
            log.info("%s: captured a CUDA graph for input shapes %s", self.name, key)
        return replay(self._graphs[key], arrays, reuse)

    def clear(self) -> None:
        self._graphs.clear()
