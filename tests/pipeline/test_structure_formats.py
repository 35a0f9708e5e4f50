"""Structure that the formats carry, read without a model: tables as Markdown with every cell in
its row and column, headings as sections, captions with their tables, and PDF page furniture
dropped. The documents come from ``support.tables``, whose tables are known."""

from __future__ import annotations

import pytest

from support.tables import (RUNNING_HEADER, cell_accuracy, generated_sections, markdown_cells, table_docx,
                            table_html, table_markdown, table_pdf)
from triton_ingest.pipeline.chunking import TokenChunker
from triton_ingest.pipeline.documents import ExtractSettings, open_document

SECTIONS = generated_sections()
WRITERS = {"pdf": table_pdf, "docx": table_docx, "html": table_html, "md": table_markdown}


def elements(data: bytes, filename: str, settings: ExtractSettings = ExtractSettings()) -> list:
    document = open_document(data, filename, settings)
    try:
        return [e for page in document.pages for e in page.elements]
    finally:
        document.close()


@pytest.mark.parametrize("kind", list(WRITERS))
def test_every_table_comes_back_cell_for_cell_after_its_heading_with_its_caption(kind):
    found = elements(WRITERS[kind](SECTIONS), f"runbook.{kind}")
    tables = [e for e in found if e.kind == "table"]
    assert len(tables) == len(SECTIONS)
    for section, table in zip(SECTIONS, tables):
        assert cell_accuracy(section.rows, table.rows) == 1.0
        assert cell_accuracy(section.rows, markdown_cells(table.text)) == 1.0
        assert table.caption == section.caption or kind == "md"  # Markdown has no captions: a paragraph
    headings = [e.text for e in found if e.kind == "heading"]
    assert headings == [s.title for s in SECTIONS]
    order = [e.kind for e in found if e.kind in ("heading", "table")]
    assert order == ["heading", "table"] * len(SECTIONS)  # each table after its own heading


def test_pdf_running_headers_and_page_numbers_are_dropped_and_tables_can_be_turned_off():
    data = table_pdf(SECTIONS)
    text = "\n".join(e.text for e in elements(data, "runbook.pdf"))
    assert RUNNING_HEADER not in text and "Page 1 of" not in text
    assert all(s.caption in text for s in SECTIONS)  # captions under tables of varying length stay
    plain = elements(data, "runbook.pdf", ExtractSettings(tables="off"))
    assert not [e for e in plain if e.kind == "table"]
    assert SECTIONS[0].rows[1][0] in "\n".join(e.text for e in plain)  # the cells are still read, as lines


def test_pdf_table_chunks_know_their_section_page_and_box(tokenizer_path):
    document = open_document(table_pdf(SECTIONS), "runbook.pdf")
    chunks = list(TokenChunker(tokenizer_path).chunks(document.pages))
    document.close()
    tables = [c for c in chunks if c.content_type == "table"]
    titles = [s.title for s in SECTIONS]
    assert sorted({c.section[0] for c in tables}) == titles and all(len(c.section) == 1 for c in tables)
    assert all(c.pages == [titles.index(c.section[0]) + 1] for c in tables)  # one section a page
    assert all(c.token_count <= 254 for c in tables) and len(tables) > len(SECTIONS)  # one split by rows
    assert all(len(c.box) == 4 and c.box[0] < c.box[2] and c.box[1] < c.box[3] for c in tables)
    # a table that fits with the text before it shares its chunk: its heading and introduction
    assert tables[0].text.startswith(SECTIONS[0].title + "\n\n" + SECTIONS[0].prose[:20])
    assert f"\n\n{SECTIONS[0].caption}\n| Name | Port |" in tables[0].text


def test_degenerate_tables_in_every_format_give_text_not_errors():
    html = ("<html><body><table></table><table><tr><td>lonely</td></tr></table>"
            "<table><tr>" + "<td>c</td>" * 3000 + "</tr><tr>" + "<td>1</td>" * 3000 + "</tr></table>"
            "<table><tr><td colspan=2>merged</td></tr><tr><td>a</td><td>b</td></tr></table></body></html>").encode()
    found = elements(html, "x.html")
    assert [e.kind for e in found] == ["paragraph", "table", "table"]
    assert found[0].text == "lonely" and len(found[1].rows[0]) == 3000
    assert found[2].rows == [["merged", ""], ["a", "b"]]
    markdown = b"| only | header |\n|---|---|\n\n|   |\n|---|\n|   |\n"
    assert [e.kind for e in elements(markdown, "x.md")] == ["paragraph"]


def test_repeated_template_lines_that_are_content_are_kept():
    """Pages made from one template: the body's wrapped lines and a total that changes freely are
    content; only the running header and the page number go."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for page, total in enumerate((120, 87, 4410, 9), 1):
        pdf.add_page()
        pdf.set_font("helvetica", size=8)
        pdf.cell(0, 6, "ACME invoices", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=11)
        pdf.multi_cell(0, 6, "Thank you for your order. Payment is due within thirty days of the invoice date. "
                             "Late payments carry interest.")
        pdf.set_y(-30)
        pdf.cell(0, 6, f"Total due: ${total}", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 6, f"- {page} -", align="C")
    text = [page.text for page in open_document(bytes(pdf.output())).pages]
    assert all("Thank you for your order" in t and "Late payments carry interest." in t for t in text)
    assert [t.count("Total due: $") for t in text] == [1] * 4
    assert not any("ACME invoices" in t or "- 2 -" in t for t in text)


def test_text_beside_a_pdf_table_is_kept():
    """A narrow table in one column and prose in the other: the prose is read too."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    top = pdf.get_y()
    with pdf.table(width=80, align="LEFT", first_row_as_headings=True) as table:
        for row in SECTIONS[0].rows:
            cells = table.row()
            for value in row[:2]:
                cells.cell(value)
    pdf.set_xy(110, top)
    pdf.multi_cell(80, 5, "Beside the table: the zone's maintenance window is Sunday 02:00 to 04:00 UTC.")
    found = elements(bytes(pdf.output()), "side.pdf")
    assert [e.kind for e in found].count("table") == 1
    assert "maintenance window is Sunday" in " ".join(" ".join(e.text.split()) for e in found)
