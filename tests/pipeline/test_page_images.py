"""Pages for OCR and the new formats, extracted in-process (no server, no OCR model): images, TIFF
frames, PPTX slides, and which PDF pages the hybrid method sends to OCR."""

from __future__ import annotations

import io

import pytest

from support.documents import make_pdf
from support.hostile import png_header, pptx_bomb
from support.scans import PROSE, encoded, mixed_pdf, multipage_tiff, pptx_deck, render, scanned_pdf, text_pdf
from triton_ingest.errors import InvalidInputError
from triton_ingest.pipeline.documents import ExtractSettings, detect_kind, open_document


@pytest.fixture(scope="module")
def page_image():
    return render(text_pdf([PROSE[0]]), 0, dpi=72)


@pytest.mark.parametrize("kind, options", [("PNG", {}), ("JPEG", {"quality": 90}), ("WEBP", {"lossless": True})])
def test_an_image_is_one_page_for_ocr(page_image, kind, options):
    data = encoded(page_image, kind, **options)
    document = open_document(data, "scan.bin")
    assert (document.kind, document.page_count) == (kind.lower(), 1)
    [page] = document.pages
    assert page.method == "ocr" and page.image == data and page.text == ""


def test_every_tiff_frame_is_a_page(page_image):
    document = open_document(multipage_tiff([page_image, page_image.rotate(180), page_image]))
    assert (document.kind, document.page_count) == ("tiff", 3)
    pages = list(document.read(1, 3))
    assert [p.number for p in pages] == [2, 3] and all(p.image.startswith(b"\x89PNG") for p in pages)


def test_without_ocr_an_image_gives_an_empty_page(page_image):
    [page] = open_document(encoded(page_image), settings=ExtractSettings(method="pdfium")).pages
    assert (page.method, page.image, page.text) == ("text", None, "")


@pytest.mark.parametrize("data, settings, message", [
    (png_header(30_000, 30_000), ExtractSettings(), "30000x30000 image (900000000 pixels); the limit (max_pixels)"),
    (png_header(3_000, 3_000), ExtractSettings(max_pixels=1_000_000), "the limit (max_pixels) is 1000000"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, ExtractSettings(), "corrupt or truncated PNG image"),
], ids=["bomb", "over max_pixels", "corrupt"])
def test_bad_images_are_named(data, settings, message):
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(open_document(data, settings=settings).pages)


def test_a_truncated_jpeg_is_rejected_before_ocr(page_image):
    data = encoded(page_image, "JPEG")
    with pytest.raises(InvalidInputError, match="corrupt or truncated"):
        list(open_document(data[: len(data) // 2]).pages)


def test_a_tiff_with_more_frames_than_max_pages_is_rejected(page_image):
    small = page_image.resize((8, 8))
    with pytest.raises(InvalidInputError, match="has 12 pages; the limit \\(max_pages\\) is 10"):
        open_document(multipage_tiff([small] * 12), settings=ExtractSettings(max_pages=10))


def test_pptx_slides_are_pages_with_title_frames_tables_and_notes_in_order():
    deck = pptx_deck([
        {"title": "Quarterly review", "body": "Revenue grew in every region.", "notes": "Speaker notes here."},
        {"title": "Costs", "table": [["Item", "Amount"], ["Travel", "1200"]]},
    ])
    document = open_document(deck, "deck.bin")
    assert (detect_kind(deck), document.kind, document.page_count) == ("pptx", "pptx", 2)
    first, second = document.pages
    assert first.text == "Quarterly review\n\nRevenue grew in every region.\n\nSpeaker notes here."
    assert second.text == "Costs\n\n| Item | Amount |\n|---|---|\n| Travel | 1200 |"
    assert [(e.kind, e.level) for e in second.elements] == [("heading", 1), ("table", 0)]
    assert [e.kind for e in first.elements] == ["heading", "paragraph", "paragraph"]  # the title, its body, notes


def test_a_pptx_bomb_is_rejected_before_parsing():
    with pytest.raises(InvalidInputError, match=r"PPTX whose parts expand to \d+ bytes; the limit \(max_unzipped_bytes\)"):
        open_document(pptx_bomb())


def test_hybrid_sends_only_pages_without_a_usable_text_layer_to_ocr():
    pdf = mixed_pdf([("text", PROSE[0]), ("scan", PROSE[1]), ("text", PROSE[2])])
    pages = list(open_document(pdf).pages)
    assert [(p.method, p.image is not None) for p in pages] == [("text", False), ("ocr", True), ("text", False)]
    assert pages[0].text.startswith("Triton Inference Server") and pages[1].text == ""
    assert all(p.method == "ocr" for p in open_document(pdf, settings=ExtractSettings(method="ocr")).pages)
    assert all(p.image is None for p in open_document(pdf, settings=ExtractSettings(method="pdfium")).pages)


def test_a_scan_with_a_little_text_on_it_is_still_read_by_ocr():
    """A page covered by a picture with a short text overlay (a stamp, a page number): OCR."""
    from fpdf import FPDF

    image = render(text_pdf([PROSE[3]]), 0, dpi=100)
    pdf = FPDF(format=(105, 120))
    pdf.add_page()
    pdf.image(io.BytesIO(encoded(image)), x=0, y=0, w=105, h=120)
    pdf.set_font("helvetica", size=8)
    pdf.text(5, 115, "Page 7 of 12 - received 2026-03-01 - archive copy")
    [page] = open_document(bytes(pdf.output())).pages
    assert page.method == "ocr" and page.image is not None


def test_rendering_respects_max_pixels():
    from PIL import Image

    [page] = open_document(scanned_pdf([render(text_pdf([PROSE[0]]), 0, 72)]),
                           settings=ExtractSettings(method="ocr", dpi=300, max_pixels=200_000)).pages
    width, height = Image.open(io.BytesIO(page.image)).size
    assert width * height <= 200_000 and width > 100


def test_text_pdfs_are_unchanged_by_hybrid():
    pdf = make_pdf(3)
    hybrid = [(p.text, p.method) for p in open_document(pdf).pages]
    assert hybrid == [(p.text, p.method) for p in open_document(pdf, settings=ExtractSettings(method="pdfium")).pages]
