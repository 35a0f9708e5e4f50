"""Office documents: DOCX (paragraphs, then tables) and PPTX (one page per slide: its text frames,
tables and notes, top to bottom). Both are ZIP packages, checked against decompression bombs
before they are parsed."""

from __future__ import annotations

import io
import zipfile

from ..errors import InvalidInputError

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


def docx_text(data: bytes, max_unzipped: int) -> str:
    """Paragraphs, then table rows (cells joined by `` | ``), separated by blank lines."""
    import docx

    parsed = _parse(data, "docx", max_unzipped, docx.Document)
    blocks = [p.text for p in parsed.paragraphs if p.text.strip()]
    for table in parsed.tables:
        for row in table.rows:
            blocks.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n\n".join(blocks)


def pptx_slides(data: bytes, max_unzipped: int, max_pages: int) -> list:
    """The slides of a presentation (python-pptx objects), after the limits are checked."""
    import pptx

    slides = list(_parse(data, "pptx", max_unzipped, pptx.Presentation).slides)
    if len(slides) > max_pages:
        raise InvalidInputError(f"DOCUMENT has {len(slides)} pages; the limit (max_pages) is {max_pages}",
                                "too_many_pages")
    return slides


def _shape_blocks(shapes) -> list[str]:
    blocks = []
    for shape in sorted(shapes, key=lambda s: (s.top or 0, s.left or 0)):
        if shape.shape_type is not None and shape.shape_type == 6:  # MSO_SHAPE_TYPE.GROUP
            blocks += _shape_blocks(shape.shapes)
        elif getattr(shape, "has_table", False) and shape.has_table:
            blocks += [" | ".join(cell.text.strip() for cell in row.cells) for row in shape.table.rows]
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame and shape.text_frame.text.strip():
            blocks.append(shape.text_frame.text.strip())
    return blocks


def slide_text(slide, number: int) -> str:
    """Slide ``number``'s text frames and tables, top to bottom, then its notes. python-pptx reads a
    slide's parts only now, so a corrupt part is reported here."""
    try:
        blocks = _shape_blocks(slide.shapes)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                blocks.append(notes)
    except Exception as exc:  # noqa: BLE001 - lxml / python-pptx errors on corrupt input
        raise InvalidInputError(f"DOCUMENT is a corrupt PPTX file (slide {number}: {type(exc).__name__})",
                                "corrupt_pptx") from None
    return "\n\n".join(blocks)
