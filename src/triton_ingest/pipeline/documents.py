"""Document type detection and text extraction: PDF, DOCX, HTML, Markdown, plain text.

The type comes from the content (magic bytes, then sniffing); the filename
is only a hint between Markdown and plain text. Extraction yields pages
lazily so a long PDF is never held as one string.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Iterator

from ..errors import InvalidInputError

HTML_SNIFF = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<!--)", re.IGNORECASE)
UNSUPPORTED = "DOCUMENT is binary data in no supported format (PDF, DOCX, HTML, Markdown, text)"
HTML_BLOCKS = (
    "address,article,aside,blockquote,br,dd,div,dl,dt,figcaption,figure,footer,form,h1,h2,h3,h4,h5,h6,"
    "header,hr,li,main,nav,ol,p,pre,section,table,td,th,tr,ul"
)
MARKDOWN_HINT = re.compile(r"^(#{1,6} |```|\* |- |\d+\. |> )", re.MULTILINE)


@dataclass
class Page:
    """Text of one page (1-based ``number``); non-paged formats have a single page 1."""

    number: int
    text: str


@dataclass
class Document:
    """An opened document: its kind, page count and a lazy page iterator."""

    kind: str  # "pdf" | "docx" | "html" | "markdown" | "text"
    page_count: int
    pages: Iterator[Page]
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)


def detect_kind(data: bytes, filename: str = "") -> str:
    """Kind of ``data`` from its content; ``filename`` only separates Markdown from text."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "docx"
    if HTML_SNIFF.match(head.lstrip(b"\xef\xbb\xbf")):
        return "html"
    return "text"


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
        raise InvalidInputError("DOCUMENT is not text in any recognised encoding, nor a PDF, DOCX or HTML file", "undecodable_text")
    tied = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    best = next((m for m in tied if m.encoding == "cp1252"), best)  # the web's default on a tie
    return str(best), best.encoding


def _printable_ratio(text: str) -> float:
    sample = text[:20000]
    if not sample:
        return 1.0
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f") or "\ue000" <= ch <= "\uf8ff" or ch == "\ufffd")
    return 1 - bad / len(sample)


def _open_pdf(data: bytes, max_pages: int) -> Document:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        reason = str(exc)
        if "password" in reason.lower():
            raise InvalidInputError("DOCUMENT is an encrypted PDF; send it without a password", "encrypted_pdf") from None
        raise InvalidInputError(f"DOCUMENT is a corrupt or truncated PDF ({reason})", "corrupt_pdf") from None
    count = len(pdf)
    if count == 0:
        pdf.close()
        raise InvalidInputError("DOCUMENT is a PDF with no pages", "corrupt_pdf")
    if count > max_pages:
        pdf.close()
        raise InvalidInputError(f"DOCUMENT has {count} pages; the limit (max_pages) is {max_pages}", "too_many_pages")

    def pages() -> Iterator[Page]:
        try:
            for index in range(count):
                yield Page(index + 1, _pdf_page_text(pdf, index, count))
        finally:
            pdf.close()

    return Document("pdf", count, pages())


def _pdf_page_text(pdf, index: int, count: int) -> str:
    import pypdfium2 as pdfium

    try:
        page = pdf[index]
        textpage = page.get_textpage()
        text = textpage.get_text_bounded()
        textpage.close()
        page.close()
    except pdfium.PdfiumError as exc:  # a page the header promised but the file cannot deliver
        raise InvalidInputError(f"DOCUMENT page {index + 1} of {count} is corrupt ({exc})", "corrupt_pdf") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _open_docx(data: bytes, max_unzipped: int) -> Document:
    import docx

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "word/document.xml" not in archive.namelist():
                raise InvalidInputError("DOCUMENT is a ZIP archive but not a DOCX file", "unsupported_format")
            unzipped = sum(info.file_size for info in archive.infolist())
            if unzipped > max_unzipped:
                raise InvalidInputError(
                    f"DOCUMENT is a DOCX whose parts expand to {unzipped} bytes; the limit "
                    f"(max_unzipped_bytes) is {max_unzipped}", "decompression_bomb")
        parsed = docx.Document(io.BytesIO(data))
    except InvalidInputError:
        raise
    except Exception as exc:  # python-docx / zipfile / lxml errors on corrupt input
        raise InvalidInputError(f"DOCUMENT is a corrupt DOCX file ({type(exc).__name__})", "corrupt_docx") from None
    blocks = [p.text for p in parsed.paragraphs if p.text.strip()]
    for table in parsed.tables:
        for row in table.rows:
            blocks.append(" | ".join(cell.text.strip() for cell in row.cells))
    return Document("docx", 1, iter([Page(1, "\n\n".join(blocks))]))


def _open_html(data: bytes) -> Document:
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    text, encoding = decode_text(data)
    tree = HTMLParser(text)
    tree.strip_tags(["script", "style", "noscript", "template", "head"])
    for node in tree.css(HTML_BLOCKS):  # blocks end lines; inline elements do not
        node.insert_before("\n")
        node.insert_after("\n")
    body = tree.body or tree.root
    visible = body.text(separator="") if body is not None else ""
    visible = re.sub(r"[ \t\xa0]+", " ", visible)
    visible = re.sub(r"\s*\n\s*\n\s*", "\n\n", re.sub(r" *\n *", "\n", visible)).strip()
    return Document("html", 1, iter([Page(1, visible)]), encoding=encoding)


def _open_text(data: bytes, filename: str) -> Document:
    text, encoding = decode_text(data)
    if _printable_ratio(text) < 0.95:
        raise InvalidInputError(UNSUPPORTED, "unsupported_format")
    is_markdown = filename.lower().endswith((".md", ".markdown")) or len(MARKDOWN_HINT.findall(text[:20000])) >= 3
    return Document("markdown" if is_markdown else "text", 1, iter([Page(1, text)]), encoding=encoding)


def open_document(data: bytes, filename: str = "", max_pages: int = 5000,
                  max_unzipped: int = 256 * 1024 * 1024) -> Document:
    """Detect the type and open ``data`` for lazy, page-by-page extraction."""
    if not data:
        raise InvalidInputError("DOCUMENT is empty", "empty")
    kind = detect_kind(data, filename)
    if kind == "pdf":
        return _open_pdf(data, max_pages)
    if kind == "docx":
        return _open_docx(data, max_unzipped)
    if kind == "html":
        return _open_html(data)
    return _open_text(data, filename)
