"""Upcast an fp16 ONNX graph to float32 in memory.

The shipped weights are fp16 ONNX with float32 inputs and outputs (CONTRACTS.md 2): the exporter keeps the
network in half precision and puts Cast nodes at the edges. ONNX Runtime's x86 CPU provider lacks most
fp16 kernels (it would insert its own casts around every op, or refuse), so the CPU backend widens the
whole graph to float32 once at load time. The weights stay fp16-rounded, so the result equals the
fp16 network evaluated in float32 arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
from onnx import numpy_helper

_F16 = onnx.TensorProto.FLOAT16
_F32 = onnx.TensorProto.FLOAT
# Attributes that name an output element type (Cast "to"; RandomNormal/EyeLike/Bernoulli... "dtype").
_TYPE_ATTRS = ("to", "dtype")


def has_fp16(model: onnx.ModelProto) -> bool:
    """True if any initializer, constant, cast target or declared tensor type is fp16."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    return _upcast_graph(probe.graph) > 0 or any(_upcast_function(f) > 0 for f in probe.functions)


def upcast_fp16_to_fp32(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` with every fp16 tensor, cast target and type annotation made float32."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    _upcast_graph(out.graph)
    for f in out.functions:
        _upcast_function(f)
    return out


def _upcast_tensor(t: onnx.TensorProto) -> bool:
    if t.data_type != _F16:
        return False
    arr = numpy_helper.to_array(t).astype(np.float32)  # raises on unloaded external data: load it first
    t.CopyFrom(numpy_helper.from_array(arr, t.name))
    return True


def _upcast_type(tp: onnx.TypeProto) -> bool:
    kind = tp.WhichOneof("value")
    if kind == "tensor_type" and tp.tensor_type.elem_type == _F16:
        tp.tensor_type.elem_type = _F32
        return True
    if kind == "sequence_type":
        return _upcast_type(tp.sequence_type.elem_type)
    if kind == "optional_type":
        return _upcast_type(tp.optional_type.elem_type)
    return False


def _upcast_nodes(nodes: Iterable[onnx.NodeProto]) -> int:
    changed = 0
    for node in nodes:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.INT and attr.name in _TYPE_ATTRS and attr.i == _F16:
                attr.i = _F32
                changed += 1
            elif attr.type == onnx.AttributeProto.TENSOR:
                changed += _upcast_tensor(attr.t)
            elif attr.type == onnx.AttributeProto.TENSORS:
                changed += sum(_upcast_tensor(t) for t in attr.tensors)
            elif attr.type == onnx.AttributeProto.GRAPH:
                changed += _upcast_graph(attr.g)  # If / Loop / Scan bodies
            elif attr.type == onnx.AttributeProto.GRAPHS:
                changed += sum(_upcast_graph(g) for g in attr.graphs)
    return changed


def _upcast_graph(g: onnx.GraphProto) -> int:
    changed = sum(_upcast_tensor(t) for t in g.initializer)
    changed += sum(_upcast_tensor(st.values) for st in g.sparse_initializer)
    for vi in (*g.input, *g.output, *g.value_info):
        changed += _upcast_type(vi.type)
    return changed + _upcast_nodes(g.node)


def _upcast_function(f: onnx.FunctionProto) -> int:
    changed = sum(_upcast_type(vi.type) for vi in f.value_info)
    return changed + _upcast_nodes(f.node)
