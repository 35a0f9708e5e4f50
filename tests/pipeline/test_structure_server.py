"""Structure through the served ``ingest`` model, on both deployments and both protocols: table
chunks as Markdown with their section, page and box; ``tables: "off"``; and ``ingest_stream``."""

from __future__ import annotations

import pytest

from support.clients import ingest_with
from support.tables import RUNNING_HEADER, cell_accuracy, generated_sections, markdown_cells, table_docx, table_pdf

pytestmark = pytest.mark.integration
SECTIONS = generated_sections(seed=3, count=2)


def table_chunks(got: dict) -> list[dict]:
    return [c for c in got["chunks"] if c["content_type"] == "table"]


def test_pdf_tables_come_back_as_markdown_chunks_with_section_page_and_box(clients, protocol):
    got = ingest_with(clients[protocol], protocol, table_pdf(SECTIONS), "runbook.pdf")
    tables = table_chunks(got)
    assert [c["section"] for c in tables] == [[s.title] for s in SECTIONS]
    assert [c["pages"] for c in tables] == [[1], [2]] and all(len(c["box"]) == 4 for c in tables)
    for section, chunk in zip(SECTIONS, tables):
        assert chunk["text"].startswith(section.title + "\n\n") and f"\n\n{section.caption}\n|" in chunk["text"]
        assert cell_accuracy(section.rows, markdown_cells(chunk["text"])) == 1.0
    assert not any(RUNNING_HEADER in c["text"] or "Page 1 of 2" in c["text"] for c in got["chunks"])
    assert len(got["embeddings"]) == len(got["chunks"])
    off = ingest_with(clients[protocol], protocol, table_pdf(SECTIONS), "runbook.pdf", {"tables": "off"})
    assert not table_chunks(off) and off["summary"]["options"]["tables"] == "off"


def test_docx_tables_sit_under_their_headings(clients, protocol):
    got = ingest_with(clients[protocol], protocol, table_docx(SECTIONS), "runbook.docx",
                      {"chunk_size": 96, "chunk_overlap": 8})
    for chunk in got["chunks"]:
        assert chunk["section"] and chunk["section"][0] in {s.title for s in SECTIONS}
    for section in SECTIONS:
        parts = [c for c in table_chunks(got) if c["section"] == [section.title]]
        assert parts and all(c["text"].split("\n")[1] == "| " + " | ".join(section.rows[0]) + " |" for c in parts)
        rows = [row for c in parts for row in markdown_cells(c["text"])[1:]]  # the header repeats; rows do not
        assert rows == section.rows[1:]
