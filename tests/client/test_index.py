"""Ingest into Milvus Lite and search it through the real Triton (HTTP and gRPC), with the SDK.

PyTriton serves the same models; the index only talks to ``embed`` and ``ingest(_stream)``, so
these run against tritonserver alone."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from triton_ingest_client import CancelledError, Client, Index, InvalidInputError
from triton_ingest_client._index_schema import IndexProfile

from support.clients import TRITON_ONLY
from support.documents import make_pdf
from support.knowledge import QUESTIONS, error_notes, library
from support.load import write_report
from support.milvus import MilvusLiteServer

pytestmark = TRITON_ONLY
SMALL_CHUNKS = {"chunk_size": 96, "chunk_overlap": 16}


@pytest.fixture
def grpc(server):
    with Client(server.grpc_url, "grpc") as client:
        yield client


@pytest.fixture
def index(tmp_path):
    with Index(tmp_path / "kb.db") as made:
        yield made


def rows_of(index: Index, source: str) -> int:
    return sum(d["chunks"] for d in index.documents() if d["source"] == source)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_ingest_a_corpus_then_the_answer_is_in_the_top_3(server, protocol, index):
    url = server.http_url if protocol == "http" else server.grpc_url
    with Client(url, protocol) as client:
        for name, data in library().items():
            result = client.ingest(data, SMALL_CHUNKS, filename=name, index=index)
            assert result.chunks == [] and result.summary["index"]["rows"] == result.summary["chunks"] > 0
        for question, source, phrase in QUESTIONS[::4]:
            hits = client.search(question, index=index, top_k=3)
            assert any(h.source == source and phrase in h.text for h in hits), (question, hits)
    assert index.stats()["documents"] == len(library())


def test_the_same_file_twice_is_one_copy_and_a_changed_file_replaces_the_old(grpc, index):
    first = grpc.ingest(make_pdf(4), filename="manual.pdf", index=index).summary["index"]
    again = grpc.ingest(make_pdf(4, paragraphs=2), filename="manual.pdf", index=index).summary["index"]
    assert again["document_id"] != first["document_id"] and again["replaced"] == first["rows"]
    assert not again["superseded"] and rows_of(index, "manual.pdf") == again["rows"]
    rows = index.stats()["rows"]
    same_bytes = make_pdf(2)
    twice = [grpc.ingest(same_bytes, filename="twice.pdf", index=index).summary["index"] for _ in range(2)]
    assert twice[0]["document_id"] == twice[1]["document_id"] and twice[1]["replaced"] == 0
    assert index.stats()["rows"] == rows + twice[0]["rows"]  # the second ingest rewrote the same rows
    changed = grpc.ingest(make_pdf(6), filename="manual.pdf", index=index).summary["index"]
    assert changed["replaced"] == again["rows"] and rows_of(index, "manual.pdf") == changed["rows"]
    listed = [d for d in index.documents() if d["source"] == "manual.pdf"]
    assert [d["document_id"] for d in listed] == [changed["document_id"]]  # no mix of versions


def test_a_collection_built_by_another_model_is_a_clear_error(grpc, index):
    other = IndexProfile.served("embed_other", np.random.default_rng(1).standard_normal(384).astype(np.float32))
    index.prepare(other)
    with pytest.raises(InvalidInputError, match="was built with model 'embed_other'.*'embed'.* never mix"):
        grpc.search("anything", index=index)
    with pytest.raises(InvalidInputError, match="never mix"):
        grpc.ingest(b"some text", filename="a.txt", index=index)
    assert index.stats()["rows"] == 0
    with Index(index.uri, "chunked") as chunked:
        grpc.ingest(b"some text", SMALL_CHUNKS, filename="a.txt", index=chunked)
        with pytest.raises(InvalidInputError, match="built with chunk_size 96, chunk_overlap 16, .* not chunk_size 254"):
            grpc.ingest(b"more text", filename="b.txt", index=chunked)


def test_an_int8_index_records_its_model_refuses_fp32_vectors_and_searches_with_int8(grpc, index):
    int8 = {**SMALL_CHUNKS, "embed_model": "embed_int8"}
    for name, data in list(library().items())[:4]:
        grpc.ingest(data, int8, filename=name, index=index)
    assert index.stats()["profile"]["model"] == "embed_int8"
    with pytest.raises(InvalidInputError, match="built with model 'embed_int8'.*embeds with 'embed', and vectors of two"):
        grpc.ingest(b"fp32 text", SMALL_CHUNKS, filename="fp32.txt", index=index)
    question, source, phrase = next(q for q in QUESTIONS if q[1] in list(library())[:4])
    hits = grpc.search(question, index=index, top_k=3)
    assert any(h.source == source and phrase in h.text for h in hits), (question, hits)
    query = grpc.embed([question], "embed_int8")[0]  # the query is embedded by the index's own model
    assert hits[0].score == pytest.approx(float(query @ grpc.embed([hits[0].text], "embed_int8")[0]), abs=1e-5)


def test_hybrid_search_finds_error_codes_that_dense_search_misses(grpc, index):
    notes = error_notes()
    for name, (text, _) in notes.items():
        grpc.ingest(text.encode(), filename=name, index=index)
    dense = hybrid = 0
    for name, (_, code) in notes.items():
        question = f"What does error {code} mean?"
        dense += any(h.source == name for h in grpc.search(question, index=index, top_k=5))
        hybrid += any(h.source == name for h in grpc.search(question, index=index, top_k=5, hybrid=True))
    # measured: dense 14 of 24, hybrid 24 of 24 (BM25 alone ranks the code's note first every time)
    assert hybrid == len(notes), f"hybrid found {hybrid} of {len(notes)} codes in its top 5"
    assert dense <= 0.7 * len(notes), f"dense alone found {dense} of {len(notes)}: the corpus no longer shows the gap"


def test_client_memory_stays_flat_while_a_long_pdf_streams_into_the_index(server, grpc, tmp_path):
    """Over gRPC, rows go into Milvus as each embedded batch arrives: eight times the chunks must not
    take eight times the client's memory (Python allocations, traced; both documents fill many
    32-chunk responses). Milvus runs in its own process here, so its memory is not counted. Over
    HTTP the whole result is held at once, which this measurement must show."""

    def peak_mib(client: Client, pages: int, name: str) -> float:
        document = make_pdf(pages, paragraphs=12)  # 3 chunks a page; the PDF stays small (~1 KB a page)
        tracemalloc.start()
        try:
            client.ingest(document, {"embed_batch": 32}, filename=name, index=index)
            return tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()

    with MilvusLiteServer(tmp_path / "milvus") as milvus, Index(milvus.uri) as index:
        grpc.ingest(b"Warm-up: connect and create the collection first.", filename="warm-up.txt", index=index)
        short, long = peak_mib(grpc, 20, "short.pdf"), peak_mib(grpc, 160, "long.pdf")
        with Client(server.http_url, "http") as http:
            held = peak_mib(http, 160, "long-http.pdf")
        write_report("index-client-memory", {"chunks_short": rows_of(index, "short.pdf"), "chunks_long":
                                             rows_of(index, "long.pdf"), "peak_mib_grpc_short": round(short, 2),
                                             "peak_mib_grpc_long": round(long, 2), "peak_mib_http_long": round(held, 2)})
        assert rows_of(index, "long.pdf") == 8 * rows_of(index, "short.pdf") >= 400
    assert long < 1.5 * short + 0.25, f"streaming peak {long:.2f} MiB for 160 pages vs {short:.2f} MiB for 20"
    assert held > 3 * long, f"the whole-result path peaked at {held:.2f} MiB, streaming at {long:.2f} MiB"


def test_a_milvus_server_by_uri_takes_the_same_path(grpc, tmp_path):
    """An http:// URI: the Milvus protocol over the network, to a server in another process."""
    with MilvusLiteServer(tmp_path / "milvus") as milvus, Index(milvus.uri, "over_the_network") as index:
        for name, data in library().items():
            grpc.ingest(data, SMALL_CHUNKS, filename=name, index=index)
        question, source, phrase = QUESTIONS[12]
        hits = grpc.search(question, index=index, top_k=3, hybrid=True)
        assert any(h.source == source and phrase in h.text for h in hits)
        assert index.stats()["documents"] == len(library())


