"""The structure of a PDF's text layer: page furniture, the outline, and ruled tables.

- **Furniture.** Short lines in the outer band of a page (its top or bottom 15%) that repeat at the
  same height on at least half of a sample of pages are running headers, footers and page numbers:
  word for word, or with numbers that keep one distance from the page number ("Page 3 of 40"; a
  "Total: 120" that changes freely is not one). Body text never sits in a furniture band's place
  on every page, except on pages made from one template.
  :func:`structure_of` finds them once per document; every page then drops them.
- **Outline.** The bookmarks give headings: a bookmark's title becomes a heading element where its
  line is found on its page (at the top of the page when it is not).
- **Tables.** A page with ruling lines (``MIN_RULES`` path objects or more) is searched for ruled
  tables by pdfplumber; each table becomes a table element placed by its position, with wrapped
  cells joined, and the page's other text is read in the bands above, between and below them.
  ``tables: "off"`` skips the search.
"""

from __future__ import annotations

import io
import math
import re
from collections import Counter
from dataclasses import dataclass

from .elements import Element, heading, table_element

SAMPLE_PAGES = 16  # pages sampled for furniture
EDGE_LINES = 2  # lines at each edge of a page that may be furniture
MIN_FURNITURE_PAGES = 2
MAX_FURNITURE_CHARS = 80
MAX_NUMBERING_CHARS = 60
EDGE_ZONE = 0.15  # the share of the page's height, at the top and at the bottom, where furniture sits
MIN_RULES = 4  # path objects on a page before its tables are looked for
MAX_OUTLINE = 2000
MAX_RECTS = 20_000  # text rectangles of one page looked at for its edges
CAPTION = re.compile(r"(table|tab\.)\s*[0-9ivx]+(\.\d+)*\b", re.IGNORECASE)
TABLE_SETTINGS = {"vertical_strategy": "lines", "horizontal_strategy": "lines"}


@dataclass(frozen=True)
class PdfStructure:
    """What is known of a PDF as a whole, found once when it is opened."""

    furniture: frozenset[str] = frozenset()  # lines repeated word for word (``plain``)
    numbering: frozenset[str] = frozenset()  # lines whose digits change, at a fixed height (``normal``)
    outline: tuple[tuple[int, int, str], ...] = ()  # (page index, level 1-6, title)

    def is_furniture(self, line: str) -> bool:
        return plain(line) in self.furniture or normal(line) in self.numbering


def plain(line: str) -> str:
    return " ".join(line.split()).lower()


def normal(line: str) -> str:
    return re.sub(r"\d+", "#", plain(line))


def edge_lines(page, textpage) -> list[tuple[str, int]]:
    """The lines among a page's top and bottom EDGE_LINES that lie in its outer EDGE_ZONE (top
    lines near the top, bottom lines near the bottom) and are short enough to be furniture, with
    their height in 4-point steps. Text rectangles that overlap vertically make a line."""
    height = page.get_size()[1] or 1.0
    rects = sorted((textpage.get_rect(i) for i in range(min(textpage.count_rects(), MAX_RECTS))),
                   key=lambda r: -r[3])
    lines: list[list[float]] = []  # [left, bottom, right, top]
    for left, bottom, right, top in rects:
        if lines and bottom < lines[-1][3] and top > lines[-1][1]:
            line = lines[-1]
            line[:] = [min(line[0], left), min(line[1], bottom), max(line[2], right), max(line[3], top)]
        else:
            lines.append([left, bottom, right, top])
    top = [box for box in lines[:EDGE_LINES] if box[1] >= height * (1 - EDGE_ZONE)]
    bottom = [box for box in lines[EDGE_LINES:][-EDGE_LINES:] if box[3] <= height * EDGE_ZONE]
    found = [(textpage.get_text_bounded(*box).strip(), round(box[1] / 4)) for box in top + bottom]
    return [(text, at) for text, at in found if text and len(text) <= MAX_FURNITURE_CHARS]


