"""Document type detection and page-by-page extraction.

Kinds: PDF (``pdf``), DOCX and PPTX (``office``), HTML, Markdown and text (``text``), PNG, JPEG,
TIFF and WebP (``images``). The type comes from the content (magic bytes, then sniffing); the
filename is only a hint between Markdown and plain text. Pages are read lazily, in ranges, so a
long PDF is never held as one string and extraction can be spread over worker processes.

A page that OCR must read carries its ``image`` (encoded) and no text yet: images always do
(unless ``method`` is ``"pdfium"``), PDF pages when ``method`` asks for it (see ``pdf``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

from ..errors import InvalidInputError
from . import images, office, pdf, text
from .elements import Element, page_text
from .layout import OcrLine
from .pdf_structure import PdfStructure, TableFinder, structure_of
from .text import UNSUPPORTED, decode_text  # noqa: F401 - re-exported: part of this module's interface

METHODS = ("hybrid", "pdfium", "ocr")


@dataclass
class Page:
    """One page (1-based ``number``); non-paged formats have a single page 1."""

    number: int
    text: str
    method: str = "text"  # "ocr" when the text was read from the page's image
    image: bytes | None = None  # set while the page waits for OCR (or, with ``runs``, for the table models)
    elements: list[Element] | None = None  # its structure, where the format carries one (``text`` joins them)
    runs: list[OcrLine] | None = None  # a text-layer page's text runs, in ``image``'s pixels
    scale: float = 0.0  # ``image``'s pixels per PDF point


@dataclass(frozen=True)
class ExtractSettings:
    """Limits and the extraction method (from the ingest OPTIONS)."""

    max_pages: int = 5000
    max_unzipped_bytes: int = 256 * 1024 * 1024
    max_pixels: int = 40_000_000
    method: str = "hybrid"
    dpi: int = 150
    tables: str = "auto"  # "off": no table search in PDF text layers; "models": the page-element models too
    pdf_structure: PdfStructure | None = None  # found when the document is first opened, then passed on


@dataclass
class Document:
    """An opened document: its kind, page count and a reader of page ranges ``[first, last)``."""

    kind: str  # "pdf" | "docx" | "pptx" | "html" | "markdown" | "text" | "png" | "jpeg" | "tiff" | "webp"
    page_count: int
    read: Callable[[int, int], Iterator[Page]]
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)
    close: Callable[[], None] = lambda: None
    pdf_structure: PdfStructure | None = None

    @property
    def pages(self) -> Iterator[Page]:
        """Every page, in order."""
        return self.read(0, self.page_count)


def detect_kind(data: bytes, filename: str = "") -> str:
    """Kind of ``data`` from its content; ``filename`` only separates Markdown from text."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return office.package_kind(data)
    kind = images.image_kind(head)
    if kind is not None:
        return kind
    if text.HTML_SNIFF.match(head.lstrip(b"\xef\xbb\xbf")):
        return "html"
    return "text"


def _single(kind: str, body: str, encoding: str | None = None) -> Document:
    return Document(kind, 1, lambda first, last: iter([Page(1, body)][first:last]), encoding=encoding)


def structured_page(number: int, elements: list[Element]) -> Page:
    return Page(number, page_text(elements), elements=elements)


def _structured(kind: str, elements: list[Element], encoding: str | None = None) -> Document:
    return Document(kind, 1, lambda first, last: iter([structured_page(1, elements)][first:last]), encoding=encoding)


def _open_pdf(data: bytes, settings: ExtractSettings) -> Document:
    document, count = pdf.open_pdf(data, settings.max_pages)
    try:
        structure = settings.pdf_structure or structure_of(document, count)
    except BaseException:
        document.close()
        raise

    def read(first: int, last: int) -> Iterator[Page]:
        finder = TableFinder(document) if settings.tables != "off" else None
        for index in range(first, last):
            content = pdf.page_content(document, index, count, settings.method, settings.dpi, settings.max_pixels,
                                       structure, finder, models=settings.tables == "models")
            if content.elements is None:
                yield Page(index + 1, "", "ocr", content.image)
            else:
                yield replace(structured_page(index + 1, content.elements), image=content.image, runs=content.runs,
                              scale=content.scale)

    return Document("pdf", count, read, close=document.close, pdf_structure=structure)


def _open_pptx(data: bytes, settings: ExtractSettings) -> Document:
    slides = office.pptx_slides(data, settings.max_unzipped_bytes, settings.max_pages)

    def read(first: int, last: int) -> Iterator[Page]:
        for number in range(first + 1, min(last, len(slides)) + 1):
            yield structured_page(number, office.slide_elements(slides[number - 1], number))

    return Document("pptx", len(slides), read)


def _open_image(data: bytes, kind: str, settings: ExtractSettings) -> Document:
    count = getattr(images.open_image(data, settings.max_pixels, settings.max_pages), "n_frames", 1)

    def read(first: int, last: int) -> Iterator[Page]:
        frames = images.frames_as_png(data, settings.max_pixels, settings.max_pages, first, last)
        for number, frame in enumerate(frames, first + 1):
            yield Page(number, "") if settings.method == "pdfium" else Page(number, "", "ocr", frame)

    return Document(kind, count, read)


def open_document(data: bytes, filename: str = "", settings: ExtractSettings = ExtractSettings()) -> Document:
    """Detect the type and open ``data`` for lazy, page-by-page extraction."""
    if not data:
        raise InvalidInputError("DOCUMENT is empty", "empty")
    kind = detect_kind(data, filename)
    if kind == "pdf":
        return _open_pdf(data, settings)
    if kind == "pptx":
        return _open_pptx(data, settings)
    if kind == "docx":
        return _structured("docx", office.docx_elements(data, settings.max_unzipped_bytes))
    if kind in ("png", "jpeg", "tiff", "webp"):
        return _open_image(data, kind, settings)
    if kind == "html":
        return _structured("html", *text.html_elements(data))
    kind, body, encoding = text.plain_text(data, filename)
    if kind == "markdown":
        return _structured(kind, text.markdown_elements(body), encoding)
    return _single(kind, body, encoding)


def pdf_page_with_tables(data: bytes, settings: ExtractSettings, index: int, tables: list) -> Page:
    """A PDF page's elements read again around ``tables`` (``(box in points, rows)`` each) that the
    page-element models found on it."""
    document, count = pdf.open_pdf(data, settings.max_pages)
    try:
        structure = settings.pdf_structure or structure_of(document, count)
        content = pdf.page_content(document, index, count, settings.method, settings.dpi, settings.max_pixels,
                                   structure, None, given=tables)
        return structured_page(index + 1, content.elements)
    finally:
        document.close()
