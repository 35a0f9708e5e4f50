"""Document structure: table accuracy, the cost of the table path, and retrieval before and after.

    python benchmarks/structure_accuracy.py [--sections 24] [--json build/bench/structure.json] [--smoke]

Test set (``tests/support/tables.py``, seeded): sections each with a 3-5 column table of names,
port numbers, wrapped descriptions and Unicode character names, written four ways: a PDF with
ruled tables (fpdf2's table, a running header and "Page N of M" footers), the same tables as HTML
rendered to PDF by a second renderer (fpdf2's ``write_html``), a DOCX, HTML and Markdown.

- **Accuracy**: the share of true cells found with the same text at the same row and column, per
  format; and pdfplumber's own ``extract_tables`` on the same PDF pages, in process, as the
  reference for the PDF path.
- **Cost**: pages/s of PDF text-layer extraction with ``tables`` "auto" and "off", on the table
  pages and on prose pages without rules (where only the rule count is paid).
- **Retrieval**: questions whose answer is a cell ("Which port does NAME use?"), embedded by the
  served ``embed`` model, against the chunks in a Milvus Lite index, dense and hybrid (dense + BM25,
  as ``search --hybrid``); recall@5 is the share whose top five chunks hold NAME and its port.
  Before: ``tables: "off"`` and furniture kept as text; after: the structure path; and the
  structure path with the furniture (running header, "Page N of M") kept, which isolates what
  dropping it does to questions in sections that carry it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from report import cpu_features, write_json  # noqa: E402

from support.tables import (cell_accuracy, generated_sections, html_rendered_pdf, table_docx,  # noqa: E402
                            table_html, table_markdown, table_pdf)
from triton_ingest.demo import embed_http  # noqa: E402
from triton_ingest.models.artifacts import TOKENIZER_FILE, artifact  # noqa: E402
from triton_ingest.pipeline import pdf_structure  # noqa: E402
from triton_ingest.pipeline.chunking import TokenChunker  # noqa: E402
from triton_ingest.pipeline.documents import ExtractSettings, open_document  # noqa: E402
from triton_ingest.serving.server import TritonServer  # noqa: E402


def found_tables(data: bytes, filename: str, settings: ExtractSettings = ExtractSettings()) -> list[list[list[str]]]:
    document = open_document(data, filename, settings)
    try:
        return [e.rows for page in document.pages for e in (page.elements or ()) if e.kind == "table"]
    finally:
        document.close()


def accuracy(sections, found: list[list[list[str]]]) -> dict:
    """Cell accuracy over all sections (a missing table scores 0 for its cells)."""
    cells = sum(len(row) for s in sections for row in s.rows)
    hits = sum(cell_accuracy(s.rows, t) * sum(len(r) for r in s.rows) for s, t in zip(sections, found))
    return {"tables_true": len(sections), "tables_found": len(found), "cell_accuracy": round(hits / cells, 4)}


def pdfplumber_reference(data: bytes) -> list[list[list[str]]]:
    import io

    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return [[[cell or "" for cell in row] for row in table] for page in pdf.pages for table in page.extract_tables()]


def pages_per_s(data: bytes, tables: str, rounds: int = 3) -> float:
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        document = open_document(data, "x.pdf", ExtractSettings(tables=tables))
        count = sum(1 for _ in document.pages)
        document.close()
        best = max(best, count / (time.perf_counter() - started))
    return round(best, 1)


def prose_pdf(pages: int) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for page in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Page {page} of prose about services, zones and ports. " * 30)
    return bytes(pdf.output())


def chunks_of(data: bytes, settings: ExtractSettings, chunker: TokenChunker, structure: bool) -> list[dict]:
    document = open_document(data, "runbook.pdf", settings)
    try:
        pages = list(document.pages)
    finally:
        document.close()
    if not structure:  # before: every page's text as one block, as extraction gave it before elements
        pages = [replace(p, elements=None) for p in pages]
    return [asdict(chunk) for chunk in chunker.chunks(pages)]


def furniture_kept(data: bytes) -> ExtractSettings:
    """Settings that read a PDF's structure (outline, tables) but keep its furniture as text."""
    document = open_document(data, "runbook.pdf", ExtractSettings())
    document.close()
    return ExtractSettings(pdf_structure=replace(document.pdf_structure, furniture=frozenset(), numbering=frozenset()))


def embedded(server: TritonServer, texts: list[str]) -> np.ndarray:
    return np.vstack([embed_http(server.http_url, texts[i:i + 64]) for i in range(0, len(texts), 64)])


def recall_at_5(server: TritonServer, records: list[dict], questions: list[tuple[str, str, str]], where: Path,
                vectors: np.ndarray | None = None) -> dict:
    """Recall@5 of dense search and of hybrid search (dense + BM25, as ``search --hybrid``) over
    chunk ``records`` (as ``ingest`` returns them; ``vectors``: their embeddings, else embedded
    here) in a Milvus Lite index: a hit holds the name and its port."""
    from triton_ingest_client import Index
    from triton_ingest_client._index_schema import IndexProfile

    if vectors is None:
        vectors = embedded(server, [r["text"] for r in records])
    asked = embedded(server, [q for q, _, _ in questions])
    where.mkdir(parents=True)
    with Index(where / "kb.db", "tables") as index:
        index.prepare(IndexProfile.served("embed", embedded(server, ["probe"])[0]))
        write = index.document("runbook.pdf", "0" * 64)
        write.add(records, vectors)
        write.commit()
        found = {"dense": 0, "hybrid": 0}
        for vector, (question, name, port) in zip(asked, questions):
            for mode, text in (("dense", None), ("hybrid", question)):
                hits = index.search(vector, top_k=5, text=text)
                found[mode] += any(name in hit.text and port in hit.text for hit in hits)
    return {mode: round(count / len(questions), 3) for mode, count in found.items()}


