"""The Milvus index: indexing overhead, recall@5 and search latency, in one run.

    python benchmarks/index_throughput.py [--pages 120] [--rows 10000] [--json build/bench/index.json]

1. Overhead: the same prose PDF (as in ingest_throughput.py) ingested over the gRPC stream once
   alone and once into a Milvus Lite index (created by a warm-up ingest), one run each, flush
   included. The goal is at most 1.10. The time spent in Milvus calls is reported too: it is the
   overhead without the run-to-run noise of the ingest itself.
2. Recall@5: the knowledge library of tests/support/knowledge.py (8 documents, 24 questions) and
   its 24 troubleshooting notes (asked by error code) among the PDF's chunks; dense and hybrid.
   A question counts when a top-5 chunk is from the right document and holds the answer. The same
   documents go into a second index with ``embed_model: "embed_int8"``, asked the same questions.
3. Latency: the index is topped up to ``--rows`` chunks (the prose chunks' served embeddings,
   repeated with a little noise) and flushed, then each question is asked three times: query
   embedding plus search, p50 and p99, dense and hybrid.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from ingest_throughput import make_prose_pdf  # noqa: E402
from report import write_json  # noqa: E402
from triton_ingest_client import Client, Index  # noqa: E402

from support.knowledge import QUESTIONS, error_notes, library  # noqa: E402
from triton_ingest.models.corpus import chunk_texts  # noqa: E402
from triton_ingest.serving.server import TritonServer  # noqa: E402

FILLER_PER_DOCUMENT = 500


def overhead(client: Client, pdf: bytes, index: Index) -> dict:
    """One run each, after a warm-up that created the collection (a one-time cost, reported)."""
    started = time.perf_counter()
    client.ingest(make_prose_pdf(4), filename="warm-up.pdf", index=index)
    create_s = time.perf_counter() - started
    started = time.perf_counter()
    alone = client.ingest(pdf, filename="bench.pdf", stream=True)
    alone_s = time.perf_counter() - started
    started = time.perf_counter()
    indexed = client.ingest(pdf, filename="bench.pdf", index=index).summary["index"]
    started_flush = time.perf_counter()
    index.flush()  # as the CLI does when it closes the index
    flush_s = time.perf_counter() - started_flush
    indexed_s = time.perf_counter() - started
    assert indexed["rows"] == len(alone.chunks)
    return {"pages": alone.summary["pages"], "chunks": len(alone.chunks), "ingest_s": round(alone_s, 2),
            "ingest_with_index_s": round(indexed_s, 2), "ratio": round(indexed_s / alone_s, 3),
            "milvus_s": round(indexed["milvus_ms"] / 1000 + flush_s, 2),
            "milvus_share": round((indexed["milvus_ms"] / 1000 + flush_s) / alone_s, 3),
            "first_ingest_with_collection_creation_s": round(create_s, 2)}


def asked() -> list[tuple[str, str, str]]:
    """(question, source, answer phrase): the library's questions, then one per error note."""
    notes = [(f"What does error {code} mean?", name, code) for name, (_, code) in error_notes().items()]
    return list(QUESTIONS) + notes


def recall_at_5(client: Client, index: Index, questions: list[tuple[str, str, str]], hybrid: bool) -> float:
    found = 0
    for question, source, phrase in questions:
        hits = client.search(question, index=index, top_k=5, hybrid=hybrid)
        found += any(h.source == source and phrase in h.text for h in hits)
    return found / len(questions)


def fill(client: Client, index: Index, options: dict | None = None) -> None:
    """The library and the error notes, ingested into ``index`` with ``options``."""
    for name, data in library().items():
        client.ingest(data, options, filename=name, index=index)
    for name, (text, _) in error_notes().items():
        client.ingest(text.encode(), options, filename=name, index=index)


def recall(client: Client, index: Index) -> dict:
    """recall@5 of the questions and the error codes, dense and hybrid."""
    questions = asked()
    library_questions, code_questions = questions[: len(QUESTIONS)], questions[len(QUESTIONS) :]
    return {"rows": index.stats()["rows"], "model": index.stats()["profile"]["model"], **{
        f"{kind}_{mode}": round(recall_at_5(client, index, subset, mode == "hybrid"), 3)
        for kind, subset in (("questions", library_questions), ("error_codes", code_questions))
        for mode in ("dense", "hybrid")}}


