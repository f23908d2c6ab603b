"""TensorRT: an engine built from the same ONNX (fp16, or INT8 with calibration), cached on disk.

Written against TensorRT 10's documented Python API (Builder, OnnxParser, IBuilderConfig,
IInt8EntropyCalibrator2, execute_async_v3 with named tensor addresses). TensorRT's builder libraries are
not on the registries this project can reach, so this file has never run here: its tests skip where
`import tensorrt` fails. Device memory comes from torch (already present on GPU machines) rather than
pycuda/cuda-python, to add no dependency.

Cache key: GPU name, TensorRT version, ONNX sha256, precision and the batch profile. A change of any of
them names a different file, so a stale engine is never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engines.base import BackendUnavailableError, Runner
from engines.spec import IOSpec, ModelFileError, sha256_file

log = logging.getLogger(__name__)

TrtPrecision = Literal["fp16", "int8", "fp32"]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facegan-live" / "tensorrt"


def engine_key(gpu: str, trt_version: str, onnx_sha256: str, precision: str, max_batch: int) -> str:
    text = json.dumps([gpu, trt_version, onnx_sha256, precision, max_batch])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _import_trt() -> Any:
    try:
        import tensorrt as trt
    except Exception as exc:  # stub sdists fail on import in odd ways
        raise BackendUnavailableError(
            f"backend 'tensorrt' needs NVIDIA TensorRT's Python package with its builder libraries "
            f"(pip install tensorrt from NVIDIA's index); import tensorrt failed: {exc}"
        ) from exc
    return trt


def _make_calibrator(trt: Any, torch: Any, batches: Iterable[Mapping[str, np.ndarray]], cache: Path) -> Any:
    """An IInt8EntropyCalibrator2 fed with real frames (dicts keyed by input name)."""

    class _Calibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self._it: Iterator[Mapping[str, np.ndarray]] = iter(batches)
            self._keep: list[Any] = []  # device tensors must outlive the get_batch call
            self._batch = 1

        def get_batch_size(self) -> int:
            return self._batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            try:
                feed = next(self._it)
            except StopIteration:
                return None
            self._keep = [torch.from_numpy(np.ascontiguousarray(feed[n])).cuda() for n in names]
            self._batch = int(self._keep[0].shape[0])
            return [int(t.data_ptr()) for t in self._keep]

        def read_calibration_cache(self) -> bytes | None:
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data: Any) -> None:
            cache.write_bytes(bytes(data))

    return _Calibrator()


class TensorRTRunner(Runner):
    backend = "tensorrt"

    def __init__(
        self,
        model_path: str | Path,
        spec: IOSpec,
        *,
        precision: TrtPrecision = "fp16",
        max_batch: int = 16,
        cache_dir: str | Path | None = None,
        calibration: Iterable[Mapping[str, np.ndarray]] | None = None,
        workspace_bytes: int = 4 << 30,
    ) -> None:
        super().__init__(model_path, spec)
        self.precision = precision
        self.max_batch = max_batch
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.calibration = calibration
        self.workspace_bytes = workspace_bytes
        self._engine: Any = None
        self._context: Any = None

    def _activate(self) -> None:
        trt = _import_trt()
        import torch

        if not torch.cuda.is_available():
            raise BackendUnavailableError("backend 'tensorrt' needs a CUDA GPU; none is visible")
        self._logger = trt.Logger(trt.Logger.WARNING)
        gpu = torch.cuda.get_device_name()
        key = engine_key(gpu, trt.__version__, sha256_file(self.model_path), self.precision, self.max_batch)
        stem = self.model_path.name.removesuffix(".onnx")
        path = self.cache_dir / f"{stem}-{self.precision}-{key}.engine"
        if not path.is_file():
            log.info("%s: building a TensorRT %s engine for %s (minutes)", stem, self.precision, gpu)
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(self._build(trt, torch, path.with_suffix(".calib")))
            tmp.replace(path)  # atomic: a killed build never leaves a half engine under the real name
        runtime = trt.Runtime(self._logger)
        self._engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise ModelFileError(f"TensorRT could not load cached engine {path}; delete it to rebuild")
        self._context = self._engine.create_execution_context()
        log.info("%s: TensorRT %s engine %s", stem, trt.__version__, path.name)

    def _profile_shapes(self, t: Any) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        def shape(b: int) -> tuple[int, ...]:
            return tuple(d if isinstance(d, int) else b for d in t.shape)

        return shape(1), shape(1), shape(self.max_batch)

    def _build(self, trt: Any, torch: Any, calib_cache: Path) -> bytes:
        builder = trt.Builder(self._logger)
        major = int(trt.__version__.split(".")[0])
        # TensorRT 10 only has explicit batch (flag 0); 8.x must be asked for it.
        flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(self.model_path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ModelFileError(f"TensorRT cannot parse {self.model_path}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self.workspace_bytes)
        profile = builder.create_optimization_profile()
        for t in self.spec.inputs:
            profile.set_shape(t.name, *self._profile_shapes(t))
        config.add_optimization_profile(profile)
        if self.precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)  # int8 layers fall back to fp16, not fp32
        if self.precision == "int8":
            if self.calibration is None and not calib_cache.is_file():
                raise ValueError("TensorRT int8 needs calibration= frames (dicts of input arrays)")
            config.set_flag(trt.BuilderFlag.INT8)
            config.int8_calibrator = _make_calibrator(trt, torch, self.calibration or (), calib_cache)
            config.set_calibration_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise ModelFileError(f"TensorRT failed to build an engine from {self.model_path} (see its log)")
        return bytes(serialized)

    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        stream = torch.cuda.current_stream()
        keep = []
        for t in self.spec.inputs:
            dev = torch.from_numpy(np.ascontiguousarray(feed[t.name])).cuda(non_blocking=True)
            keep.append(dev)
            self._context.set_input_shape(t.name, tuple(dev.shape))
            self._context.set_tensor_address(t.name, int(dev.data_ptr()))
        outs = {}
        for t in self.spec.outputs:
            shape = tuple(self._context.get_tensor_shape(t.name))
            dev = torch.empty(shape, dtype=getattr(torch, t.dtype), device="cuda")
            outs[t.name] = dev
            self._context.set_tensor_address(t.name, int(dev.data_ptr()))
        if not self._context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execution failed for {self.model_path.name}")
        return {n: d.cpu().numpy() for n, d in outs.items()}

    def _deactivate(self) -> None:
        self._context = None
        self._engine = None
