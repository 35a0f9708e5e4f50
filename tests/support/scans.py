"""Scanned pages and images made on the spot: prose typeset with fpdf2, rendered with pdfium, saved
as PNG, JPEG, TIFF or WebP, or wrapped in an image-only PDF; PPTX decks; word recall."""

from __future__ import annotations

import collections
import difflib
import io
import re

PROSE = [
    "Triton Inference Server batches requests from many clients into one execution on the device.",
    "A scanned contract arrives as pictures of pages, and search finds nothing until they are read.",
    "The recognizer reads each detected line of text, and the lines are put back in reading order.",
    "Quarterly revenue grew by twelve percent, while operating costs stayed close to last year.",
    "Please return the signed form before the first of March, together with a copy of your invoice.",
    "Embeddings of the chunks land in a vector index, where questions find the passages that answer them.",
]
FONTS = (("helvetica", 11), ("times", 13))
SMALL_PAGE = (105, 120)  # millimetres: a few lines per page keep OCR tests quick


def text_pdf(paragraphs: list[str], font: tuple[str, int] = FONTS[0], page_size=SMALL_PAGE) -> bytes:
    """One page per paragraph, typeset with a real text layer."""
    from fpdf import FPDF

    pdf = FPDF(format=page_size)
    pdf.set_margins(8, 8)
    pdf.set_font(font[0], size=font[1])
    for paragraph in paragraphs:
        pdf.add_page()
        pdf.multi_cell(0, font[1] * 0.5, paragraph)
    return bytes(pdf.output())


def render(pdf: bytes, page: int = 0, dpi: int = 150):
    """A PDF page as a PIL image (RGB), as a scanner would deliver it."""
    import pypdfium2 as pdfium

    return pdfium.PdfDocument(pdf)[page].render(scale=dpi / 72).to_pil().convert("RGB")


def encoded(image, kind: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def multipage_tiff(images: list) -> bytes:
    return encoded(images[0], "TIFF", save_all=True, append_images=images[1:], compression="tiff_deflate")


def scanned_pdf(images: list, page_size=SMALL_PAGE) -> bytes:
    """An image-only PDF: every page one picture, no text layer."""
    from fpdf import FPDF

    pdf = FPDF(format=page_size)
    for image in images:
        pdf.add_page()
        pdf.image(io.BytesIO(encoded(image)), x=0, y=0, w=page_size[0], h=page_size[1])
    return bytes(pdf.output())


def mixed_pdf(pages: list[tuple[str, str]], dpi: int = 150) -> bytes:
    """Pages in order, each ``("text", paragraph)`` (a text layer) or ``("scan", paragraph)``
    (the same paragraph typeset, rendered and embedded as a picture)."""
    from fpdf import FPDF

    pdf = FPDF(format=SMALL_PAGE)
    pdf.set_margins(8, 8)
    for kind, paragraph in pages:
        pdf.add_page()
        if kind == "text":
            pdf.set_font(FONTS[0][0], size=FONTS[0][1])
            pdf.multi_cell(0, FONTS[0][1] * 0.5, paragraph)
        else:
            image = render(text_pdf([paragraph]), 0, dpi)
            pdf.image(io.BytesIO(encoded(image)), x=0, y=0, w=SMALL_PAGE[0], h=SMALL_PAGE[1])
    return bytes(pdf.output())


def pptx_deck(slides: list[dict]) -> bytes:
    """Slides of ``{"title", "body", "table" (rows), "notes"}`` (each optional)."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for spec in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
        if "title" in spec:
            slide.shapes.title.text = spec["title"]
        if "body" in spec:
            slide.shapes.add_textbox(Inches(1), Inches(2), Inches(8), Inches(1)).text_frame.text = spec["body"]
        if "table" in spec:
            rows = spec["table"]
            table = slide.shapes.add_table(len(rows), len(rows[0]), Inches(1), Inches(4), Inches(8), Inches(1)).table
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
        if "notes" in spec:
            slide.notes_slide.notes_text_frame.text = spec["notes"]
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def word_recall(reference: str, got: str) -> float:
    """Share of the reference's words (with repeats) found in ``got``."""
    want, have = collections.Counter(words(reference)), collections.Counter(words(got))
    return sum(min(count, have[word]) for word, count in want.items()) / max(1, sum(want.values()))


def assert_same_lines(ours: list[dict], rapidocr_lines: list | None) -> None:
    """Our lines (``{"text", "box"}``) are RapidOCR's ``[box, text, score]`` lines: boxes within a
    pixel, and the same text up to a character or two per line (the recognizer's input is padded to
    other widths here, and RapidOCR's wider padding sometimes adds a stray "." at the end of a line)."""
    expected = sorted(rapidocr_lines or [], key=lambda line: (line[0][0][1], line[0][0][0]))
    got = sorted(ours, key=lambda line: (line["box"][0][1], line["box"][0][0]))
    assert len(got) == len(expected), ([g["text"] for g in got], [e[1] for e in expected])
    for line, (box, text, _) in zip(got, expected):
        similarity = difflib.SequenceMatcher(None, line["text"], text).ratio()
        assert similarity >= 0.95, (line["text"], text)
        distance = max(abs(a - b) for corner, other in zip(line["box"], box) for a, b in zip(corner, other))
        assert distance <= 1, (line["box"], box)
    assert sum(line["text"] == text for line, (_, text, _) in zip(got, expected)) >= 0.75 * len(got)
