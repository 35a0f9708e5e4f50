"""Text formats: decoding bytes to text, HTML's visible text and its elements (h1-h6 headings,
``<table>`` tables, paragraphs), Markdown's elements (``#`` headings, pipe tables) and plain text."""

from __future__ import annotations

import re

from ..errors import InvalidInputError
from .elements import Element, blocks, heading, table_element

UNSUPPORTED = ("DOCUMENT is binary data in no supported format (PDF, DOCX, PPTX, HTML, Markdown, text, "
               "PNG, JPEG, TIFF, WebP)")
HTML_SNIFF = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<!--)", re.IGNORECASE)
HTML_BLOCKS = (
    "address,article,aside,blockquote,br,dd,div,dl,dt,figcaption,figure,footer,form,h1,h2,h3,h4,h5,h6,"
    "header,hr,li,main,nav,ol,p,pre,section,table,td,th,tr,ul"
)
MARKDOWN_HINT = re.compile(r"^(#{1,6} |```|\* |- |\d+\. |> )", re.MULTILINE)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode text bytes robustly; return (text, encoding). Binary data is rejected."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(codec, errors="strict"), codec
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:4096]:
        raise InvalidInputError(UNSUPPORTED, "unsupported_format")
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None or best.chaos > 0.2:
        raise InvalidInputError("DOCUMENT is not text in any recognised encoding, nor a PDF, DOCX or HTML file",
                                "undecodable_text")
    tied = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    best = next((m for m in tied if m.encoding == "cp1252"), best)  # the web's default on a tie
    return str(best), best.encoding


def printable_ratio(text: str) -> float:
    sample = text[:20000]
    if not sample:
        return 1.0
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f") or "\ue000" <= ch <= "\uf8ff" or ch == "\ufffd")
    return 1 - bad / len(sample)


MARK = "\ue000"  # brackets a table's or heading's place in the visible text (removed from the input first)
MARKED = re.compile(MARK + r"([TH])(\d+)" + MARK)


def html_text(data: bytes) -> tuple[str, str]:
    """The visible text of an HTML page (scripts, styles, ``noscript`` and ``head`` dropped) and its encoding."""
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    text, encoding = decode_text(data)
    return _visible(HTMLParser(text)), encoding


def html_elements(data: bytes) -> tuple[list[Element], str]:
    """An HTML page's headings, tables (top-level ones; a nested table is its cell's text) and
    paragraphs in order, and its encoding."""
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    text, encoding = decode_text(data)
    tree = HTMLParser(text.replace(MARK, ""))
    tree.strip_tags(["script", "style", "noscript", "template", "head"])
    found: list[Element | None] = []
    for table in [t for t in tree.css("table") if _outer_table(t.parent) is None]:
        found.append(_html_table(table))
        table.replace_with(f"\n{MARK}T{len(found) - 1}{MARK}\n")
    for node in tree.css("h1,h2,h3,h4,h5,h6"):
        found.append(heading(node.text(separator=" "), int(node.tag[1])))
        node.replace_with(f"\n{MARK}H{len(found) - 1}{MARK}\n")
    elements: list[Element] = []
    pieces = MARKED.split(_visible(tree))
    for position in range(0, len(pieces), 3):
        elements += blocks("paragraph", pieces[position])
        if position + 2 < len(pieces) and found[int(pieces[position + 2])] is not None:
            elements.append(found[int(pieces[position + 2])])
    return [e for e in elements if e.text], encoding


def _outer_table(node):
    """The nearest ``table`` at or above ``node`` (None: none)."""
    while node is not None and node.tag != "table":
        node = node.parent
    return node


def _html_table(table) -> Element | None:
    rows = [[cell.text(separator=" ") for cell in row.iter() if cell.tag in ("td", "th")]
            for row in table.css("tr") if _outer_table(row).mem_id == table.mem_id]
    caption = table.css_first("caption")
    return table_element(rows, caption.text(separator=" ") if caption is not None else "")


def _visible(tree) -> str:
    tree.strip_tags(["script", "style", "noscript", "template", "head"])
    for node in tree.css(HTML_BLOCKS):  # blocks end lines; inline elements do not
        node.insert_before("\n")
        node.insert_after("\n")
    body = tree.body or tree.root
    visible = body.text(separator="") if body is not None else ""
    # Each pass is linear: every whitespace run but a newline becomes one space (U+2003 and \r
    # included), spaces around newlines go, and two or more newlines become one blank line.
    visible = re.sub(r" ?\n ?", "\n", re.sub(r"[^\S\n]+", " ", visible))
    return re.sub(r"\n{2,}", "\n\n", visible).strip()


def plain_text(data: bytes, filename: str) -> tuple[str, str, str]:
    """(kind ``markdown`` or ``text``, text, encoding) of a text document."""
    text, encoding = decode_text(data)
    if printable_ratio(text) < 0.95:
        raise InvalidInputError(UNSUPPORTED, "unsupported_format")
    is_markdown = filename.lower().endswith((".md", ".markdown")) or len(MARKDOWN_HINT.findall(text[:20000])) >= 3
    return ("markdown" if is_markdown else "text"), text, encoding


ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
TABLE_DELIMITER = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")


def pipe_cells(line: str) -> list[str]:
    """A pipe-table row's cells (outer pipes optional, ``\\|`` is a pipe inside a cell)."""
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return [cell.replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)]


def markdown_elements(text: str) -> list[Element]:
    """Markdown's ATX headings, pipe tables and blocks (paragraphs, lists, code kept as written);
    nothing inside a fenced code block is structure."""
    lines, elements, paragraph, fenced, index = text.split("\n"), [], [], False, 0

    def close() -> None:
        elements.extend(blocks("paragraph", "\n".join(paragraph)))
        paragraph.clear()

    while index < len(lines):
        line = lines[index]
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and ATX_HEADING.match(line):
            close()
            level, title = ATX_HEADING.match(line).groups()
            elements.append(heading(title, len(level)))
            index += 1
            continue
        elif (not fenced and "|" in line and index + 1 < len(lines) and "-" in lines[index + 1]
              and TABLE_DELIMITER.match(lines[index + 1]) and not paragraph):
            end = index + 2
            while end < len(lines) and "|" in lines[end] and lines[end].strip():
                end += 1
            table = table_element([pipe_cells(row) for row in [line] + lines[index + 2:end]])
            elements += [table] if table is not None else []
            index = end
            continue
        paragraph.append(line)
        if not line.strip() and not fenced:
            close()
        index += 1
    close()
    return elements
