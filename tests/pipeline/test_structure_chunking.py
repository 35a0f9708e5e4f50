"""Chunking by structure: sections from headings, tables as whole-row Markdown chunks with their
header repeated, degenerate tables, and offsets that point into the page text."""

from __future__ import annotations

import pytest

from triton_ingest.pipeline.chunking import TokenChunker
from triton_ingest.pipeline.documents import Page
from triton_ingest.pipeline.elements import Element, SectionPath, heading, page_text, table_element


@pytest.fixture(scope="module")
def chunker(tokenizer_path):
    return TokenChunker(tokenizer_path, chunk_size=64, chunk_overlap=8)


def page(number: int, elements: list[Element]) -> Page:
    return Page(number, page_text(elements), elements=elements)


def packages(rows: int) -> Element:
    body = [[f"package-{i}", f"1.{i}.0", f"Library number {i} for parsing things"] for i in range(rows)]
    return table_element([["Name", "Version", "Summary"], *body], caption="Table 1: Installed packages")


@pytest.mark.parametrize("depth", ["page", "document"])
def test_headings_give_sections_and_chunks_never_cross_them(chunker, depth):
    first = page(1, [heading("4 Installation", 1), Element("paragraph", "Install it with pip."),
                     heading("4.2 Proxies", 2), Element("paragraph", "Set HTTPS_PROXY first.")])
    second = page(2, [Element("paragraph", "Still about proxies."), heading("5 Usage", 1),
                      Element("paragraph", "Run it.")])
    chunks = list(chunker.chunks([first, second], depth))
    proxies = "4.2 Proxies\n\nSet HTTPS_PROXY first." + ("\n\nStill about proxies." if depth == "document" else "")
    assert [(c.text, c.section) for c in chunks] == [
        ("4 Installation\n\nInstall it with pip.", ["4 Installation"]),
        (proxies, ["4 Installation", "4.2 Proxies"]),
        *([("Still about proxies.", ["4 Installation", "4.2 Proxies"])] if depth == "page" else []),
        ("5 Usage\n\nRun it.", ["5 Usage"])]
    assert all(c.content_type == "text" for c in chunks)
    joined = {1: first.text, 2: second.text} if depth == "page" else {0: first.text + "\n\n" + second.text}
    for chunk in chunks:  # offsets point into the page (or document) text
        text = joined[chunk.pages[0] if depth == "page" else 0]
        assert text[chunk.char_start:chunk.char_end] == chunk.text


def test_a_long_table_is_split_between_rows_with_its_header_and_caption_in_every_part(chunker):
    table = packages(30)
    document = page(1, [heading("Installed packages", 1), Element("paragraph", "These are installed."), table,
                        Element("paragraph", "That was all of them.")])
    chunks = list(chunker.chunks([document]))
    parts = [c for c in chunks if c.content_type == "table"]
    assert len(parts) > 2 and all(c.section == ["Installed packages"] for c in chunks)
    rows_seen = []
    for part in parts:
        lines = part.text.split("\n")
        assert lines[:3] == ["Table 1: Installed packages", "| Name | Version | Summary |", "|---|---|---|"]
        assert all(line.startswith("| package-") and line.endswith(" |") for line in lines[3:])  # whole rows
        assert part.token_count <= 64
        rows_seen += lines[3:]
        assert document.text[part.char_start:part.char_end].endswith(lines[-1])
    assert rows_seen == table.text.split("\n")[3:]  # every row once, in order
    assert chunks[0].text == "Installed packages\n\nThese are installed." and chunks[-1].text == "That was all of them."
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))


def test_degenerate_tables_give_sane_chunks(chunker):
    assert table_element([]) is None and table_element([["", ""], [" ", ""]]) is None  # empty
    lone = table_element([["Only cell"]])
    assert (lone.kind, lone.text) == ("paragraph", "Only cell")
    ragged = table_element([["a", "b", "c"], ["1"], ["x | y", "line\nwrapped"]])
    assert ragged.text.split("\n")[2:] == ["| 1 |  |  |", "| x \\| y | line wrapped |  |"]
    wide = table_element([[f"column {i}" for i in range(2000)], [str(i) for i in range(2000)]])
    chunks = list(chunker.chunks([page(1, [wide])]))  # a header too wide to repeat, rows too long for a chunk
    assert chunks and all(c.content_type == "table" and c.token_count <= 64 for c in chunks)
    assert any("column 1999" in c.text for c in chunks) and chunks[-1].text.endswith("| 1999 |")


def test_a_page_range_starts_inside_the_sections_its_outline_opened_before_it():
    from triton_ingest.pipeline.pdf_structure import PdfStructure

    path = SectionPath()
    path.resume(PdfStructure(outline=((0, 1, "1 Intro"), (2, 1, "2 Setup"), (3, 2, "2.1 Proxies"), (9, 1, "3 Use"))), 5)
    assert path.titles == ["2 Setup", "2.1 Proxies"]
    path.resume(None, 5)
    assert path.titles == ["2 Setup", "2.1 Proxies"]


def test_a_table_that_fits_with_its_heading_and_introduction_shares_their_chunk(chunker):
    table = table_element([["Code", "Meaning"], ["404", "Not Found"], ["418", "I'm a teapot"]])
    document = page(1, [heading("HTTP status codes", 1), Element("paragraph", "The server answers with:"), table,
                        Element("paragraph", "Others are rare.")])
    chunks = list(chunker.chunks([document]))
    assert [(c.text, c.content_type) for c in chunks] == [
        ("HTTP status codes\n\nThe server answers with:\n\n" + table.text, "table"), ("Others are rare.", "text")]
    assert document.text[chunks[0].char_start:chunks[0].char_end] == chunks[0].text
