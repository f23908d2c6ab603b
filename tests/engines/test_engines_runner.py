"""Runner lifecycle, spec validation and the bad-input errors of issue 4, on tiny onnx.helper graphs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engines import (
    BackendUnavailableError,
    EngineError,
    ModelFileError,
    SpecMismatchError,
    available_backends,
    load_spec,
    open_runner,
    resolve_backend,
)
from engines.spec import parse_spec, spec_from_onnx, spec_path_for, write_spec


def tiny_model(path: Path, network: str = "lt") -> Path:
    """y (batch, 4) = x (batch, 4) * w, computed in fp16 like the shipped weights; plus its spec."""
    w = numpy_helper.from_array(np.array([1.0, 2.0, -0.5, 0.25], np.float16), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["x"], ["xh"], to=TensorProto.FLOAT16),
            helper.make_node("Mul", ["xh", "w"], ["yh"]),
            helper.make_node("Cast", ["yh"], ["y"], to=TensorProto.FLOAT),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    write_spec(spec_from_onnx(path, network), path)
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return tiny_model(tmp_path / "tiny.onnx")


def test_lifecycle_and_result(model: Path) -> None:
    runner = open_runner(model, "onnxruntime", threads=1)
    assert not runner.is_active
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    with pytest.raises(EngineError, match="outside"):
        runner.infer({"x": x})
    with runner as r:
        assert r.is_active
        y = r.infer({"x": x})["y"]
        assert y.dtype == np.float32
        np.testing.assert_allclose(y, x * np.array([1, 2, -0.5, 0.25], np.float32))
    assert not runner.is_active
    with pytest.raises(EngineError):
        runner.infer({"x": x})


@pytest.mark.parametrize(
    ("feed", "match"),
    [
        ({"x": np.zeros((1, 4), np.float64)}, r"'x'.*dtype float64, expected float32"),
        ({"x": np.zeros((1, 5), np.float32)}, r"'x'.*shape \(1, 5\), expected \('batch', 4\)"),
        ({"x": np.zeros((4,), np.float32)}, r"'x'.*rank 1"),
        ({"z": np.zeros((1, 4), np.float32)}, r"missing \['x'\].*unexpected \['z'\]"),
        ({"x": [[0.0] * 4]}, r"numpy array"),
    ],
)
def test_bad_inputs_raise_clear_errors(model: Path, feed: dict, match: str) -> None:
    with open_runner(model, "onnxruntime", threads=1) as r, pytest.raises(SpecMismatchError, match=match):
        r.infer(feed)


def test_symbolic_dims_must_agree(tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "format": "facegan-io-spec",
            "version": 1,
            "network": "gb",
            "inputs": [
                {"name": "a", "shape": ["batch", 2], "dtype": "float32"},
                {"name": "b", "shape": ["batch", 2], "dtype": "float32"},
            ],
            "outputs": [{"name": "c", "shape": ["batch", 2], "dtype": "float32"}],
        }
    )
    from engines.spec import check_arrays

    with pytest.raises(SpecMismatchError, match="'batch' is 3 here but 2"):
        check_arrays(
            spec.inputs, {"a": np.zeros((2, 2), np.float32), "b": np.zeros((3, 2), np.float32)}, "input", "gb"
        )


def test_missing_and_corrupt_files_name_the_file(model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="nope.onnx"):
        open_runner(tmp_path / "nope.onnx")
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(model.read_bytes())
    with pytest.raises(ModelFileError, match=r"lonely\.spec\.json"):
        open_runner(lonely)
    spec_path_for(lonely).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFileError, match=r"lonely\.spec\.json.*JSON"):
        open_runner(lonely)
    spec_path_for(lonely).write_text(json.dumps({"format": "other"}), encoding="utf-8")
    with pytest.raises(ModelFileError, match="format"):
        open_runner(lonely)


def test_hash_mismatch_and_corrupt_onnx(model: Path) -> None:
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 2])  # truncated: the spec's sha256 no longer matches
    with pytest.raises(ModelFileError, match="does not match its spec"):
        open_runner(model)
    runner = open_runner(model, "onnxruntime", verify_hash=False)
    with pytest.raises(ModelFileError, match="tiny.onnx"):
        runner.activate()
    model.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelFileError, match="tiny.onnx"):
        open_runner(model, "onnxruntime", verify_hash=False).activate()


def test_spec_round_trip(model: Path) -> None:
    spec = load_spec(model)
    assert spec.input("x").shape == ("batch", 4) and spec.output_names == ("y",)
    assert parse_spec(spec.to_json()) == spec
    assert spec.input("x").concrete_shape(batch=3) == (3, 4)


def test_backend_selection(model: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        open_runner(model, "cuda")  # type: ignore[arg-type]
    reasons = available_backends(model)
    assert reasons["onnxruntime"] is None
    if reasons["tensorrt"] is not None:
        with pytest.raises(BackendUnavailableError, match="tensorrt.*install"):
            open_runner(model, "tensorrt")
    if reasons["torch"] is not None:
        with pytest.raises(BackendUnavailableError, match="'torch'"):
            open_runner(model, "torch")
    with caplog.at_level(logging.INFO, logger="engines.registry"):
        chosen = resolve_backend(model, "auto")
    assert "backend auto -> " + chosen in caplog.text
    if chosen == "onnxruntime":
        assert "skipped: tensorrt" in caplog.text