def page_offsets(line: str, page_number: int) -> set[int]:
    """How far each number in ``line`` is from the page's number (a page number: 0 somewhere)."""
    return {int(n) - page_number for n in re.findall(r"\d{1,6}", line)}


def structure_of(pdf, count: int) -> PdfStructure:
    """Furniture from up to SAMPLE_PAGES pages spread over the document, and the outline. A line is
    furniture when it sits in a page's outer band, at the same height, on at least half of the
    sampled pages: word for word (a running header), or, when short, with other digits that keep
    one distance from the page number ("Page 3 of 40", "- 17 -")."""
    samples = min(count, SAMPLE_PAGES)
    sample = sorted({round(i * (count - 1) / max(samples - 1, 1)) for i in range(samples)})
    words: Counter[tuple[str, int]] = Counter()
    numbered: dict[tuple[str, int], list[set[int]]] = {}
    with_text = 0
    for index in sample:
        try:
            page = pdf[index]
            textpage = page.get_textpage()
            edges = edge_lines(page, textpage)
            textpage.close()
            page.close()
        except Exception:  # noqa: BLE001 - a corrupt page: reading it later says so
            continue
        with_text += bool(edges)
        words.update({(plain(text), at) for text, at in edges})
        for text, at in edges:
            if len(text) <= MAX_NUMBERING_CHARS and re.search(r"\d", text):
                numbered.setdefault((normal(text), at), []).append(page_offsets(text, index + 1))
    needed = max(MIN_FURNITURE_PAGES, math.ceil(with_text / 2))
    return PdfStructure(frozenset(line for (line, _), pages in words.items() if pages >= needed),
                        frozenset(line for (line, _), offsets in numbered.items()
                                  if len(offsets) >= needed and set.intersection(*offsets)),
                        _outline(pdf))


def _outline(pdf) -> tuple[tuple[int, int, str], ...]:
    entries = []
    try:
        for bookmark in pdf.get_toc(max_depth=6):
            if len(entries) >= MAX_OUTLINE:
                break
            destination, title = bookmark.get_dest(), (bookmark.get_title() or "").strip()
            page_index = destination.get_index() if destination is not None else None
            if page_index is not None and title:
                entries.append((page_index, bookmark.level + 1, title))
    except Exception:  # noqa: BLE001 - a broken outline is no outline; the text is still read
        return ()
    return tuple(entries)


def strip_furniture(text: str, structure: PdfStructure, top: bool = True, bottom: bool = True) -> str:
    """``text`` without furniture among its first and last EDGE_LINES lines."""
    if not structure.furniture and not structure.numbering:
        return text
    lines = text.split("\n")
    filled = [i for i, line in enumerate(lines) if line.strip()]
    edge = (filled[:EDGE_LINES] if top else []) + (filled[-EDGE_LINES:] if bottom else [])
    drop = {i for i in edge if structure.is_furniture(lines[i])}
    return "\n".join(line for i, line in enumerate(lines) if i not in drop).strip("\n")


class TableFinder:
    """pdfplumber on one page at a time: the page is copied out of the open pypdfium2 ``document``
    into a PDF of its own (a few ms), because pdfplumber lists every page of a document it opens,
    and a long document read in page ranges would pay that once per range."""

    def __init__(self, document):
        self.document = document

    def tables(self, index: int) -> list[tuple[tuple[float, float, float, float], list[list[str]]]]:
        """Page ``index``'s ruled tables of two rows and two columns or more; none when pdfplumber
        cannot read the page (pdfium's text is still there)."""
        import pdfplumber
        import pypdfium2 as pdfium

        try:
            single, out = pdfium.PdfDocument.new(), io.BytesIO()
            try:
                single.import_pages(self.document, [index])
                single.save(out)
            finally:
                single.close()
            found = []
            with pdfplumber.open(io.BytesIO(out.getvalue())) as document:
                for table in document.pages[0].find_tables(TABLE_SETTINGS):
                    rows = [[cell or "" for cell in row] for row in table.extract()]
                    if len(rows) >= 2 and max(len(row) for row in rows) >= 2:
                        found.append((tuple(table.bbox), rows))
        except Exception:  # noqa: BLE001 - pdfminer's many errors on hostile input
            return []
        return found


