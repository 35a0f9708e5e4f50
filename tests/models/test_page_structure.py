"""The page-element detector and the table-structure model in process (ONNX Runtime), on pages
whose tables are known (``support.tables``): the export's reshaping, pre- and post-processing,
and the matcher that fills cells; then the decoding rules on hand-made outputs."""

from __future__ import annotations

import io

import numpy as np
import pytest

from support.scans import render
from support.tables import cell_accuracy, generated_sections, table_pdf
from triton_ingest.contracts import PAGE_ELEMENT_LABELS, PAGE_ELEMENTS, TABLE_STRUCTURE
from triton_ingest.models import page_elements as detector
from triton_ingest.models import table_structure as structure
from triton_ingest.models.artifacts import PAGE_ELEMENTS_FILE, TABLE_STRUCTURE_FILES, artifact
from triton_ingest.models.embedding import cpu_session

SECTIONS = generated_sections(seed=5, count=2)
DPI = 150


def bgr(image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def iou(a, b) -> float:
    width, height = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    inter = max(width, 0) * max(height, 0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def models():
    return (cpu_session(artifact(PAGE_ELEMENTS_FILE), 2), cpu_session(artifact(TABLE_STRUCTURE_FILES[0]), 2),
            structure.vocabulary(artifact(TABLE_STRUCTURE_FILES[1]).read_text().splitlines()))


@pytest.fixture(scope="module")
def pages():
    """Each page of the table PDF: its image (BGR, 150 dpi), its table's box and its words (pixels)."""
    import pdfplumber

    pdf, scale, out = table_pdf(SECTIONS), DPI / 72, []
    with pdfplumber.open(io.BytesIO(pdf)) as document:
        for number, page in enumerate(document.pages):
            [table] = page.find_tables()
            words = [(w["text"], tuple(v * scale for v in (w["x0"], w["top"], w["x1"], w["bottom"])))
                     for w in page.extract_words()]
            out.append((bgr(render(pdf, number, DPI)), tuple(v * scale for v in table.bbox), words))
    return out


def detect(session, image: np.ndarray) -> list[detector.Detection]:
    predictions = session.run(None, {session.get_inputs()[0].name: detector.detector_input(image)[None]})[0]
    return detector.detections(predictions[0], list(PAGE_ELEMENT_LABELS), *image.shape[:2])


def test_the_exported_models_match_their_contracts_and_the_detector_batches(models, pages):
    page_session, table_session, vocab = models
    batch = np.stack([detector.detector_input(image) for image, _, _ in pages])
    together = page_session.run(None, {page_session.get_inputs()[0].name: batch})[0]
    assert together.shape[1:] == PAGE_ELEMENTS.outputs[0].dims  # the original graph took a batch of 1 only
    for row, one in zip(together, batch):
        np.testing.assert_allclose(row, page_session.run(None, {page_session.get_inputs()[0].name: one[None]})[0][0],
                                   atol=1e-5)
    crop, _ = structure.structure_input(pages[0][0][:400, :400])
    assert crop.shape == TABLE_STRUCTURE.inputs[0].dims
    assert table_session.run(None, {"x": crop[None]})[0].shape[2] == TABLE_STRUCTURE.outputs[0].dims[1] == 8 + len(vocab)


def test_the_detector_finds_each_table_and_the_running_header_and_footer(models, pages):
    for image, truth, _ in pages:
        found = detect(models[0], image)
        tables = [d for d in found if d.label == "table"]
        assert len(tables) == 1 and iou(tables[0].box, truth) >= 0.85, found
        assert {"header", "footer"} <= {d.label for d in found}
    assert detect(models[0], np.full((1754, 1240, 3), 255, np.uint8)) == []


def test_the_table_model_fills_cells_from_the_text_layer(models, pages):
    """The study behind this design measured 97% of cells right with PDF words; 90% is the floor."""
    _, table_session, vocab = models
    for section, (image, truth, words) in zip(SECTIONS, pages):
        left, top, right, bottom = (int(v) for v in (truth[0] - 9, truth[1] - 9, truth[2] + 9, truth[3] + 9))
        tensor, ratio = structure.structure_input(image[top:bottom, left:right])
        layout = structure.decode(table_session.run(None, {"x": tensor[None]})[0][0], vocab, ratio)
        inside = [(text, (b[0] - left, b[1] - top, b[2] - left, b[3] - top)) for text, b in words
                  if left <= (b[0] + b[2]) / 2 <= right and top <= (b[1] + b[3]) / 2 <= bottom]
        rows = structure.grid(layout, structure.assign(layout, inside))
        assert len(rows) == len(section.rows) and cell_accuracy(section.rows, rows) >= 0.9, rows


def one_hot(vocab: list[str], tokens: list[str]) -> np.ndarray:
    """Model output that decodes to ``tokens``; each cell's polygon is a 10-pixel square per step."""
    out = np.zeros((len(tokens), 8 + len(vocab)), np.float32)
    for step, token in enumerate(tokens):
        out[step, 8 + vocab.index(token)] = 1.0
        corner = step / 100
        out[step, :8] = [corner, corner, corner + 0.02, corner, corner + 0.02, corner + 0.02, corner, corner + 0.02]
    return out


def test_decoding_stops_at_eos_and_spans_leave_their_other_slots_empty():
    vocab = structure.vocabulary(["<thead>", "<tr>", "</tr>", "<td", ">", "</td>", ' colspan="2"', ' rowspan="2"',
                                  "<td></td>"])
    tokens = ["sos", "<tr>", "<td", ' rowspan="2"', ">", "</td>", "<td", ' colspan="2"', ">", "</td>", "</tr>",
              "<tr>", "<td></td>", "<td></td>", "</tr>", "eos", "<td></td>"]
    layout = structure.decode(one_hot(vocab, tokens), vocab, ratio=1.0)
    assert layout.tokens == tokens[1:15] and len(layout.cells) == 4
    assert structure.grid(layout, [["merged"], ["wide"], ["b"], ["c"]]) == [["merged", "wide", ""], ["", "b", "c"]]


def test_texts_go_to_the_cell_they_overlap_most_and_keep_their_order():
    layout = structure.TableStructure(["<tr>", "<td></td>", "<td></td>", "</tr>"],
                                      np.array([[0, 0, 50, 20], [50, 0, 100, 20]], np.float32))
    texts = [("left", (5, 2, 45, 18)), ("straddles", (40, 2, 90, 18)), ("right", (55, 2, 95, 18)),
             ("above the table", (0, -30, 100, -5))]
    assert structure.assign(layout, texts) == [["left"], ["straddles", "right"]]
    assert structure.grid(layout, structure.assign(layout, [])) == [["", ""]]
