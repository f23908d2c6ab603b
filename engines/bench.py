"""`facegan-bench`: per network (lt, gr, gb) and whole chain, per backend, batch 1 and batched.

Times whatever of `lt.onnx`, `gr_<model>.onnx`, `gb_<model>.onnx` (and `*.int8.onnx` with --int8) are in
--weights, says which it found, prints median and p99 ms and frames/s with the machine named, and with
--json OUT writes {"machine": ..., "results": [{"target", "model", "backend", "batch", "size",
"median_ms", "p99_ms", "fps"}, ...]}. Inputs are random arrays of the spec's shapes: speed does not depend
on the values. A benchmark, not a test: run it alone on a quiet machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from engines.base import BackendUnavailableError
from engines.chain import VARIANTS, ReenactmentChain, Variant, chain_paths
from engines.registry import BACKEND_CHOICES, Backend, available_backends, open_runner
from engines.spec import IOSpec, ModelFileError, load_spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchResult:
    target: str
    model: str
    backend: str
    batch: int
    size: int
    median_ms: float
    p99_ms: float
    fps: float
    cpu_ms: float = field(default=0.0, compare=False)
    """Median CPU ms of the calling thread; printed with --threads 1 (robust to other users' load), not in JSON."""

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if k != "cpu_ms"}


def default_weights_dir() -> Path:
    """realtime/weights of the installed (or checked-out) package, located without importing realtime."""
    spec = importlib.util.find_spec("realtime")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("facegan-bench: package 'realtime' not found; pass --weights DIR")
    return Path(next(iter(spec.submodule_search_locations))) / "weights"


def machine_name() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    name = f"{cpu}, {cores} cores"
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            name += f", GPU {torch.cuda.get_device_name()}"
    return name


