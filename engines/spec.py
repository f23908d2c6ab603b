"""The exported I/O spec (`<name>.spec.json`, docs/CONTRACTS.md section 2) and checks of arrays against it.

The spec is the contract between training and run time: every backend reads it, validates what goes in and
what comes out against it, and never casts silently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

SPEC_FORMAT = "facegan-io-spec"
SPEC_VERSION = 1
SPEC_SUFFIX = ".spec.json"
DTYPES = ("float32", "float16", "int64", "int32", "uint8", "bool")


class EngineError(RuntimeError):
    """Base class of every error the engines raise on purpose."""


class ModelFileError(EngineError):
    """A model or spec file is missing, unreadable or inconsistent with its partner."""


class SpecMismatchError(ValueError, EngineError):
    """An array handed to or returned by a runner does not match the I/O spec."""


Variant = Literal["lite", "full"]
"""The shipped sizes of Gr and Gb (`gr_<variant>.onnx`, the spec's `variant`): lite for CPUs, full for GPUs.
Training adds `tiny` for tests (training.models.unet.ModelVariant)."""
VARIANTS: tuple[Variant, ...] = get_args(Variant)

Dim = int | str  # an int is fixed, a str names a symbolic dimension ("batch")


@dataclass(frozen=True)
class TensorSpec:
    """One named tensor of a network's interface."""

    name: str
    """Tensor name as in the ONNX graph."""
    shape: tuple[Dim, ...]
    """Fixed sizes as ints, symbolic ones as names; tensors sharing a name must agree at run time."""
    dtype: str
    """numpy dtype name, one of DTYPES."""

    @property
    def rank(self) -> int:
        return len(self.shape)

    def concrete_shape(self, **dims: int) -> tuple[int, ...]:
        """The shape with symbolic dimensions filled in from `dims` (for example `batch=4`)."""
        try:
            return tuple(d if isinstance(d, int) else dims[d] for d in self.shape)
        except KeyError as exc:
            raise ValueError(f"tensor {self.name!r}: no value given for dimension {exc.args[0]!r}") from None


@dataclass(frozen=True)
class IOSpec:
    """The parsed `<name>.spec.json` of one exported network."""

    network: str
    variant: str | None
    image_size: int | None
    num_landmarks: int | None
    precision: str
    opset: int | None
    onnx_sha256: str | None
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    training: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Training provenance, kept for model cards and reports; engines do not read it."""

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)

    def input(self, name: str) -> TensorSpec:
        return _by_name(self.inputs, name)

    def output(self, name: str) -> TensorSpec:
        return _by_name(self.outputs, name)

    def to_json(self) -> dict[str, Any]:
        """The dict `write_spec` stores; `parse_spec(spec.to_json())` round-trips."""
        return {
            "format": SPEC_FORMAT,
            "version": SPEC_VERSION,
            "network": self.network,
            "variant": self.variant,
            "image_size": self.image_size,
            "num_landmarks": self.num_landmarks,
            "precision": self.precision,
            "opset": self.opset,
            "onnx_sha256": self.onnx_sha256,
            "inputs": [_tensor_json(t) for t in self.inputs],
            "outputs": [_tensor_json(t) for t in self.outputs],
            "training": dict(self.training),
        }


def _by_name(tensors: tuple[TensorSpec, ...], name: str) -> TensorSpec:
    for t in tensors:
        if t.name == name:
            return t
    raise KeyError(f"no tensor {name!r}; have {[t.name for t in tensors]}")


def _tensor_json(t: TensorSpec) -> dict[str, Any]:
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype}


def spec_path_for(onnx_path: Path) -> Path:
    """`dir/gr_lite.onnx` -> `dir/gr_lite.spec.json` (also for `gr_lite.int8.onnx`)."""
    return onnx_path.with_name(onnx_path.name.removesuffix(".onnx") + SPEC_SUFFIX)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_spec(data: Mapping[str, Any], source: str = "<spec>") -> IOSpec:
    """Validate and convert a spec dict; errors name `source` and the offending field."""

    def fail(msg: str) -> ModelFileError:
        return ModelFileError(f"{source}: {msg}")

    if not isinstance(data, Mapping):
        raise fail("the spec must be a JSON object")
    if data.get("format") != SPEC_FORMAT:
        raise fail(f"format is {data.get('format')!r}, expected {SPEC_FORMAT!r}")
    if data.get("version") != SPEC_VERSION:
        raise fail(f"version is {data.get('version')!r}, this code reads version {SPEC_VERSION}")
    for key in ("network", "inputs", "outputs"):
        if key not in data:
            raise fail(f"missing field {key!r}")
    inputs = _parse_tensors(data["inputs"], "inputs", fail)
    outputs = _parse_tensors(data["outputs"], "outputs", fail)
    if not inputs or not outputs:
        raise fail("a spec needs at least one input and one output")
    return IOSpec(
        network=str(data["network"]),
        variant=data.get("variant"),
        image_size=data.get("image_size"),
        num_landmarks=data.get("num_landmarks"),
        precision=str(data.get("precision", "fp32")),
        opset=data.get("opset"),
        onnx_sha256=data.get("onnx_sha256"),
        inputs=inputs,
        outputs=outputs,
        training=dict(data.get("training") or {}),
    )


def _parse_tensors(items: Any, where: str, fail: Any) -> tuple[TensorSpec, ...]:
    if not isinstance(items, list):
        raise fail(f"{where} must be a list")
    out: list[TensorSpec] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not {"name", "shape", "dtype"} <= item.keys():
            raise fail(f"{where}[{i}] needs name, shape and dtype")
        shape = item["shape"]
        if not isinstance(shape, list) or not all(
            (isinstance(d, int) and not isinstance(d, bool) and d > 0) or (isinstance(d, str) and d)
            for d in shape
        ):
            raise fail(f"{where}[{i}] ({item['name']!r}): shape must list positive ints or dimension names")
        if item["dtype"] not in DTYPES:
            raise fail(f"{where}[{i}] ({item['name']!r}): dtype {item['dtype']!r} is not one of {DTYPES}")
        out.append(TensorSpec(name=str(item["name"]), shape=tuple(shape), dtype=str(item["dtype"])))
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise fail(f"{where} has duplicate names {names}")
    return tuple(out)


def load_spec(onnx_path: str | Path, *, verify_hash: bool = True) -> IOSpec:
    """Read the spec next to `onnx_path`; check both files exist and, if asked, that the hash matches."""
    onnx_path = Path(onnx_path)
    spec_path = spec_path_for(onnx_path)
    if not onnx_path.is_file():
        raise ModelFileError(f"model file not found: {onnx_path}")
    if not spec_path.is_file():
        raise ModelFileError(
            f"I/O spec not found: {spec_path} (every .onnx ships with a .spec.json written by facegan-export)"
        )
    try:
        data = json.loads(spec_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"I/O spec {spec_path} is not readable JSON: {exc}") from exc
    spec = parse_spec(data, str(spec_path))
    if verify_hash and spec.onnx_sha256:
        actual = sha256_file(onnx_path)
        if actual != spec.onnx_sha256:
            raise ModelFileError(
                f"{onnx_path} does not match its spec {spec_path}: sha256 {actual[:12]}... != "
                f"{spec.onnx_sha256[:12]}... (re-export the network, or the files come from different runs)"
            )
    return spec


def write_spec(spec: IOSpec, onnx_path: str | Path) -> Path:
    """Write `spec` next to `onnx_path` (used for derived models such as `<name>.int8.onnx`)."""
    path = spec_path_for(Path(onnx_path))
    path.write_text(json.dumps(spec.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def check_arrays(
    tensors: tuple[TensorSpec, ...], arrays: Mapping[str, np.ndarray], role: str, network: str
) -> dict[str, int]:
    """Check names, rank, fixed dims, dtype and symbolic-dim consistency; return the symbolic dims seen.

    Raises SpecMismatchError naming the network, the tensor and expected vs got; never converts.
    """
    expected = {t.name for t in tensors}
    got = set(arrays)
    if expected != got:
        missing, extra = sorted(expected - got), sorted(got - expected)
        raise SpecMismatchError(
            f"{network}: {role} names {sorted(got)} do not match the spec {sorted(expected)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unexpected {extra}" if extra else "")
        )
    dims: dict[str, int] = {}
    for t in tensors:
        a = arrays[t.name]
        where = f"{network}: {role} {t.name!r}"
        if not isinstance(a, np.ndarray):
            raise SpecMismatchError(f"{where}: expected a numpy array, got {type(a).__name__}")
        if a.dtype != np.dtype(t.dtype):
            raise SpecMismatchError(f"{where}: dtype {a.dtype}, expected {t.dtype} (no silent casts)")
        if a.ndim != t.rank:
            raise SpecMismatchError(f"{where}: rank {a.ndim} {a.shape}, expected rank {t.rank} {t.shape}")
        for axis, (d, n) in enumerate(zip(t.shape, a.shape, strict=True)):
            if isinstance(d, int):
                if d != n:
                    raise SpecMismatchError(f"{where}: shape {a.shape}, expected {t.shape} (axis {axis})")
            elif dims.setdefault(d, n) != n:
                raise SpecMismatchError(
                    f"{where}: dimension {d!r} is {n} here but {dims[d]} in another {role} tensor"
                )
    return dims


_ONNX_DTYPES = {1: "float32", 10: "float16", 7: "int64", 6: "int32", 2: "uint8", 9: "bool"}


def spec_from_onnx(
    onnx_path: str | Path,
    network: str,
    *,
    variant: str | None = None,
    image_size: int | None = None,
    num_landmarks: int | None = None,
    precision: str = "fp16",
    training: Mapping[str, Any] | None = None,
) -> IOSpec:
    """Build the spec of an ONNX file from its graph's declared inputs and outputs, with its sha256.

    Unnamed dynamic dimensions are an error: name them at export (`dynamic_axes={"x": {0: "batch"}}`).
    """
    import onnx

    path = Path(onnx_path)
    model = onnx.load(str(path), load_external_data=False)
    init_names = {i.name for i in model.graph.initializer}

    def tensors(values: Any) -> tuple[TensorSpec, ...]:
        out = []
        for v in values:
            if v.name in init_names:  # old exporters list initializers as inputs
                continue
            tt = v.type.tensor_type
            shape: list[Dim] = []
            for i, d in enumerate(tt.shape.dim):
                if d.HasField("dim_value"):
                    shape.append(int(d.dim_value))
                elif d.dim_param:
                    shape.append(str(d.dim_param))
                else:
                    raise ModelFileError(f"{path}: {v.name!r} axis {i} is dynamic without a name")
            dtype = _ONNX_DTYPES.get(tt.elem_type)
            if dtype is None:
                raise ModelFileError(f"{path}: {v.name!r} has unsupported element type {tt.elem_type}")
            out.append(TensorSpec(v.name, tuple(shape), dtype))
        return tuple(out)

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return IOSpec(
        network=network,
        variant=variant,
        image_size=image_size,
        num_landmarks=num_landmarks,
        precision=precision,
        opset=opset,
        onnx_sha256=sha256_file(path),
        inputs=tensors(model.graph.input),
        outputs=tensors(model.graph.output),
        training=dict(training or {}),
    )