def ruled(page) -> bool:
    import pypdfium2.raw as pdfium_c

    paths = page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_PATH,), max_depth=2)
    return sum(1 for _ in zip(range(MIN_RULES), paths)) >= MIN_RULES


def page_elements(page, textpage, text: str, index: int, structure: PdfStructure,
                  finder: TableFinder | None, given: list | None = None) -> list[Element]:
    """Page ``index``'s elements: text bands and tables by position, headings from the outline,
    furniture dropped. ``given``: the page's tables, found by the page-element models, instead of
    pdfplumber's search for ruled ones."""
    tables = given if given is not None else finder.tables(index) if finder is not None and ruled(page) else []
    if not tables:
        bands = [strip_furniture(text, structure)]
        elements = [Element("paragraph", bands[0])] if bands[0].strip() else []
    else:
        elements = _banded(page, textpage, sorted(tables, key=lambda t: t[0][1]), structure)
    return _headed(elements, [(level, title) for page_index, level, title in structure.outline if page_index == index])


def _banded(page, textpage, tables, structure: PdfStructure) -> list[Element]:
    width, height = page.get_size()
    elements, top = [], 0.0
    for position, (box, rows) in enumerate(tables + [(None, None)]):
        bottom = box[1] if box is not None else height
        if bottom > top:
            band = textpage.get_text_bounded(0, height - bottom, width, height - top)
            band = strip_furniture(band.replace("\r\n", "\n").replace("\r", "\n"), structure,
                                   top=position == 0, bottom=box is None)
            if band.strip():
                elements.append(Element("paragraph", band.strip("\n")))
        if box is not None:
            table = table_element(rows, box=box)
            if table is not None:
                elements.append(table)
            for left, right in ((0, box[0]), (box[2], width)):  # text beside the table: another column
                beside = textpage.get_text_bounded(left, height - box[3], right, height - box[1]).strip()
                if beside:
                    elements.append(Element("paragraph", beside.replace("\r\n", "\n").replace("\r", "\n")))
            top = max(top, box[3])
    return _captioned(elements)


def _captioned(elements: list[Element]) -> list[Element]:
    """A "Table N" line right after (or else right before) a table becomes its caption."""
    for position, element in enumerate(elements):
        if element.kind != "table" or element.caption:
            continue
        for neighbour, line in ((position + 1, 0), (position - 1, -1)):
            if 0 <= neighbour < len(elements) and elements[neighbour].kind == "paragraph":
                lines = elements[neighbour].text.split("\n")
                if CAPTION.match(lines[line].strip()):
                    elements[position] = table_element(element.rows, lines.pop(line), element.box)
                    elements[neighbour] = Element("paragraph", "\n".join(lines).strip("\n"))
                    break
    return [element for element in elements if element.text.strip()]


def _headed(elements: list[Element], titles: list[tuple[int, str]]) -> list[Element]:
    """``elements`` with each outline title's line made a heading (a title not found on the page
    leads it)."""
    leading = 0
    for level, title in titles:
        wanted, placed = normal(title), False
        for position, element in enumerate(elements):
            if element.kind != "paragraph":
                continue
            lines = element.text.split("\n")
            hit = next((i for i, line in enumerate(lines) if normal(line) == wanted), None)
            if hit is not None:
                before, after = "\n".join(lines[:hit]).strip("\n"), "\n".join(lines[hit + 1:]).strip("\n")
                parts = ([Element("paragraph", before)] if before.strip() else []) + [heading(title, level)] + \
                    ([Element("paragraph", after)] if after.strip() else [])
                elements[position:position + 1] = parts
                placed = True
                break
        if not placed:
            elements.insert(leading, heading(title, level))
            leading += 1
    return elements
