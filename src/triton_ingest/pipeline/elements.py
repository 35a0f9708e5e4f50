"""The typed document model between extraction and chunking: a page's elements, in reading order.

An element is a heading (with its level), a paragraph, a list item, a table (its cells, the first
row the header, and its Markdown form as text), a figure or a caption. Page furniture (running
headers, footers, page numbers) is dropped by the extractors before elements are made, so nothing
downstream ever sees it. A page's text is its elements' texts joined by a blank line; chunk
offsets refer to that text. Far smaller than Docling's ``DoclingDocument`` or Unstructured's
``Element`` list: only what chunking and retrieval use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("heading", "paragraph", "list_item", "table", "figure", "caption")
SEPARATOR = "\n\n"
MAX_HEADING_CHARS = 200  # a longer "heading" is a paragraph in a heading style
MAX_SECTION_DEPTH = 6


@dataclass
class Element:
    """One block of a page. ``text`` is what is embedded: a table's is its Markdown."""

    kind: str
    text: str
    level: int = 0  # headings: 1 (top) to 6
    rows: list[list[str]] | None = None  # tables: cells, row by row; the first row is the header
    caption: str = ""  # tables: the caption found beside it (also the first line of ``text``)
    box: tuple[float, float, float, float] | None = None  # (left, top, right, bottom): PDF points; pixels if OCR'd


def cell_text(text: str) -> str:
    """A cell's text on one line: wrapped lines joined, pipes escaped for Markdown."""
    return re.sub(r"\s+", " ", text).strip().replace("|", "\\|")


def table_rows(rows: list[list[str]]) -> list[list[str]]:
    """Rows made rectangular and clean: cells on one line, empty rows dropped, short rows padded."""
    cleaned = [[cell_text(cell) for cell in row] for row in rows]
    cleaned = [row for row in cleaned if any(row)]
    width = max((len(row) for row in cleaned), default=0)
    return [row + [""] * (width - len(row)) for row in cleaned]


def markdown_row(row: list[str]) -> str:
    return "| " + " | ".join(row) + " |"


def table_header(rows: list[list[str]], caption: str = "") -> list[str]:
    """The lines every part of a table starts with: its caption, header row and delimiter row."""
    lines = [caption] if caption else []
    return lines + [markdown_row(rows[0]), "|" + "---|" * len(rows[0])]


def table_element(rows: list[list[str]], caption: str = "",
                  box: tuple[float, float, float, float] | None = None) -> Element | None:
    """A table as an element: Markdown when it has a header and a body; a lone row or cell is a
    paragraph; an empty table is nothing (None)."""
    rows, caption = table_rows(rows), cell_text(caption)
    if not rows:
        return None
    if len(rows) == 1:
        return Element("paragraph", " | ".join(cell for cell in rows[0] if cell), box=box)
    lines = table_header(rows, caption) + [markdown_row(row) for row in rows[1:]]
    return Element("table", "\n".join(lines), rows=rows, caption=caption, box=box)


def heading(text: str, level: int) -> Element:
    """A heading (level clamped to 1-6), or a paragraph when it is too long to be one."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_HEADING_CHARS:
        return Element("paragraph", text)
    return Element("heading", text, level=min(max(level, 1), MAX_SECTION_DEPTH))


def blocks(kind: str, text: str) -> list[Element]:
    """Non-empty ``kind`` elements from text whose blocks are separated by blank lines."""
    return [Element(kind, block.strip()) for block in re.split(r"\n\s*\n", text) if block.strip()]


def page_text(elements: list[Element]) -> str:
    return SEPARATOR.join(element.text for element in elements)


class SectionPath:
    """The headings above the current point: a heading closes those of its level and below."""

    def __init__(self) -> None:
        self._open: list[tuple[int, str]] = []

    def enter(self, element: Element) -> None:
        self._open = [(level, title) for level, title in self._open if level < element.level]
        self._open.append((element.level, element.text))

    def resume(self, structure, first_page: int) -> None:
        """The path at page index ``first_page`` of a PDF read from there (a page range): its
        outline's entries before that page (``structure``: a ``PdfStructure``, or None)."""
        for page_index, level, title in getattr(structure, "outline", ()):
            if page_index < first_page:
                self.enter(heading(title, level))

    @property
    def titles(self) -> list[str]:
        return [title for _, title in self._open]