def test_a_failed_document_leaves_no_rows_and_an_indexed_one_survives_a_failed_rewrite(grpc, index):
    grpc.ingest(b"A short note that is indexed once.", filename="note.txt", index=index)
    with pytest.raises(InvalidInputError, match="corrupt or truncated PDF"):
        grpc.ingest(b"%PDF-1.7 truncated", filename="broken.pdf", index=index)

    def cancel_after_first_batch(progress):
        if progress.chunks_done and progress.percent < 100:
            raise CancelledError("cancelled by the user")

    document = make_pdf(30)
    with pytest.raises(CancelledError):
        grpc.ingest(document, {"embed_batch": 4}, on_progress=cancel_after_first_batch, filename="long.pdf", index=index)
    assert {d["source"] for d in index.documents()} == {"note.txt"}
    complete = grpc.ingest(document, {"embed_batch": 4}, filename="long.pdf", index=index).summary["index"]["rows"]
    with pytest.raises(CancelledError):
        grpc.ingest(document, {"embed_batch": 4}, on_progress=cancel_after_first_batch, filename="long.pdf", index=index)
    assert rows_of(index, "long.pdf") == complete  # the failed rewrite kept the complete copy


def test_search_rejects_bad_arguments_before_any_call(grpc, index):
    for query, top_k, message in (("", 5, "query is empty"), ("   ", 5, "query is empty"),
                                  ("q", 0, r"top_k must be an integer in \[1, 1000\]"), ("q", 1001, "top_k"),
                                  ("q", True, "top_k")):
        with pytest.raises(InvalidInputError, match=message):
            grpc.search(query, index=index, top_k=top_k)
