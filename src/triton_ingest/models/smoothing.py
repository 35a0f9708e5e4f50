"""SmoothQuant-style scaling of an ONNX encoder before dynamic int8 quantisation.

Dynamic quantisation gives each activation tensor one int8 range, so a few channels with large
values (BERT has them, on the special tokens above all) leave every other channel a handful of
levels. Smoothing divides each input channel ``j`` of a weight MatMul by
``s_j = max|X_j|^α / max|W_j|^(1-α)`` and multiplies row ``j`` of the weight by ``s_j``: the
product is unchanged, the activation's channels come closer together, and the weight (quantised
per output channel) absorbs the difference. ``max|X_j|`` is measured on calibration texts. One
``Mul`` node per distinct MatMul input does the division (Q, K and V share theirs).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

DEFAULT_ALPHA = 0.5


def weight_matmuls(model) -> dict[str, list]:
    """Weight MatMul nodes of ``model`` (an onnx ModelProto), grouped by their activation input."""
    weights = {init.name for init in model.graph.initializer}
    groups: dict[str, list] = defaultdict(list)
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights:
            groups[node.input[0]].append(node)
    return dict(groups)


def activation_maxima(model_path: Path, inputs: list[str], feeds: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-channel max |value| of the tensors ``inputs`` over ``feeds`` (padding rows excluded)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(model_path))
    model.graph.output.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in inputs)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    maxima: dict[str, np.ndarray] = {}
    for feed in feeds:
        values = session.run(inputs, feed)
        real = feed["attention_mask"].astype(bool)
        for name, value in zip(inputs, values):
            peak = np.abs(value[real]).max(axis=0)
            maxima[name] = np.maximum(maxima.get(name, peak), peak)
    return maxima


def smooth(fp32_path: Path, out_path: Path, feeds: list[dict[str, np.ndarray]], alpha: float = DEFAULT_ALPHA,
           only: tuple[str, ...] = ("",)) -> None:
    """Write the smoothed model to ``out_path`` (the same function, to float rounding); ``only``
    limits smoothing to the MatMuls whose names contain one of its strings."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(fp32_path))
    groups = {tensor: nodes for tensor, nodes in weight_matmuls(model).items()
              if any(part in nodes[0].name for part in only)}
    maxima = activation_maxima(fp32_path, list(groups), feeds)
    initializers = {init.name: init for init in model.graph.initializer}
    for index, (tensor, nodes) in enumerate(groups.items()):
        weights = [numpy_helper.to_array(initializers[n.input[1]]) for n in nodes]
        weight_max = np.max([np.abs(w).max(axis=1) for w in weights], axis=0)
        scale = np.clip(maxima[tensor], 1e-5, None) ** alpha / np.clip(weight_max, 1e-5, None) ** (1 - alpha)
        scale = np.clip(scale, 1e-2, 1e2).astype(np.float32)  # a channel near 0 on either side stays bounded
        for node, weight in zip(nodes, weights):
            initializers[node.input[1]].CopyFrom(numpy_helper.from_array(weight * scale[:, None], node.input[1]))
        inverse, smoothed = f"smooth_inverse_{index}", f"{tensor}_smoothed"
        model.graph.initializer.append(numpy_helper.from_array((1.0 / scale).astype(np.float32), inverse))
        position = min(list(model.graph.node).index(n) for n in nodes)
        model.graph.node.insert(position, onnx.helper.make_node("Mul", [tensor, inverse], [smoothed],
                                                                name=f"/smooth/{index}/Mul"))
        for node in nodes:
            node.input[0] = smoothed
    onnx.save(model, str(out_path))