def served_pages_per_s(server: TritonServer, data: bytes, pages: int, tables: str, rounds: int) -> float:
    """Pages/s of the served ``ingest`` (extraction, chunking and embedding) of ``data``."""
    from triton_ingest_client import Client

    best = 0.0
    with Client(server.grpc_url, "grpc") as client:
        for _ in range(rounds):
            started = time.perf_counter()
            client.ingest(data, {"tables": tables}, filename="runbook.pdf")
            best = max(best, pages / (time.perf_counter() - started))
    return round(best, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=24)
    parser.add_argument("--json", type=Path, default=Path("build/bench/structure.json"))
    parser.add_argument("--smoke", action="store_true", help="4 sections, one cost round: checks that it runs")
    args = parser.parse_args()
    count = 4 if args.smoke else args.sections
    sections = generated_sections(seed=11, count=count)
    print(f"CPU: {cpu_features()}\ntest set: {count} tables, {sum(len(s.rows) for s in sections)} rows, "
          f"{sum(len(r) for s in sections for r in s.rows)} cells")
    runbook = table_pdf(sections)
    results = {"cpu": cpu_features(), "sections": count, "accuracy": {
        "pdf (fpdf2 table)": accuracy(sections, found_tables(runbook, "runbook.pdf")),
        "pdf (HTML rendered by fpdf2)": accuracy(sections, found_tables(html_rendered_pdf(sections), "r.pdf")),
        "pdfplumber extract_tables, same PDF (reference)": accuracy(sections, pdfplumber_reference(runbook)),
        "docx": accuracy(sections, found_tables(table_docx(sections), "r.docx")),
        "html": accuracy(sections, found_tables(table_html(sections), "r.html")),
        "markdown": accuracy(sections, found_tables(table_markdown(sections), "r.md")),
    }}
    for name, row in results["accuracy"].items():
        print(f"  accuracy {name:48} {row['tables_found']:>3}/{row['tables_true']} tables, "
              f"cells {100 * row['cell_accuracy']:.1f}%")
    rounds = 1 if args.smoke else 3
    prose = prose_pdf(count)
    cost = {"table pages, tables auto": pages_per_s(runbook, "auto", rounds),
            "table pages, tables off": pages_per_s(runbook, "off", rounds),
            "prose pages, tables auto": pages_per_s(prose, "auto", rounds),
            "prose pages, tables off": pages_per_s(prose, "off", rounds)}
    results["cost_pages_per_s"] = cost
    print(f"  cost: table pages {cost['table pages, tables auto']} pages/s with tables vs "
          f"{cost['table pages, tables off']} without ({cost['table pages, tables auto'] / cost['table pages, tables off']:.2f}x); "
          f"prose pages {cost['prose pages, tables auto']} vs {cost['prose pages, tables off']} "
          f"({cost['prose pages, tables auto'] / cost['prose pages, tables off']:.2f}x)")
    questions = [(f"Which port does {row[0]} use?", row[0], row[1]) for s in sections for row in s.rows[1:]]
    tokenizer = TokenChunker(str(artifact(TOKENIZER_FILE)))
    plain = ExtractSettings(tables="off", pdf_structure=pdf_structure.PdfStructure())  # furniture kept too
    with TritonServer.on_free_ports() as server, tempfile.TemporaryDirectory() as scratch:
        served = {mode: served_pages_per_s(server, runbook, count, mode, rounds) for mode in ("auto", "off")}
        results["served_ingest_pages_per_s"] = served
        print(f"  served ingest of the table pages: {served['auto']} pages/s with tables vs {served['off']} without "
              f"({served['auto'] / served['off']:.2f}x)")
        before = recall_at_5(server, chunks_of(runbook, plain, tokenizer, False), questions, Path(scratch, "before"))
        after = recall_at_5(server, chunks_of(runbook, ExtractSettings(), tokenizer, True), questions,
                            Path(scratch, "after"))
        kept = recall_at_5(server, chunks_of(runbook, furniture_kept(runbook), tokenizer, True), questions,
                           Path(scratch, "kept"))
    results["retrieval"] = {"questions": len(questions), "recall_at_5_before": before, "recall_at_5_after": after,
                            "recall_at_5_after_furniture_kept": kept}
    for mode in ("dense", "hybrid"):
        print(f"  retrieval ({mode}): {len(questions)} questions on table cells, recall@5 {before[mode]:.3f} before "
              f"(lines, furniture kept) -> {after[mode]:.3f} after (tables as rows, furniture dropped); "
              f"{kept[mode]:.3f} with tables as rows but the running header and page numbers kept")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
