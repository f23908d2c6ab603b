"""fp16 weights inside an fp32 ONNX graph: each float32 initializer stored as fp16 and widened by a Cast node,
so files are half the size while ONNX Runtime's CPU provider (no fp16 Gemm/Conv) computes in float32."""

from __future__ import annotations

import numpy as np


def fp16_initializers(model, producer: str):  # (onnx.ModelProto, str) -> onnx.ModelProto, checked
    import onnx
    from onnx import helper, numpy_helper

    casts, inits = [], []
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float32:
            inits.append(numpy_helper.from_array(arr.astype(np.float16), init.name + "_fp16"))
            casts.append(
                helper.make_node("Cast", [init.name + "_fp16"], [init.name], to=onnx.TensorProto.FLOAT)
            )
        else:
            inits.append(init)
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
    nodes = casts + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    model.producer_name = producer
    onnx.checker.check_model(model)
    return model