def random_feed(spec: IOSpec, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    feed = {}
    for t in spec.inputs:
        shape = t.concrete_shape(batch=batch)
        lo = (
            -0.8 if t.name in ("ls", "landmarks", "source_landmarks") else 0.0
        )  # landmarks are normalised to [-1, 1]
        feed[t.name] = rng.uniform(lo, 1.0 if lo == 0 else 0.8, shape).astype(t.dtype)
    return feed


def time_calls(fn: Callable[[], object], warmup: int, iters: int) -> tuple[float, float, float]:
    """(median, p99) wall milliseconds of `iters` calls after `warmup` untimed ones, and the median CPU
    milliseconds of the calling thread (all the work when ONNX Runtime runs with one thread)."""
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    for _ in range(iters):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
    return statistics.median(times), float(np.percentile(times, 99)), statistics.median(cpu)


def _result(
    target: str, model: str, backend: str, batch: int, size: int, ms: tuple[float, float, float]
) -> BenchResult:
    med, p99, cpu = ms
    fps = round(batch * 1000 / med, 1)
    return BenchResult(target, model, backend, batch, size, round(med, 3), round(p99, 3), fps, round(cpu, 3))


def bench_networks(
    paths: dict[str, Path], args: argparse.Namespace, backend: Backend, label: str, size: int
) -> list[BenchResult]:
    results = []
    rng = np.random.default_rng(0)
    for net, path in paths.items():
        if not path.is_file():
            continue
        with open_runner(path, backend, **_options(args, backend)) as r:
            for b in args.batch:
                feed = random_feed(r.spec, b, rng)
                results.append(
                    _result(
                        net,
                        args.model,
                        label,
                        b,
                        size,
                        time_calls(partial(r.infer, feed), args.warmup, args.iters),
                    )
                )
                _print(results[-1], args)
    return results


def bench_chain(args: argparse.Namespace, backend: Backend, label: str, precision: str) -> list[BenchResult]:
    results = []
    rng = np.random.default_rng(1)
    with ReenactmentChain(
        args.weights,
        args.model,
        backend,
        precision=precision,  # type: ignore[arg-type]
        **_options(args, backend),
    ) as chain:
        s = chain.image_size
        chain.set_source(
            rng.random((3, s, s), dtype=np.float32),
            rng.uniform(-0.8, 0.8, (chain.num_landmarks, 2)).astype(np.float32),
        )
        for b in args.batch:
            aud = rng.random((b, 20), dtype=np.float32)
            results.append(
                _result(
                    "chain",
                    args.model,
                    label,
                    b,
                    s,
                    time_calls(partial(chain.run, aud), args.warmup, args.iters),
                )
            )
            _print(results[-1], args)
    return results


def _options(args: argparse.Namespace, backend: Backend) -> dict:
    return {"threads": args.threads} if backend == "onnxruntime" and args.threads else {}


def _print(r: BenchResult, args: argparse.Namespace) -> None:
    cpu = f"  cpu {r.cpu_ms:8.2f} ms" if args.threads == 1 and r.backend.startswith("onnxruntime") else ""
    print(
        f"{r.target:6s} {r.model:5s} {r.backend:17s} batch {r.batch:3d}  {r.size}px  "
        f"median {r.median_ms:8.2f} ms  p99 {r.p99_ms:8.2f} ms  {r.fps:9.1f} frames/s{cpu}",
        flush=True,
    )


def _backends(args: argparse.Namespace, probe_path: Path) -> list[Backend]:
    if args.backend != ["auto"]:
        return list(args.backend)
    usable = [b for b, reason in available_backends(probe_path).items() if reason is None]
    for b, reason in available_backends(probe_path).items():
        if reason is not None:
            print(f"skipping backend {b}: {reason}")
    return usable


def run(args: argparse.Namespace) -> list[BenchResult]:
    variant: Variant = args.model
    results: list[BenchResult] = []
    for precision in ("shipped", "int8") if args.int8 else ("shipped",):
        paths = chain_paths(args.weights, variant, precision)  # type: ignore[arg-type]
        if precision == "int8":
            paths["lt"] = Path("/nonexistent")  # LT is not quantised: timed once above
        found = [p.name for p in paths.values() if p.is_file()]
        missing = [
            p.name for n, p in paths.items() if not p.is_file() and (precision == "shipped" or n != "lt")
        ]
        print(
            f"{precision}: timing {found or 'nothing'} in {args.weights}"
            + (f"; missing {missing}" if missing else "")
        )
        if not found:
            continue
        probe = next(p for p in paths.values() if p.is_file())
        size = (
            load_spec(paths["gr"], verify_hash=False).image_size if paths["gr"].is_file() else None
        ) or 256
        backends: list[Backend] = _backends(args, probe) if precision == "shipped" else ["onnxruntime"]
        for backend in backends:
            label = backend if precision == "shipped" else f"{backend}-int8"
            try:
                results += bench_networks(paths, args, backend, label, size)
                if not missing:
                    results += bench_chain(args, backend, label, precision)
            except (BackendUnavailableError, ModelFileError) as exc:
                print(f"backend {label}: {exc}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="facegan-bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--weights", type=Path, default=None, help="folder of .onnx + .spec.json (default: realtime/weights)"
    )
    p.add_argument("--model", choices=VARIANTS, default="lite", help="which Gr/Gb variant")
    p.add_argument(
        "--backend",
        nargs="+",
        choices=BACKEND_CHOICES,
        default=["auto"],
        help="backends to time; auto = every one usable here",
    )
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes (streams per call)")
    p.add_argument("--iters", type=int, default=50, help="timed calls per row")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls first (CUDA graphs capture here)")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="ONNX Runtime intra-op threads (0: all cores); with 1 the CPU ms of the work is printed too",
    )
    p.add_argument("--int8", action="store_true", help="also time <name>.int8.onnx (engines.quantize)")
    p.add_argument("--json", type=Path, default=None, help="write the results table as JSON here")
    args = p.parse_args(argv)
    args.weights = args.weights or default_weights_dir()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    machine = machine_name()
    print(f"machine: {machine}")
    results = run(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"machine": machine, "results": [r.to_json() for r in results]}, indent=1)
        )
        print(f"wrote {args.json}")
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
