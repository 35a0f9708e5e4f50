"""Text formats: decoding bytes to text, HTML's visible text, Markdown and plain text."""

from __future__ import annotations

import re

from ..errors import InvalidInputError

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


def html_text(data: bytes) -> tuple[str, str]:
    """The visible text of an HTML page (scripts, styles, ``noscript`` and ``head`` dropped) and its encoding."""
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    text, encoding = decode_text(data)
    tree = HTMLParser(text)
    tree.strip_tags(["script", "style", "noscript", "template", "head"])
    for node in tree.css(HTML_BLOCKS):  # blocks end lines; inline elements do not
        node.insert_before("\n")
        node.insert_after("\n")
    body = tree.body or tree.root
    visible = body.text(separator="") if body is not None else ""
    # Each pass is linear: every whitespace run but a newline becomes one space (U+2003 and \r
    # included), spaces around newlines go, and two or more newlines become one blank line.
    visible = re.sub(r" ?\n ?", "\n", re.sub(r"[^\S\n]+", " ", visible))
    return re.sub(r"\n{2,}", "\n\n", visible).strip(), encoding


def plain_text(data: bytes, filename: str) -> tuple[str, str, str]:
    """(kind ``markdown`` or ``text``, text, encoding) of a text document."""
    text, encoding = decode_text(data)
    if printable_ratio(text) < 0.95:
        raise InvalidInputError(UNSUPPORTED, "unsupported_format")
    is_markdown = filename.lower().endswith((".md", ".markdown")) or len(MARKDOWN_HINT.findall(text[:20000])) >= 3
    return ("markdown" if is_markdown else "text"), text, encoding
