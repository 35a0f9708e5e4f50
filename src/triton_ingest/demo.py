"""``triton-ingest-server demo`` (``make run``): start Triton, embed example texts, show similarities,
then ingest the example documents in ``examples/`` (plus generated PDFs: a manual, a report with a
ruled table under running headers, and a scanned page, which OCR reads) into a Milvus Lite index
under ``build/``, show the report's table as the Markdown chunk it became, and answer questions
from the index, one of them from a table cell.

Embeds over the standard KServe v2 HTTP protocol with tritonclient, and ingests and searches with the
client SDK (gRPC streaming into the index).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tritonclient.http as httpclient
from triton_ingest_client import Client, Index

from .contracts import EMBED
from .paths import BUILD, EXAMPLES
from .serving.server import TritonServer

DEMO_INDEX = BUILD / "demo-kb.db"

SEARCHES = ["How are scanned invoices made searchable?", "Where do inputs larger than five megabytes arrive on NVCF?",
            "Which port does the staging Redis listen on?"]
PORTS = [["Service", "Host", "Port", "Owner"], ["metrics exporter", "obs-01", "9464", "SRE"],
         ["staging Redis", "cache-02", "6390", "Platform team (on call: Tuesdays)"],
         ["job gateway", "edge-01", "9000", "Ingest"], ["Milvus proxy", "vec-03", "19530", "Search"]]

QUERIES = ["How do I run Triton without a GPU?", "Which animal purrs?"]
DOCUMENTS = [
    "Triton Inference Server can serve models on CPU-only machines.",
    "Cats purr when they are content.",
    "The stock market fell sharply on Tuesday.",
    "Le serveur Triton fonctionne aussi sans carte graphique.",
]


def embed_http(url: str, texts: list[str]) -> np.ndarray:
    """Embed texts through the `embed` ensemble over HTTP."""
    text = EMBED.input("TEXT")
    client = httpclient.InferenceServerClient(url)
    try:
        tensor = httpclient.InferInput(text.name, [len(texts), 1], text.wire_dtype)
        tensor.set_data_from_numpy(np.array([[t.encode()] for t in texts], dtype=object))
        return client.infer(EMBED.name, [tensor]).as_numpy("EMBEDDING")
    finally:
        client.close()


def similarity_table(queries: list[str], docs: list[str], q: np.ndarray, d: np.ndarray) -> str:
    """Each query with the documents ranked by cosine similarity."""
    lines = []
    for query, row in zip(queries, q @ d.T):
        lines.append(f"\nquery: {query}")
        for j in np.argsort(-row):
            lines.append(f"  {row[j]:+.3f}  {docs[j]}")
    return "\n".join(lines)


def generated_pdf(pages: int = 12) -> bytes:
    """A multi-page PDF made on the spot (fpdf2), so no binary is committed."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for page in range(1, pages + 1):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Manual page {page}. Triton serves the ingest model on CPU and GPU. "
                             "Each page is extracted, split into token windows and embedded. " * 4)
    return bytes(pdf.output())


