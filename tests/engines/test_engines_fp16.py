"""fp16 -> float32 upcast: no fp16 left, and the same numbers as the fp16-rounded network in float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from engines.fp16 import has_fp16, upcast_fp16_to_fp32


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _all_fp16_sites(model: onnx.ModelProto) -> list[str]:
    text = str(model)
    return [line for line in text.splitlines() if "data_type: 10" in line or "elem_type: 10" in line]


def test_helper_graph_with_every_fp16_site() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 4)).astype(np.float16)
    nodes = [
        helper.make_node("Cast", ["x"], ["xh"], to=TensorProto.FLOAT16),
        helper.make_node("MatMul", ["xh", "w"], ["m"]),
        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.array([0.5], np.float16))),
        helper.make_node("Add", ["m", "c"], ["a"]),
        helper.make_node("Shape", ["a"], ["s"]),
        helper.make_node(
            "ConstantOfShape", ["s"], ["one"], value=numpy_helper.from_array(np.array([1.0], np.float16))
        ),
        helper.make_node("Sub", ["a", "one"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Cast", ["r"], ["y"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(w, "w")],
        value_info=[helper.make_tensor_value_info("m", TensorProto.FLOAT16, ["batch", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    assert has_fp16(model)
    up = upcast_fp16_to_fp32(model)
    onnx.checker.check_model(up)
    assert not has_fp16(up) and not _all_fp16_sites(up)
    assert has_fp16(model)  # the input model is untouched

    x = rng.standard_normal((3, 4)).astype(np.float32)
    expected = np.maximum(x @ w.astype(np.float32) + 0.5 - 1.0, 0)
    np.testing.assert_allclose(_session(up).run(None, {"x": x})[0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_torch_dynamo_export_with_fp16_weights(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    torch.set_num_threads(1)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.norm = torch.nn.GroupNorm(2, 8)
            self.out = torch.nn.Conv2d(8, 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = x.to(self.conv.weight.dtype)
            h = torch.nn.functional.silu(self.norm(self.conv(h)))
            return torch.sigmoid(self.out(h) + torch.ones((), dtype=h.dtype)).float()

    net = Net().eval()
    half = Net().eval()
    half.load_state_dict(net.state_dict())
    half = half.half()
    path = tmp_path / "net.onnx"
    x = torch.rand(2, 3, 16, 16)
    torch.onnx.export(
        half,
        (x,),
        str(path),
        input_names=["x"],
        output_names=["y"],
        dynamo=True,
        external_data=False,
        dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
    )
    model = onnx.load(str(path))
    assert has_fp16(model)
    up = upcast_fp16_to_fp32(model)
    assert not has_fp16(up)
    # Reference: the fp16-rounded weights evaluated in float32 arithmetic.
    ref_net = Net().eval()
    ref_net.load_state_dict({k: v.float() for k, v in half.state_dict().items()})
    with torch.no_grad():
        ref = ref_net(x).numpy()
    got = _session(up).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, ref, atol=2e-5)
