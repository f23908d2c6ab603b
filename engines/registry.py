"""Backend registry and `open_runner`, the one way the rest of the project gets a Runner."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from engines.base import BackendUnavailableError, Runner
from engines.spec import load_spec

log = logging.getLogger(__name__)

Backend = Literal["onnxruntime", "torch", "tensorrt"]
BackendChoice = Literal["auto", Backend]
"""What a user may ask for (CLI `--backend`): a backend, or `auto`, the fastest usable one."""
BACKENDS: tuple[Backend, ...] = get_args(Backend)
BACKEND_CHOICES: tuple[BackendChoice, ...] = get_args(BackendChoice)


def _cuda_reason() -> str | None:
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed (pip install torch, a CUDA build, for the GPU backends)"
    import torch

    if not torch.cuda.is_available():
        return f"no CUDA GPU visible to torch {torch.__version__}"
    return None


def _probe_onnxruntime(model_path: Path) -> str | None:
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed: pip install onnxruntime"
    return None


def _probe_torch(model_path: Path) -> str | None:
    from engines.torch_backend import sidecar_path

    reason = _cuda_reason()
    if reason is None and not sidecar_path(model_path).is_file():
        reason = f"no torch.export sidecar {sidecar_path(model_path).name} next to {model_path.name}"
    return reason


def _probe_tensorrt(model_path: Path) -> str | None:
    try:
        import tensorrt  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - stub sdists raise odd things on import
        return (
            f"import tensorrt failed ({type(exc).__name__}: {exc}); install NVIDIA TensorRT's Python "
            "package with its builder libraries (pip install tensorrt from NVIDIA's index)"
        )
    return _cuda_reason()


@dataclass(frozen=True)
class BackendEntry:
    name: Backend
    runner: str
    """`module:Class` of the Runner, imported only when chosen (no import-time cost for absent libraries)."""
    probe: Callable[[Path], str | None]
    """None when usable for this model, else why not (with what to install)."""


# Fastest first: `auto` takes the first whose probe passes.
REGISTRY: tuple[BackendEntry, ...] = (
    BackendEntry("tensorrt", "engines.tensorrt_backend:TensorRTRunner", _probe_tensorrt),
    BackendEntry("torch", "engines.torch_backend:TorchRunner", _probe_torch),
    BackendEntry("onnxruntime", "engines.onnxruntime_backend:OnnxRuntimeRunner", _probe_onnxruntime),
)


def _entry(name: str) -> BackendEntry:
    for e in REGISTRY:
        if e.name == name:
            return e
    raise ValueError(f"unknown backend {name!r}; choose one of {BACKEND_CHOICES}")


def available_backends(model_path: str | Path) -> dict[Backend, str | None]:
    """Each backend's probe result for this model: None = usable, else the reason it is not."""
    return {e.name: e.probe(Path(model_path)) for e in REGISTRY}


def resolve_backend(model_path: str | Path, backend: BackendChoice = "auto") -> Backend:
    """The concrete backend `open_runner` would use; logs why for `auto`, raises if an explicit one is absent."""
    path = Path(model_path)
    if backend != "auto":
        reason = _entry(backend).probe(path)
        if reason is not None:
            raise BackendUnavailableError(f"backend {backend!r} is not usable for {path.name}: {reason}")
        return _entry(backend).name
    skipped: list[str] = []
    for e in REGISTRY:
        reason = e.probe(path)
        if reason is None:
            log.info(
                "backend auto -> %s for %s%s",
                e.name,
                path.name,
                "" if not skipped else " (skipped: " + "; ".join(skipped) + ")",
            )
            return e.name
        skipped.append(f"{e.name}: {reason}")
    raise BackendUnavailableError(f"no backend can run {path.name}: " + "; ".join(skipped))


def open_runner(
    model_path: str | Path, backend: BackendChoice = "auto", *, verify_hash: bool = True, **options: Any
) -> Runner:
    """A Runner (not yet active: use `with`) for `model_path`, its spec read from `<name>.spec.json`.

    `options` go to the backend's constructor (for example `threads=` for onnxruntime).
    """
    path = Path(model_path)
    spec = load_spec(path, verify_hash=verify_hash)
    name = resolve_backend(path, backend)
    module_name, cls_name = _entry(name).runner.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    runner: Runner = cls(path, spec, **options)
    return runner