def generated_report() -> bytes:
    """A two-page report under a running header and "Page N of M" footers, with an outline and a
    ruled table whose cells wrap (fpdf2): what the structure-aware PDF path reads."""
    from fpdf import FPDF

    class Report(FPDF):
        def header(self) -> None:
            self.set_font("helvetica", size=8)
            self.cell(0, 6, "Operations handbook - internal", align="C", new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("helvetica", size=8)
            self.cell(0, 6, f"Page {self.page_no()} of {{nb}}", align="C")

    pdf = Report()
    for title, prose, rows in (("1 Deployment", "Each service runs in its own namespace. " * 6, None),
                               ("2 Network ports", "The services listen on these ports. " * 3, PORTS)):
        pdf.add_page()
        pdf.start_section(title)
        pdf.set_font("helvetica", size=14)
        pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", size=10)
        pdf.multi_cell(0, 5, prose, new_x="LMARGIN", new_y="NEXT")
        if rows:
            pdf.ln(2)
            with pdf.table(col_widths=(40, 30, 20, 50), width=140, first_row_as_headings=True) as table:
                for row in rows:
                    cells = table.row()
                    for value in row:
                        cells.cell(value)
            pdf.cell(0, 8, "Table 2: Service ports", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


SCANNED_TEXT = ("Scanned notice. Invoices sent as photographs or scans are read by the OCR models, "
                "then chunked and embedded like any other page, so search finds them too.")


def generated_scan() -> bytes:
    """A scanned page: typeset, rendered to a picture (pdfium) and wrapped in a PDF with no text layer."""
    import io

    import pypdfium2 as pdfium
    from fpdf import FPDF

    typeset = FPDF(format=(120, 80))
    typeset.add_page()
    typeset.set_font("times", size=13)
    typeset.multi_cell(0, 6, SCANNED_TEXT)
    picture = pdfium.PdfDocument(bytes(typeset.output()))[0].render(scale=150 / 72).to_pil()
    png = io.BytesIO()
    picture.save(png, "PNG")
    scan = FPDF(format=(120, 80))
    scan.add_page()
    scan.image(png, x=0, y=0, w=120, h=80)
    return bytes(scan.output())


def ingest_examples(server: TritonServer, index_path: Path) -> None:
    """Ingest every example document into a Milvus Lite index (streamed over gRPC), print a summary
    table, then answer questions from the index (hybrid: dense and BM25)."""
    documents = {p.name: p.read_bytes() for p in sorted(EXAMPLES.glob("*")) if p.is_file()}
    generated = {"generated-manual.pdf": generated_pdf(), "generated-report.pdf": generated_report(),
                 "generated-scan.pdf": generated_scan()}
    print(f"\ningesting {len(documents)} documents from {EXAMPLES.name}/, two generated PDFs and a scanned page "
          f"into the Milvus Lite index {index_path}:")
    print(f"  {'file':28} {'kind':9} {'encoding':9} {'pages':>5} {'ocr':>3} {'chunks':>6} {'replaced':>8} {'ms':>7}")
    index_path.parent.mkdir(parents=True, exist_ok=True)
    with Client(server.grpc_url, "grpc") as client, Index(index_path) as index:
        if index.profile() is not None and not index.structure_fields:
            index.drop()
            print("  (its collection predates document structure: made anew, with content_type and section)")
        for name, data in {**documents, **generated}.items():
            summary = client.ingest(data, filename=name, index=index).summary
            print(f"  {name:28} {summary['kind']:9} {summary['encoding'] or '-':9} {summary['pages']:>5} "
                  f"{summary['ocr_pages']:>3} {summary['chunks']:>6} {summary['index']['replaced']:>8} "
                  f"{summary['timings_ms']['total_ms']:>7.0f}")
        show_tables(client, "generated-report.pdf", generated["generated-report.pdf"])
        for question in SEARCHES:
            best = client.search(question, index=index, top_k=1, hybrid=True)[0]
            print(f"\nsearch --hybrid: {question}\n  best chunk ({best.score:+.3f}, {best.source}, pages {best.pages}, "
                  f"read by {best.method}, {best.content_type}"
                  + (f", section {' > '.join(best.section)}" if best.section else "") + "):")
            if best.content_type == "table":  # its heading, introduction and rows, as stored
                print("  " + best.text.replace("\n", "\n  "))
                print(f"  answer, from its cells: {answer_from(best.text, question)}")
            else:
                print("  " + best.text[:300].replace("\n", " ") + ("..." if len(best.text) > 300 else ""))
        print(f"\nthe index holds {index.stats()['rows']} chunks; search it again with:\n"
              f"  triton-ingest search \"{SEARCHES[0]}\" --index {index_path} --hybrid")


def show_tables(client: Client, name: str, data: bytes) -> None:
    """The table chunks ingest made of ``name``: where each was found, and its Markdown."""
    for chunk in client.ingest(data, filename=name).chunks:
        if chunk.get("content_type") == "table":
            print(f"\ntable found in {name}, page {chunk['pages'][0]}, section {' > '.join(chunk['section'])}, "
                  f"box {[round(v) for v in chunk['box']]} (points), as Markdown:")
            print("  " + chunk["text"].replace("\n", "\n  "))


def answer_from(table: str, question: str) -> str:
    """The row of a Markdown table that shares most words with ``question``, as "header: cell" pairs."""
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.split("\n")
            if line.startswith("|") and not line.startswith("|---")]
    words = set(question.lower().replace("?", "").split())
    best = max(rows[1:], key=lambda row: len(words & set(" ".join(row).lower().split())))
    return ", ".join(f"{name}: {value}" for name, value in zip(rows[0], best))


def main(index_path: Path = DEMO_INDEX) -> int:
    with TritonServer.on_free_ports() as server:
        print(f"tritonserver ready on HTTP {server.http_url} / gRPC {server.grpc_url}")
        embeddings = embed_http(server.http_url, QUERIES + DOCUMENTS)
        q, d = embeddings[: len(QUERIES)], embeddings[len(QUERIES) :]
        print(f"embedded {len(embeddings)} texts -> {embeddings.shape[1]}-d vectors, "
              f"norms {np.linalg.norm(embeddings, axis=1).min():.4f}..{np.linalg.norm(embeddings, axis=1).max():.4f}")
        print(similarity_table(QUERIES, DOCUMENTS, q, d))
        ingest_examples(server, index_path)
    print("\ntritonserver stopped cleanly")
    return 0