def top_up(client: Client, index: Index, rows: int) -> int:
    """Fill the index to ``rows`` chunks with prose chunks and noisy copies of their embeddings."""
    texts = chunk_texts()
    vectors = client.embed(texts)
    rng = np.random.default_rng(0)
    missing, number = rows - index.stats()["rows"], 0
    while missing > 0:
        count = min(FILLER_PER_DOCUMENT, missing)
        picks = rng.integers(0, len(texts), count)
        noisy = vectors[picks] + 0.05 * rng.standard_normal((count, vectors.shape[1])).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        chunks = [{"chunk_index": i, "text": f"{texts[p]} (copy {number}.{i})", "pages": [1], "char_start": 0,
                   "char_end": len(texts[p])} for i, p in enumerate(picks)]
        document = index.document(f"filler-{number:03d}.txt", f"{number:064x}")
        document.add(chunks, noisy)
        document.commit()
        missing, number = missing - count, number + 1
    index.flush()
    return index.stats()["rows"]


def latency_ms(client: Client, index: Index, questions: list[str], hybrid: bool, repeats: int = 3) -> dict:
    seconds = []
    for _ in range(repeats):
        for question in questions:
            started = time.perf_counter()
            client.search(question, index=index, top_k=5, hybrid=hybrid)
            seconds.append(time.perf_counter() - started)
    p50, p99 = np.percentile(seconds, [50, 99]) * 1000
    return {"queries": len(seconds), "p50_ms": round(float(p50), 1), "p99_ms": round(float(p99), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=120)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--json", type=Path, default=Path("build/bench/index.json"))
    args = parser.parse_args()
    results: dict = {}
    with TritonServer.on_free_ports() as server, tempfile.TemporaryDirectory() as scratch, \
            Client(server.grpc_url, "grpc") as client, Index(Path(scratch) / "bench.db") as index:
        client.ingest(make_prose_pdf(4), filename="warm-up.pdf", stream=True)
        pdf = make_prose_pdf(args.pages)
        results["overhead"] = overhead(client, pdf, index)
        fill(client, index)
        results["recall_at_5"] = recall(client, index)
        with Index(Path(scratch) / "int8.db") as int8_index:  # the same chunks, embedded by embed_int8
            int8 = {"embed_model": "embed_int8"}
            for name, data in (("warm-up.pdf", make_prose_pdf(4)), ("bench.pdf", pdf)):
                client.ingest(data, int8, filename=name, index=int8_index)
            fill(client, int8_index, int8)
            results["recall_at_5_int8"] = recall(client, int8_index)
        questions = asked()
        rows = top_up(client, index, args.rows)
        results["latency"] = {"rows": rows, **{mode: latency_ms(client, index, [q for q, _, _ in questions], mode == "hybrid")
                                               for mode in ("dense", "hybrid")}}
    report(results)
    write_json(args.json, results)


def report(results: dict) -> None:
    o, lat = results["overhead"], results["latency"]
    print(f"\nindexing overhead, {o['pages']}-page PDF ({o['chunks']} chunks), one run each over the gRPC stream:")
    print(f"  ingest {o['ingest_s']:.2f} s, ingest into Milvus Lite {o['ingest_with_index_s']:.2f} s: "
          f"ratio {o['ratio']:.3f} (goal <= 1.10: {'ok' if o['ratio'] <= 1.10 else 'MISSED'})")
    print(f"  time in Milvus calls (upserts, queries, deletes, flush): {o['milvus_s']:.2f} s = "
          f"{100 * o['milvus_share']:.1f} % of the ingest; creating the collection took "
          f"{o['first_ingest_with_collection_creation_s']:.2f} s once (with a 4-page warm-up ingest)")
    for r in (results["recall_at_5"], results["recall_at_5_int8"]):
        print(f"\nrecall@5 over {r['rows']} chunks, embedded by {r['model']}:    dense   hybrid")
        print(f"  {len(QUESTIONS)} questions             {r['questions_dense']:6.3f}   {r['questions_hybrid']:6.3f}")
        print(f"  {len(error_notes())} error codes           {r['error_codes_dense']:6.3f}   {r['error_codes_hybrid']:6.3f}")
    print(f"\nsearch latency over {lat['rows']} chunks (query embedding + search, top 5):")
    for mode in ("dense", "hybrid"):
        print(f"  {mode:7} p50 {lat[mode]['p50_ms']:6.1f} ms  p99 {lat[mode]['p99_ms']:6.1f} ms  "
              f"({lat[mode]['queries']} queries)")


if __name__ == "__main__":
    main()
