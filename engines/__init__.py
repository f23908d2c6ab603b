"""Run the exported networks fast on any machine: one Runner interface over several backends.

    from engines import open_runner
    with open_runner("weights/gr_lite.onnx", backend="auto") as r:
        out = r.infer({"source": x, "landmarks": l})

Knows numpy, onnx, onnxruntime, torch and tensorrt; never imports realtime/ or training/.
"""

from engines.base import BackendUnavailableError, Runner
from engines.registry import (
    BACKEND_CHOICES,
    BACKENDS,
    Backend,
    BackendChoice,
    available_backends,
    open_runner,
    resolve_backend,
)
from engines.spec import (
    EngineError,
    IOSpec,
    ModelFileError,
    SpecMismatchError,
    TensorSpec,
    load_spec,
)

RunnerSpec = IOSpec
"""The name docs/CONTRACTS.md section 4 imports: the I/O spec a runner validates against."""

__all__ = [
    "BACKENDS",
    "BACKEND_CHOICES",
    "Backend",
    "BackendChoice",
    "BackendUnavailableError",
    "EngineError",
    "IOSpec",
    "ModelFileError",
    "Runner",
    "RunnerSpec",
    "SpecMismatchError",
    "TensorSpec",
    "available_backends",
    "load_spec",
    "open_runner",
    "resolve_backend",
]
