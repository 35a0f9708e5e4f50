"""Office documents as elements (``elements``): DOCX (its body in order: headings from the heading
styles, list items, paragraphs and tables with their captions) and PPTX (one page per slide: its
title as a heading, text frames and tables top to bottom, then its notes). Both are ZIP packages,
checked against decompression bombs before they are parsed."""

from __future__ import annotations

import io
import zipfile

from ..errors import InvalidInputError
from .elements import Element, blocks, heading, table_element

MAIN_PARTS = {"docx": "word/document.xml", "pptx": "ppt/presentation.xml"}


def package_kind(data: bytes) -> str:
    """``docx`` or ``pptx`` from the ZIP package's parts (``docx`` when it cannot be read)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except Exception:  # noqa: BLE001 - zipfile raises many kinds on hostile input (fuzzing found NotImplementedError)
        return "docx"  # opening it will say what is wrong
    return "pptx" if MAIN_PARTS["pptx"] in names and MAIN_PARTS["docx"] not in names else "docx"


def check_package(data: bytes, kind: str, max_unzipped: int) -> None:
    """Reject a package that is not ``kind`` or whose parts expand beyond ``max_unzipped`` bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if MAIN_PARTS[kind] not in archive.namelist():
            raise InvalidInputError(f"DOCUMENT is a ZIP archive but not a {kind.upper()} file", "unsupported_format")
        unzipped = sum(info.file_size for info in archive.infolist())
    if unzipped > max_unzipped:
        raise InvalidInputError(
            f"DOCUMENT is a {kind.upper()} whose parts expand to {unzipped} bytes; the limit "
            f"(max_unzipped_bytes) is {max_unzipped}", "decompression_bomb")


def _parse(data: bytes, kind: str, max_unzipped: int, parse):
    try:
        check_package(data, kind, max_unzipped)
        return parse(io.BytesIO(data))
    except InvalidInputError:
        raise
    except Exception as exc:  # python-docx / python-pptx / zipfile / lxml errors on corrupt input
        raise InvalidInputError(f"DOCUMENT is a corrupt {kind.upper()} file ({type(exc).__name__})",
                                f"corrupt_{kind}") from None


def docx_elements(data: bytes, max_unzipped: int) -> list[Element]:
    """The body's paragraphs and tables in document order (a table's caption goes with it)."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    parsed = _parse(data, "docx", max_unzipped, docx.Document)
    elements: list[Element | None] = []
    try:
        for child in parsed.element.body.iterchildren():
            tag = child.tag.rsplit("}", 1)[-1] if isinstance(child.tag, str) else ""
            if tag == "tbl":
                elements.append(table_element([[cell.text for cell in row.cells] for row in Table(child, parsed).rows]))
            elif tag == "p":
                elements.append(_paragraph(Paragraph(child, parsed)))
    except Exception as exc:  # noqa: BLE001 - lxml / python-docx errors on corrupt input
        raise InvalidInputError(f"DOCUMENT is a corrupt DOCX file ({type(exc).__name__})", "corrupt_docx") from None
    return _attach_captions([element for element in elements if element is not None])


def _paragraph(paragraph) -> Element | None:
    text = paragraph.text.strip()
    if not text:
        return None
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if style == "Title":
        return heading(text, 1)
    if style.startswith("Heading ") and style[8:].isdigit():
        return heading(text, int(style[8:]))
    if style == "Caption":
        return Element("caption", text)
    numbered = paragraph._p.pPr is not None and paragraph._p.pPr.numPr is not None
    return Element("list_item" if numbered or style.startswith("List") else "paragraph", text)


def _attach_captions(elements: list[Element]) -> list[Element]:
    """A caption right before or after a table becomes that table's first line."""
    out: list[Element] = []
    for element in elements:
        if element.kind == "table" and out and out[-1].kind == "caption" and not element.caption:
            element = table_element(element.rows, out.pop().text, element.box)
        elif element.kind == "caption" and out and out[-1].kind == "table" and not out[-1].caption:
            out[-1] = table_element(out[-1].rows, element.text, out[-1].box)
            continue
        out.append(element)
    return out


def pptx_slides(data: bytes, max_unzipped: int, max_pages: int) -> list:
    """The slides of a presentation (python-pptx objects), after the limits are checked."""
    import pptx

    slides = list(_parse(data, "pptx", max_unzipped, pptx.Presentation).slides)
    if len(slides) > max_pages:
        raise InvalidInputError(f"DOCUMENT has {len(slides)} pages; the limit (max_pages) is {max_pages}",
                                "too_many_pages")
    return slides


def _shape_elements(shapes) -> list[Element]:
    elements: list[Element] = []
    for shape in sorted(shapes, key=lambda s: (s.top or 0, s.left or 0)):
        if shape.shape_type is not None and shape.shape_type == 6:  # MSO_SHAPE_TYPE.GROUP
            elements += _shape_elements(shape.shapes)
        elif getattr(shape, "has_table", False) and shape.has_table:
            table = table_element([[cell.text for cell in row.cells] for row in shape.table.rows])
            elements += [table] if table is not None else []
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame and shape.text_frame.text.strip():
            title = shape.is_placeholder and shape.placeholder_format.type in (1, 3)  # TITLE, CENTER_TITLE
            text = shape.text_frame.text.strip()
            elements += [heading(text, 1)] if title else blocks("paragraph", text)
    return elements


def slide_elements(slide, number: int) -> list[Element]:
    """Slide ``number``'s title, text frames and tables, top to bottom, then its notes. python-pptx
    reads a slide's parts only now, so a corrupt part is reported here."""
    try:
        elements = _shape_elements(slide.shapes)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            elements += blocks("paragraph", slide.notes_slide.notes_text_frame.text)
    except Exception as exc:  # noqa: BLE001 - lxml / python-pptx errors on corrupt input
        raise InvalidInputError(f"DOCUMENT is a corrupt PPTX file (slide {number}: {type(exc).__name__})",
                                "corrupt_pptx") from None
    return elements
