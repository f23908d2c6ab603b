"""ONNX Runtime on the CPU: the default backend and the parity reference for the others."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engines.base import BackendUnavailableError, Runner
from engines.spec import IOSpec, ModelFileError

log = logging.getLogger(__name__)


def cpu_threads() -> int:
    """Cores this process may run on (cgroup/affinity aware where the OS tells us)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def load_onnx(path: Path) -> bytes:
    """The model's bytes, fp16 graphs upcast to float32; a corrupt file raises ModelFileError naming it."""
    import onnx
    from google.protobuf.message import DecodeError

    from engines.fp16 import has_fp16, upcast_fp16_to_fp32

    try:
        model = onnx.load(str(path))
    except (DecodeError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc})") from exc
    if len(model.graph.node) == 0:
        raise ModelFileError(f"{path} holds no graph (empty or truncated ONNX file)")
    if has_fp16(model):
        log.info("%s: upcasting fp16 weights to float32 for the CPU provider", path.name)
        model = upcast_fp16_to_fp32(model)
    return model.SerializeToString()


class OnnxRuntimeRunner(Runner):
    """`onnxruntime.InferenceSession` with all graph optimisations and one intra-op thread per core."""

    backend = "onnxruntime"

    def __init__(
        self,
        model_path: str | Path,
        spec: IOSpec,
        *,
        threads: int | None = None,
        providers: tuple[str, ...] = ("CPUExecutionProvider",),
        spin: bool = False,
    ) -> None:
        super().__init__(model_path, spec)
        self.threads = threads or cpu_threads()
        self.providers = providers
        self.spin = spin
        self._session: Any = None

    def _activate(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailableError("backend 'onnxruntime' needs: pip install onnxruntime") from exc
        model_bytes = load_onnx(self.model_path)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1  # the three networks are sequential; extra pools only contend
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle pool threads spin-wait by default; in a chain of three sessions on few cores the spinning
        # threads of one session steal the cores the next one needs.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spin else "0")
        try:
            sess = ort.InferenceSession(model_bytes, sess_options=opts, providers=list(self.providers))
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types; all mean a bad model here
            raise ModelFileError(f"ONNX Runtime cannot load {self.model_path}: {exc}") from exc
        names = {i.name for i in sess.get_inputs()}
        if names != set(self.spec.input_names):
            raise ModelFileError(
                f"{self.model_path}: graph inputs {sorted(names)} differ from its spec {list(self.spec.input_names)}"
            )
        self._session = sess
        log.info("%s: ONNX Runtime %s, %d threads", self.model_path.name, ort.__version__, self.threads)

    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = list(self.spec.output_names)
        outs = self._session.run(names, dict(feed))
        return dict(zip(names, outs, strict=True))

    def _deactivate(self) -> None:
        self._session = None
