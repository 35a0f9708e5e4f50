"""Scanned pages and images on the real server: the `ocr` model, and `ingest` of image-only, mixed,
image and PPTX documents, over both deployments. Pages are small (a few lines) to keep OCR quick."""

from __future__ import annotations

import difflib
import re

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from support.clients import INVALID_ARG, embed, ingest_with, ocr_with
from support.hostile import png_header
from support.scans import (
    FONTS,
    PROSE,
    assert_same_lines,
    encoded,
    mixed_pdf,
    multipage_tiff,
    pptx_deck,
    render,
    scanned_pdf,
    text_pdf,
    word_recall,
)
from triton_ingest.contracts import OCR

pytestmark = pytest.mark.integration


def letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


@pytest.fixture(scope="module")
def pages():
    """Two small pages, one per font, and what they say."""
    return [(paragraph, text_pdf([paragraph], font)) for paragraph, font in zip(
        (" ".join(PROSE[0:2]), " ".join(PROSE[2:4])), FONTS)]


@pytest.mark.parametrize("dpi", [150, 200])
def test_ocr_reads_rendered_pages_with_high_word_recall(clients, protocol, pages, dpi):
    for paragraph, pdf in pages:
        lines, summary = ocr_with(clients[protocol], protocol, encoded(render(pdf, 0, dpi)))
        assert word_recall(paragraph, summary["text"]) >= 0.95, summary["text"]
        assert summary["lines"] == len(lines) >= 3 and [l["text"] for l in lines] == summary["text"].split("\n")
        for line in lines:
            assert 0.5 <= line["score"] <= 1 and len(line["box"]) == 4
            assert all(0 <= x <= summary["width"] and 0 <= y <= summary["height"] for x, y in line["box"])


def test_served_ocr_reads_the_same_lines_as_in_process_rapidocr(clients, protocol, pages, rapidocr):
    """Same models, same image: the served pre- and post-processing is RapidOCR's, line for line."""
    png = encoded(render(pages[1][1], 0, 150))
    lines, _ = ocr_with(clients[protocol], protocol, png)
    assert_same_lines(lines, rapidocr(png)[0])


def test_the_chinese_recognizer_is_served_too(clients, protocol, pages):
    """``language: "ch"``: the Chinese-and-English recognizer. It reads Latin letters well but drops
    the spaces between English words, which is why English is the default."""
    paragraph, pdf = pages[0]
    lines, summary = ocr_with(clients[protocol], protocol, encoded(render(pdf, 0, 150)), {"language": "ch"})
    assert summary["language"] == "ch" and len(lines) >= 3
    assert difflib.SequenceMatcher(None, letters(paragraph), letters(summary["text"])).ratio() >= 0.9


def test_ocr_lines_come_in_reading_order(clients, pages):
    lines, _ = ocr_with(clients["grpc"], "grpc", encoded(render(pages[0][1], 0, 150)))
    tops = [min(y for _, y in line["box"]) for line in lines]
    assert tops == sorted(tops)


def test_a_blank_page_is_no_lines_not_an_error(clients, protocol):
    lines, summary = ocr_with(clients[protocol], protocol, encoded(render(text_pdf([""]), 0, 100)))
    assert lines == [] and summary["text"] == ""


@pytest.mark.parametrize("image, options, message", [
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, None, "IMAGE is a corrupt or truncated PNG image"),
    (b"not an image at all", None, "IMAGE is not an image in a supported format"),
    (png_header(20_000, 20_000), None, "the limit (max_pixels) is 40000000"),
    (b"\x89PNG", {"language": "klingon"}, 'OPTIONS.language must be "en" or "ch"'),
    (b"\x89PNG", {"dpi": 300}, "OPTIONS has unknown key(s) ['dpi']"),
], ids=["corrupt", "not an image", "image bomb", "bad language", "unknown option"])
def test_bad_images_get_invalid_arg_and_the_server_stays_ready(clients, protocol, image, options, message):
    with pytest.raises(InferenceServerException) as caught:
        ocr_with(clients[protocol], protocol, image, options)
    assert caught.value.status() == INVALID_ARG[protocol]
    assert message in caught.value.message() and "Traceback" not in caught.value.message()
    assert clients[protocol].is_model_ready(OCR.name)


