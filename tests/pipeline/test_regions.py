"""Tables and figures on page images (``pipeline.regions``) with the models in process: a scanned
ruled table comes back as rows, a bar chart as a figure with its caption, a blank page as nothing;
and how an OCR'd page's lines and regions become elements (``layout.ocr_elements``)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from support.scans import render
from support.tables import FIGURE_BARS, FIGURE_CAPTION, cell_accuracy, figure_page, generated_sections, table_pdf
from triton_ingest.models import ocr
from triton_ingest.models.artifacts import (
    OCR_DETECTOR_FILE,
    OCR_RECOGNIZER_FILES,
    PAGE_ELEMENTS_FILE,
    TABLE_STRUCTURE_FILES,
    artifact,
)
from triton_ingest.models.image_models import OnnxImageModel
from triton_ingest.pipeline.layout import OcrLine, ocr_elements
from triton_ingest.pipeline.ocr import OcrEngine
from triton_ingest.pipeline.regions import RegionReader

SECTIONS = generated_sections(seed=4, count=1)


def bgr(image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def in_process(path, name: str, **kwargs):
    model = OnnxImageModel(artifact(path), name, **kwargs)

    async def run(batch):
        return model.run(batch)

    return run


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    regions = RegionReader(in_process(PAGE_ELEMENTS_FILE, "IMAGE"), in_process(TABLE_STRUCTURE_FILES[0], "IMAGE"),
                           artifact(TABLE_STRUCTURE_FILES[1]).read_text().splitlines())
    return OcrEngine(in_process(OCR_DETECTOR_FILE, "IMAGE"),
                     in_process(OCR_RECOGNIZER_FILES["en"][0], "CROPS", fixed_height=48),
                     ocr.load_charset(artifact(OCR_RECOGNIZER_FILES["en"][1])), regions=regions)


def elements(engine: OcrEngine, image: np.ndarray):
    result = asyncio.run(engine.read_with_regions(image))
    return result, ocr_elements(result.lines, [r.as_dict() for r in result.regions])


def test_a_scanned_table_comes_back_as_rows_between_its_paragraphs(engine):
    result, found = elements(engine, bgr(render(table_pdf(SECTIONS), 0, 150)))
    [table] = [e for e in found if e.kind == "table"]
    assert [e.kind for e in found] == ["paragraph", "table", "paragraph"]
    assert table.caption == SECTIONS[0].caption and table.text.startswith(SECTIONS[0].caption + "\n| Name |")
    assert len(table.rows) == len(SECTIONS[0].rows) and cell_accuracy(SECTIONS[0].rows, table.rows) >= 0.8
    assert "regions_ms" in result.timings_ms and table.box[0] < table.box[2]


def test_a_chart_is_a_figure_with_its_caption_and_the_words_in_it(engine):
    _, found = elements(engine, bgr(figure_page()))
    [figure] = [e for e in found if e.kind == "figure"]
    assert figure.caption == FIGURE_CAPTION and figure.text.startswith(FIGURE_CAPTION + "\n")
    assert all(name in figure.text and str(value) in figure.text for name, value in FIGURE_BARS)
    assert "drained" in found[-1].text and found[-1].kind == "paragraph"


def test_a_blank_page_has_no_regions(engine):
    result, found = elements(engine, np.full((1754, 1240, 3), 255, np.uint8))
    assert result.regions == [] and found == []


def line(text: str, top: int, left: int = 10) -> OcrLine:
    return OcrLine(text, 0.9, [[left, top], [left + 90, top], [left + 90, top + 20], [left, top + 20]])


def test_ocr_elements_put_each_region_where_its_first_line_was():
    lines = [line("Intro", 0), line("a", 40), line("b", 40, 150), line("Fig 2: x", 80), line("Outro", 120)]
    regions = [{"kind": "table", "box": [0, 30, 300, 70], "rows": [["h1", "h2"], ["a", "b"]], "caption": "",
                "lines": [1, 2]},
               {"kind": "figure", "box": [0, 75, 300, 110], "text": "", "caption": "Fig 2: x", "lines": [3]}]
    found = ocr_elements(lines, regions)
    assert [(e.kind, e.text) for e in found] == [
        ("paragraph", "Intro"), ("table", "| h1 | h2 |\n|---|---|\n| a | b |"), ("figure", "Fig 2: x"),
        ("paragraph", "Outro")]
    assert ocr_elements(lines, [])[0].text == "Intro\na b\nFig 2: x\nOutro"
