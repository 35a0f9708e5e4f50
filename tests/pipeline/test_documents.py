"""Type detection and extraction on real generated documents (no server)."""

from __future__ import annotations

import os

import pytest

from support.documents import make_docx, make_html, make_pdf, page_text
from triton_ingest.errors import InvalidInputError
from triton_ingest.pipeline.documents import ExtractSettings, decode_text, detect_kind, open_document


def test_pdf_pages_are_extracted_lazily_in_order():
    document = open_document(make_pdf(3), "ignored.txt")  # the filename is only a hint
    assert (document.kind, document.page_count) == ("pdf", 3)
    pages = list(document.pages)
    assert [p.number for p in pages] == [1, 2, 3]
    assert "Page 2, paragraph 3" in pages[1].text and "Page 3" not in pages[1].text


def test_docx_paragraphs_are_extracted():
    document = open_document(make_docx(["First paragraph.", "Second one, with ümlauts."]), "x.pdf")
    assert document.kind == "docx"
    assert list(document.pages)[0].text == "First paragraph.\n\nSecond one, with ümlauts."


def test_html_keeps_visible_text_only():
    document = open_document(make_html("Visible body text."))
    text = list(document.pages)[0].text
    assert document.kind == "html" and "Heading" in text and "Visible body text." in text
    assert "SCRIPT_TEXT" not in text and "NOSCRIPT_TEXT" not in text and "color: red" not in text


@pytest.mark.timeout(60)  # linear: well under a second; the quadratic regexes took hours on this page
def test_html_whitespace_of_any_kind_collapses_in_linear_time():
    """Runs of whitespace the first pass did not collapse (U+2003 em spaces, here 1 MB of them
    around newlines) made the blank-line regex backtrack quadratically: 20k took 6 s, 1 MB hours."""
    from triton_ingest.pipeline.text import html_text

    run = "\u2003" * 350_000
    page = f"<html><body><p>first{run}\n{run}second</p><p>x \r\n\t y</p>\n\n\n<p>{run}</p>z</body></html>"
    assert html_text(page.encode())[0] == "first\nsecond\n\nx\ny\n\nz"


def test_markdown_by_hint_or_content_and_plain_text():
    assert open_document(b"Just a line.", "notes.md").kind == "markdown"
    assert open_document(b"# Title\n\n- one\n- two\n\n## Part\ntext").kind == "markdown"
    assert open_document(page_text(1).encode(), "a.txt").kind == "text"


@pytest.mark.parametrize(
    "text, codec, expected",
    [
        ("Café crème, naïve garçon. " * 5, "latin-1", "cp1252"),
        ("Привет мир, это текст. " * 5, "cp1251", "cp1251"),
        ("hello wörld", "utf-16", "utf-16"),
        ("héllo", "utf-8", "utf-8"),
    ],
)
def test_text_encodings_are_detected_and_recorded(text, codec, expected):
    decoded, encoding = decode_text(text.encode(codec))
    assert decoded == text and encoding == expected


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "DOCUMENT is empty"),
        (os.urandom(4096) + b"\x00", "binary data"),
        (bytes(range(128, 256)) * 20, "not text in any recognised encoding"),
        (b"%PDF-1.7\n garbage that is no PDF", "corrupt or truncated PDF"),
        (b"PK\x03\x04 not really a zip", "corrupt DOCX"),
    ],
)
def test_unreadable_input_is_rejected_by_name(data, message):
    with pytest.raises(InvalidInputError, match=message):
        document = open_document(data)
        list(document.pages)


def test_truncated_and_oversized_pdfs_are_rejected():
    pdf = make_pdf(4)
    with pytest.raises(InvalidInputError, match="corrupt or truncated PDF"):
        open_document(pdf[: len(pdf) // 3])
    with pytest.raises(InvalidInputError, match="has 4 pages; the limit"):
        open_document(pdf, settings=ExtractSettings(max_pages=3))


def test_detect_kind_uses_magic_bytes():
    assert detect_kind(b"%PDF-1.4 ...") == "pdf"
    assert detect_kind(b"\xef\xbb\xbf  <!DOCTYPE html><html>") == "html"
    assert detect_kind(b"plain words", "x.pdf") == "text"
