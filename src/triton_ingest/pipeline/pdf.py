"""PDF pages with pypdfium2: the text layer, and the page rendered to an image when OCR must read it.

Under ``extract_method="hybrid"`` (the default) a page is read by OCR when its text layer is not
usable: fewer than ``MIN_TEXT_CHARS`` visible characters, or fewer than ``MIN_TEXT_CHARS_OVER_IMAGES``
while images cover at least half of the page (a scan with a stamp or a page number on it).
``"ocr"`` reads every page by OCR, ``"pdfium"`` never does. A text-layer page becomes elements
(furniture dropped, outline headings, ruled tables: ``pdf_structure``).
"""

from __future__ import annotations

import io
import math
from typing import Iterator

from ..errors import InvalidInputError
from .elements import Element
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


def render_png(page, dpi: int, max_pixels: int) -> bytes:
    """The page rendered in grey at ``dpi`` (less when that would exceed ``max_pixels``), as PNG."""
    width, height = page.get_size()  # points: 1/72 inch
    scale = min(dpi / 72, math.sqrt(max_pixels / max(1.0, width * height)))
    while math.ceil(width * scale) * math.ceil(height * scale) > max_pixels:  # pixels are whole
        scale *= 0.99
    image = page.render(scale=scale, grayscale=True).to_pil()
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def page_content(pdf, index: int, count: int, method: str, dpi: int, max_pixels: int, structure: PdfStructure,
                 finder: TableFinder | None) -> tuple[list[Element] | None, bytes | None]:
    """Page ``index``'s elements from its text layer (see ``pdf_structure``), or its image when
    OCR must read it."""
    import pypdfium2 as pdfium

    try:
        page = pdf[index]
        textpage = page.get_textpage()
        text = textpage.get_text_bounded().replace("\r\n", "\n").replace("\r", "\n")
        if needs_ocr(page, text, method):
            elements, image = None, render_png(page, dpi, max_pixels)
        else:
            elements, image = page_elements(page, textpage, text, index, structure, finder), None
        textpage.close()
        page.close()
    except pdfium.PdfiumError as exc:  # a page the header promised but the file cannot deliver
        raise InvalidInputError(f"DOCUMENT page {index + 1} of {count} is corrupt ({exc})", "corrupt_pdf") from None
    return elements, image


def pages(pdf, count: int, first: int, last: int, method: str, dpi: int, max_pixels: int, structure: PdfStructure,
          finder: TableFinder | None) -> Iterator[tuple[list[Element] | None, bytes | None]]:
    for index in range(first, last):
        yield page_content(pdf, index, count, method, dpi, max_pixels, structure, finder)
