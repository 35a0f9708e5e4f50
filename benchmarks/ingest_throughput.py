"""`ingest` of a 120-page text PDF next to `embed` alone on the same chunks, same run.

    python benchmarks/ingest_throughput.py [--pages 120] [--json build/bench/ingest.json]

The PDF is made here with fpdf2 from real prose (the Python standard library's
docstrings). Embed-only sends the chunk texts the ingest returned to `embed`
the way ingest does (16 per request, 8 in flight), so the ratio
embed-only time / ingest time shows how much of extraction, chunking and IPC
the pipeline hides behind embedding (1.0 = all of it). Each round also ingests the PDF with
``extract_method: "pdfium"`` (text layers only), so the cost of the default ``"hybrid"`` (which
checks every page for a usable text layer) on a text PDF is measured too, and with
``embed_model: "embed_int8"``, next to the CPU's SIMD features.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

sys.path.insert(0, str(Path(__file__).parent))
from report import cpu_features, write_json  # noqa: E402

from triton_ingest.contracts import EMBED, INGEST  # noqa: E402
from triton_ingest.models.corpus import chunk_texts  # noqa: E402
from triton_ingest.pipeline.documents import ExtractSettings, open_document  # noqa: E402
from triton_ingest.serving.server import TritonServer  # noqa: E402


def make_prose_pdf(pages: int) -> bytes:
    from fpdf import FPDF

    texts = chunk_texts()
    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for page in range(pages):
        pdf.add_page()
        body = "\n\n".join(texts[(page * 4 + i) % len(texts)] for i in range(4))
        pdf.multi_cell(0, 5, body.encode("latin-1", "replace").decode("latin-1"))
    return bytes(pdf.output())


def bytes_input(name: str, value: bytes) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, [1], "BYTES")
    tensor.set_data_from_numpy(np.array([value], dtype=object))
    return tensor


def ingest_once(url: str, pdf: bytes, options: dict | None = None) -> tuple[float, list[str], dict]:
    client = grpcclient.InferenceServerClient(url)
    tensors = [bytes_input("DOCUMENT", pdf), bytes_input("FILENAME", b"bench.pdf"),
               bytes_input("OPTIONS", json.dumps(options or {}).encode())]
    try:
        start = time.perf_counter()
        result = client.infer(INGEST.name, tensors)
        seconds = time.perf_counter() - start
    finally:
        client.close()
    texts = [json.loads(c)["text"] for c in result.as_numpy("CHUNKS")]
    return seconds, texts, json.loads(result.as_numpy("SUMMARY")[0])


def embed_only(url: str, texts: list[str], per_request: int = 16, in_flight: int = 8) -> float:
    clients = [grpcclient.InferenceServerClient(url) for _ in range(in_flight)]
    groups = [texts[i : i + per_request] for i in range(0, len(texts), per_request)]

    def call(index: int) -> None:
        data = np.array([[t.encode()] for t in groups[index]], dtype=object)
        tensor = grpcclient.InferInput("TEXT", list(data.shape), "BYTES")
        tensor.set_data_from_numpy(data)
        clients[index % in_flight].infer(EMBED.name, [tensor])

    start = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(call, range(len(groups))))
    seconds = time.perf_counter() - start
    for client in clients:
        client.close()
    return seconds


def extraction_ms(pdf: bytes, method: str, repeats: int = 5) -> float:
    """Best-of-``repeats`` time to extract every page in-process: the part of ingest that
    ``extract_method`` changes, without the noise of embedding."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        list(open_document(pdf, settings=ExtractSettings(method=method)).pages)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("build/bench/ingest.json"))
    args = parser.parse_args()
    pdf = make_prose_pdf(args.pages)
    rows = []
    with TritonServer.on_free_ports() as server:
        ingest_once(server.grpc_url, make_prose_pdf(4))  # warm-up
        for round_ in range(args.rounds):  # alternate so drift hits both alike
            ingest_s, texts, summary = ingest_once(server.grpc_url, pdf)
            pdfium_s, pdfium_texts, _ = ingest_once(server.grpc_url, pdf, {"extract_method": "pdfium"})
            int8_s, int8_texts, _ = ingest_once(server.grpc_url, pdf, {"embed_model": "embed_int8"})
            assert int8_texts == texts
            assert pdfium_texts == texts and summary["ocr_pages"] == 0  # hybrid reads a text PDF the same
            embed_s = embed_only(server.grpc_url, texts)
            rows.append({
                "round": round_, "pages": summary["pages"], "chunks": len(texts),
                "ingest_s": round(ingest_s, 2), "embed_only_s": round(embed_s, 2),
                "ingest_pages_per_s": round(summary["pages"] / ingest_s, 2),
                "ingest_chunks_per_s": round(len(texts) / ingest_s, 2),
                "embed_only_chunks_per_s": round(len(texts) / embed_s, 2),
                "ingest_vs_embed_only": round(embed_s / ingest_s, 3),
                "pdfium_s": round(pdfium_s, 2), "hybrid_vs_pdfium_throughput": round(pdfium_s / ingest_s, 3),
                "int8_s": round(int8_s, 2), "int8_pages_per_s": round(summary["pages"] / int8_s, 2),
                "int8_vs_fp32_throughput": round(ingest_s / int8_s, 3),
                "stage_ms": summary["timings_ms"],
            })
    print(f"\n{'round':>5} {'pages':>6} {'chunks':>6} {'ingest s':>9} {'pages/s':>8} {'chunks/s':>9} "
          f"{'embed-only s':>13} {'chunks/s':>9} {'ingest/embed-only':>18} {'pdfium s':>9} {'hybrid/pdfium':>14}")
    for r in rows:
        print(f"{r['round']:>5} {r['pages']:>6} {r['chunks']:>6} {r['ingest_s']:>9.2f} {r['ingest_pages_per_s']:>8.2f} "
              f"{r['ingest_chunks_per_s']:>9.2f} {r['embed_only_s']:>13.2f} {r['embed_only_chunks_per_s']:>9.2f} "
              f"{r['ingest_vs_embed_only']:>18.3f} {r['pdfium_s']:>9.2f} {r['hybrid_vs_pdfium_throughput']:>14.3f}")
    for r in rows:
        print(f"round {r['round']}: embed_model embed_int8 {r['int8_s']:.2f} s = {r['int8_pages_per_s']:.2f} pages/s, "
              f"{r['int8_vs_fp32_throughput']:.3f}x the fp32 ingest (CPU: {cpu_features()})")
    print(f"stage timings of the last ingest (ms): {rows[-1]['stage_ms']}")
    extraction = {method: round(extraction_ms(pdf, method), 1) for method in ("pdfium", "hybrid")}
    rows.append({"extraction_ms": extraction})
    print(f"extraction alone, best of 5 (ms): pdfium {extraction['pdfium']}, hybrid {extraction['hybrid']}: hybrid adds "
          f"{extraction['hybrid'] - extraction['pdfium']:+.1f} ms, "
          f"{100 * (extraction['hybrid'] - extraction['pdfium']) / (rows[-2]['ingest_s'] * 1000):+.2f} % of the ingest")
    write_json(args.json, rows)


if __name__ == "__main__":
    main()
