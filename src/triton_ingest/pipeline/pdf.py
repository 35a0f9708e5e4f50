"""PDF pages with pypdfium2: the text layer, and the page rendered to an image when OCR must read it.

Under ``extract_method="hybrid"`` (the default) a page is read by OCR when its text layer is not
usable: fewer than ``MIN_TEXT_CHARS`` visible characters, or fewer than ``MIN_TEXT_CHARS_OVER_IMAGES``
while images cover at least half of the page (a scan with a stamp or a page number on it).
``"ocr"`` reads every page by OCR, ``"pdfium"`` never does. A text-layer page becomes elements
(furniture dropped, outline headings, ruled tables: ``pdf_structure``). With ``tables: "models"``, a
text-layer page without a ruled table is also rendered, with its text runs placed on the image,
for the page-element models to look for tables without rules (``extraction`` asks them).
"""

from __future__ import annotations

import io
import math
from typing import NamedTuple

from ..errors import InvalidInputError
from .elements import Element
from .layout import OcrLine
from .pdf_structure import PdfStructure, TableFinder, page_elements

MIN_TEXT_CHARS = 32
MIN_TEXT_CHARS_OVER_IMAGES = 200
IMAGE_COVERAGE = 0.5


def open_pdf(data: bytes, max_pages: int):
    """The opened ``PdfDocument`` and its page count; encrypted, corrupt or too long PDFs are rejected."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        reason = str(exc)
        if "password" in reason.lower():
            raise InvalidInputError("DOCUMENT is an encrypted PDF; send it without a password", "encrypted_pdf") from None
        raise InvalidInputError(f"DOCUMENT is a corrupt or truncated PDF ({reason})", "corrupt_pdf") from None
    count = len(pdf)
    if count == 0 or count > max_pages:
        pdf.close()
        if count == 0:
            raise InvalidInputError("DOCUMENT is a PDF with no pages", "corrupt_pdf")
        raise InvalidInputError(f"DOCUMENT has {count} pages; the limit (max_pages) is {max_pages}", "too_many_pages")
    return pdf, count


def visible_chars(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace() and ch.isprintable())


def image_coverage(page) -> float:
    """The share of the page's area that image objects cover (overlaps counted once at most: capped at 1)."""
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    if width <= 0 or height <= 0:
        return 0.0
    covered = 0.0
    for image in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=2):
        left, bottom, right, top = image.get_bounds()
        covered += max(0.0, min(right, width) - max(left, 0)) * max(0.0, min(top, height) - max(bottom, 0))
    return min(1.0, covered / (width * height))


def needs_ocr(page, text: str, method: str) -> bool:
    """Whether ``page`` is read by OCR under ``method`` (see the module docstring)."""
    if method != "hybrid":
        return method == "ocr"
    chars = visible_chars(text)
    return chars < MIN_TEXT_CHARS or (chars < MIN_TEXT_CHARS_OVER_IMAGES and image_coverage(page) >= IMAGE_COVERAGE)


def render_scale(page, dpi: int, max_pixels: int) -> float:
    """Pixels per point to render ``page`` at ``dpi``, or less when that would exceed ``max_pixels``."""
    width, height = page.get_size()  # points: 1/72 inch
    scale = min(dpi / 72, math.sqrt(max_pixels / max(1.0, width * height)))
    while math.ceil(width * scale) * math.ceil(height * scale) > max_pixels:  # pixels are whole
        scale *= 0.99
    return scale


def render_png(page, scale: float) -> bytes:
    """The page rendered in grey at ``scale`` pixels per point, as PNG."""
    image = page.render(scale=scale, grayscale=True).to_pil()
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def text_runs(page, textpage, scale: float) -> list[OcrLine]:
    """The page's text runs (pdfium's rectangles: a line, or a cell's part of it) with their boxes
    in the pixels of a rendering at ``scale``, top to bottom."""
    height = page.get_size()[1]
    runs = []
    for index in range(textpage.count_rects()):
        left, bottom, right, top = textpage.get_rect(index)
        text = " ".join(textpage.get_text_bounded(left, bottom, right, top).split())
        if text:
            x0, y0, x1, y1 = (round(v * scale) for v in (left, height - top, right, height - bottom))
            runs.append(OcrLine(text, 1.0, [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
    return sorted(runs, key=lambda run: (run.top, run.left))


class PageContent(NamedTuple):
    """A page from the text layer (``elements``), or rendered (``image``) for OCR; with ``runs`` and
    ``scale`` too, a text-layer page also rendered for the page-element models."""

    elements: list[Element] | None
    image: bytes | None = None
    runs: list[OcrLine] | None = None
    scale: float = 0.0


def page_content(pdf, index: int, count: int, method: str, dpi: int, max_pixels: int, structure: PdfStructure,
                 finder: TableFinder | None, models: bool = False,
                 given: list | None = None) -> PageContent:
    """Page ``index``'s elements from its text layer (see ``pdf_structure``), or its image when
    OCR must read it; with ``models``, a text page without ruled tables is rendered too. ``given``:
    tables found on the page before, ``(box in points, rows)`` each, used instead of a search."""
    import pypdfium2 as pdfium

    try:
        page = pdf[index]
        textpage = page.get_textpage()
        text = textpage.get_text_bounded().replace("\r\n", "\n").replace("\r", "\n")
        if needs_ocr(page, text, method) and given is None:
            content = PageContent(None, render_png(page, render_scale(page, dpi, max_pixels)))
        else:
            content = PageContent(page_elements(page, textpage, text, index, structure, finder, given))
            if models and given is None and not any(e.kind == "table" for e in content.elements):
                scale = render_scale(page, dpi, max_pixels)
                content = PageContent(content.elements, render_png(page, scale), text_runs(page, textpage, scale), scale)
        textpage.close()
        page.close()
    except pdfium.PdfiumError as exc:  # a page the header promised but the file cannot deliver
        raise InvalidInputError(f"DOCUMENT page {index + 1} of {count} is corrupt ({exc})", "corrupt_pdf") from None
    return content