def test_an_image_only_pdf_is_ingested_through_ocr(clients, protocol, pages):
    scan = scanned_pdf([render(pdf, 0, 150) for _, pdf in pages])
    got = ingest_with(clients[protocol], protocol, scan, "scan.pdf")
    summary, chunks = got["summary"], got["chunks"]
    assert (summary["pages"], summary["ocr_pages"]) == (2, 2) and summary["timings_ms"]["ocr_ms"] > 0
    assert [c["pages"] for c in chunks] == [[1], [2]] and {c["method"] for c in chunks} == {"ocr"}
    for (paragraph, _), chunk in zip(pages, chunks):
        assert word_recall(paragraph, chunk["text"]) >= 0.95
    np.testing.assert_allclose(got["embeddings"], embed(clients, protocol, [c["text"] for c in chunks]), atol=2e-5)


def test_a_mixed_pdf_keeps_page_order_and_says_how_each_page_was_read(clients):
    layout = [("text", PROSE[0]), ("scan", PROSE[1]), ("text", PROSE[2]), ("scan", PROSE[3])]
    got = ingest_with(clients["http"], "http", mixed_pdf(layout), "mixed.pdf")
    chunks = got["chunks"]
    assert [(c["pages"], c["method"]) for c in chunks] == [([1], "text"), ([2], "ocr"), ([3], "text"), ([4], "ocr")]
    for (_, paragraph), chunk in zip(layout, chunks):
        assert word_recall(paragraph, chunk["text"]) >= 0.95
    assert got["summary"]["ocr_pages"] == 2


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "WEBP"])
def test_an_image_document_is_read(clients, pages, kind):
    paragraph, pdf = pages[1]
    got = ingest_with(clients["grpc"], "grpc", encoded(render(pdf, 0, 150), kind), f"page.{kind.lower()}")
    assert got["summary"]["kind"] == kind.lower() and got["chunks"][0]["method"] == "ocr"
    assert word_recall(paragraph, got["chunks"][0]["text"]) >= 0.95


def test_every_frame_of_a_tiff_is_a_page(clients, pages):
    got = ingest_with(clients["grpc"], "grpc", multipage_tiff([render(pdf, 0, 150) for _, pdf in pages]), "scan.tiff")
    assert (got["summary"]["kind"], got["summary"]["pages"]) == ("tiff", 2)
    assert [c["pages"] for c in got["chunks"]] == [[1], [2]]
    assert all(word_recall(p, c["text"]) >= 0.95 for (p, _), c in zip(pages, got["chunks"]))


def test_a_pptx_deck_is_one_page_per_slide(clients):
    deck = pptx_deck([{"title": "Roadmap", "body": PROSE[0], "notes": "Ask about budgets."},
                      {"title": "Numbers", "table": [["Quarter", "Revenue"], ["Q1", "1.2M"]]}])
    got = ingest_with(clients["http"], "http", deck, "deck.pptx")
    assert (got["summary"]["kind"], got["summary"]["pages"], got["summary"]["ocr_pages"]) == ("pptx", 2, 0)
    assert [c["text"] for c in got["chunks"]] == [f"Roadmap\n\n{PROSE[0]}\n\nAsk about budgets.",
                                                  "Numbers\n\n| Quarter | Revenue |\n|---|---|\n| Q1 | 1.2M |"]
    assert [(c["content_type"], c["section"]) for c in got["chunks"]] == [("text", ["Roadmap"]), ("table", ["Numbers"])]


def test_pdfium_method_skips_ocr_and_says_so(clients, pages):
    scan = scanned_pdf([render(pages[0][1], 0, 100)])
    got = ingest_with(clients["grpc"], "grpc", scan, "scan.pdf", {"extract_method": "pdfium"})
    assert got["chunks"] == [] and got["summary"]["ocr_pages"] == 0
    assert any("no text was extracted" in w for w in got["summary"]["warnings"])
