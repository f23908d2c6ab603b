"""TensorRT backend: cache keys here; engine build and parity only where TensorRT and a GPU exist."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from engines.tensorrt_backend import default_cache_dir, engine_key

REASON = "TensorRT libraries are not installable here (import tensorrt failed)"


def _has_tensorrt() -> bool:
    try:
        importlib.import_module("tensorrt")
    except Exception:  # noqa: BLE001 - any import failure means: not usable here
        return False
    return True


def test_cache_key_changes_with_each_part() -> None:
    base = ("NVIDIA H100", "10.3.0", "ab" * 32, "fp16", 16)
    keys = {engine_key(*base)}
    for i, alt in enumerate(("NVIDIA H200", "10.4.0", "cd" * 32, "int8", 8)):
        keys.add(engine_key(*base[:i], alt, *base[i + 1 :]))  # type: ignore[arg-type]
    assert len(keys) == 6
    assert engine_key(*base) == engine_key(*base)
    assert default_cache_dir().name == "tensorrt"


@pytest.mark.tensorrt
@pytest.mark.skipif(not _has_tensorrt(), reason=REASON)
def test_engine_builds_caches_and_matches_onnxruntime(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from engines import open_runner
    from engines.spec import spec_from_onnx, write_spec

    w = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((3, 3, 3, 3)).astype(np.float16), "w"
    )
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["x"], ["xh"], to=TensorProto.FLOAT16),
            helper.make_node("Conv", ["xh", "w"], ["yh"], pads=[1, 1, 1, 1]),
            helper.make_node("Cast", ["yh"], ["y"], to=TensorProto.FLOAT),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [w],
    )
    path = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    write_spec(spec_from_onnx(path, "gb"), path)
    x = {"x": np.random.default_rng(1).random((2, 3, 32, 32), dtype=np.float32)}
    with open_runner(path, "onnxruntime") as o:
        ref = o.infer(x)["y"]
    for _ in range(2):  # the second open loads the cached engine
        with open_runner(path, "tensorrt", cache_dir=tmp_path / "cache", max_batch=4) as t:
            np.testing.assert_allclose(t.infer(x)["y"], ref, atol=2e-2)
    assert len(list((tmp_path / "cache").glob("*.engine"))) == 1
