"""Page elements on the real server, both deployments and both protocols: ``page_elements`` and
``table_structure`` answer as ONNX Runtime does in process, batched; ``ocr`` with OPTIONS.tables
"auto" returns a scanned page's table and chart; ``ingest`` of a scanned PDF makes table and
figure chunks, and ``tables: "off"`` makes neither; with ``tables: "models"``, tables without row
rules in a PDF's text layer are found and filled with its own words."""

from __future__ import annotations

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from support.clients import INVALID_ARG, client_module, ingest_with, ocr_result
from support.scans import encoded, render, scanned_pdf
from support.tables import (FIGURE_BARS, FIGURE_CAPTION, cell_accuracy, figure_page, generated_sections,
                            html_rendered_pdf, markdown_cells, table_pdf)
from triton_ingest.contracts import OCR, PAGE_ELEMENT_LABELS, PAGE_ELEMENTS, TABLE_STRUCTURE
from triton_ingest.models import page_elements as detector
from triton_ingest.models import table_structure as structure
from triton_ingest.models.artifacts import PAGE_ELEMENTS_FILE, TABLE_STRUCTURE_FILES, artifact
from triton_ingest.models.embedding import cpu_session

pytestmark = pytest.mark.integration
SECTIONS = generated_sections(seed=4, count=1)
A4 = (210, 297)


@pytest.fixture(scope="module")
def scans():
    """A scanned ruled table and a scanned bar chart (PIL, 150 dpi A4)."""
    return render(table_pdf(SECTIONS), 0, 150), figure_page()


def bgr(image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def infer(client, protocol: str, spec, batch: np.ndarray) -> np.ndarray:
    tensor = client_module(protocol).InferInput(spec.inputs[0].name, list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    return client.infer(spec.name, [tensor]).as_numpy(spec.outputs[0].name)


def test_both_models_answer_as_onnx_runtime_does_in_process(clients, protocol, scans):
    client = clients[protocol]
    pages = np.stack([detector.detector_input(bgr(image)) for image in scans])
    served = infer(client, protocol, PAGE_ELEMENTS, pages)  # two pages in one request
    local = cpu_session(artifact(PAGE_ELEMENTS_FILE), 1)
    np.testing.assert_allclose(served, local.run(None, {local.get_inputs()[0].name: pages})[0], atol=1e-4)
    found = detector.detections(served[0], list(PAGE_ELEMENT_LABELS), *bgr(scans[0]).shape[:2])
    [table] = [d for d in found if d.label == "table"]
    left, top, right, bottom = (int(v) for v in table.box)
    crop, ratio = structure.structure_input(bgr(scans[0])[top:bottom, left:right])
    predictions = infer(client, protocol, TABLE_STRUCTURE, crop[None])
    vocab = structure.vocabulary(artifact(TABLE_STRUCTURE_FILES[1]).read_text().splitlines())
    assert len(structure.grid(structure.decode(predictions[0], vocab, ratio), [])) == len(SECTIONS[0].rows)
    config = client.get_model_config(PAGE_ELEMENTS.name)
    config = config if protocol == "http" else config.config
    max_batch = config["max_batch_size"] if protocol == "http" else config.max_batch_size
    assert max_batch == PAGE_ELEMENTS.max_batch_size


def test_ocr_returns_the_table_and_the_figure_when_asked(clients, protocol, scans):
    table_page, chart_page = (encoded(image) for image in scans)
    got = ocr_result(clients[protocol], protocol, table_page, {"tables": "auto"})
    [table] = got["elements"]
    assert table["kind"] == "table" and table["caption"] == SECTIONS[0].caption and got["summary"]["tables"] == 1
    assert cell_accuracy(SECTIONS[0].rows, table["rows"]) >= 0.8
    assert all(0 <= index < len(got["lines"]) for index in table["lines"])
    [figure] = ocr_result(clients[protocol], protocol, chart_page, {"tables": "auto"})["elements"]
    assert figure["kind"] == "figure" and figure["caption"] == FIGURE_CAPTION
    assert all(name in figure["text"] for name, _ in FIGURE_BARS)
    plain = ocr_result(clients[protocol], protocol, chart_page)  # tables default to "off" on ocr
    assert plain["elements"] == [] and plain["summary"]["tables"] == plain["summary"]["figures"] == 0


def test_a_scanned_pdf_gives_table_and_figure_chunks(clients, protocol, scans):
    scan = scanned_pdf(list(scans), page_size=A4)
    got = ingest_with(clients[protocol], protocol, scan, "scan.pdf")
    kinds = {c["content_type"]: c for c in got["chunks"]}
    assert got["summary"]["table_chunks"] == got["summary"]["figure_chunks"] == 1
    table, figure = kinds["table"], kinds["figure"]
    assert table["pages"] == [1] and table["method"] == "ocr" and f"\n{SECTIONS[0].caption}\n| Name |" in table["text"]
    assert figure["pages"] == [2] and figure["text"].startswith(FIGURE_CAPTION) and len(figure["box"]) == 4
    assert len(got["embeddings"]) == len(got["chunks"])
    if protocol == "grpc":  # the same document with the models off: lines only
        off = ingest_with(clients[protocol], protocol, scan, "scan.pdf", {"tables": "off"})
        assert {c["content_type"] for c in off["chunks"]} == {"text"} and off["summary"]["figure_chunks"] == 0


def test_a_bad_tables_option_is_invalid_arg_naming_it(clients, protocol, scans):
    with pytest.raises(InferenceServerException) as caught:
        ocr_result(clients[protocol], protocol, encoded(scans[1]), {"tables": "yes"})
    assert caught.value.status() == INVALID_ARG[protocol] and 'OPTIONS.tables must be' in caught.value.message()
    assert clients[protocol].is_model_ready(OCR.name)


def test_text_layer_tables_without_rules_are_found_by_the_models(clients, protocol):
    sections = generated_sections(seed=11, count=2)
    document = html_rendered_pdf(sections)  # column rules only: pdfplumber's lines strategy finds nothing
    got = ingest_with(clients[protocol], protocol, document, "runbook.pdf", {"tables": "models"})
    tables = [c for c in got["chunks"] if c["content_type"] == "table"]
    assert [c["pages"] for c in tables] == [[1], [2]] and {c["method"] for c in tables} == {"text"}
    for section, chunk in zip(sections, tables):
        assert cell_accuracy(section.rows, markdown_cells(chunk["text"])) >= 0.85, chunk["text"]
        assert len(chunk["box"]) == 4 and chunk["box"][1] < chunk["box"][3] < 842
    text = "\n".join(c["text"] for c in got["chunks"])
    for section in sections:  # the prose right above each table is still there, once
        assert text.count(section.prose.split(". ")[0]) == 3 and section.title in text
    if protocol == "grpc":  # "auto": no ruled table, so no table chunk
        plain = ingest_with(clients[protocol], protocol, document, "runbook.pdf")
        assert {c["content_type"] for c in plain["chunks"]} == {"text"}
