"""The `ingest` BLS model on the real server: formats, chunks, embeddings, NVCF progress."""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import psutil
import pytest

from support.clients import (
    client_module,
    cosines,
    embed,
    embed_with,
    ingest_tensors,
    ingest_with,
    nvcf_request_headers,
    only_on_triton,
    request_headers,
)
from support.documents import make_docx, make_html, make_pdf
from support.waiting import progress_of, wait_until
from triton_ingest.pipeline.documents import open_document

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pdf12():
    return make_pdf(12)


def test_pdf_chunks_cover_the_extracted_text_and_keep_provenance(clients, protocol, pdf12):
    got = ingest_with(clients[protocol], protocol, pdf12, "manual.pdf", {"chunk_size": 64, "chunk_overlap": 8})
    summary, chunks = got["summary"], got["chunks"]
    assert (summary["kind"], summary["pages"], summary["chunks"]) == ("pdf", 12, len(chunks))
    assert set(summary["timings_ms"]) >= {"open_ms", "extract_chunk_ms", "embed_wait_ms", "total_ms"}
    pages = {p.number: p.text for p in open_document(pdf12).pages}
    covered = {n: np.zeros(len(t), bool) for n, t in pages.items()}
    for i, chunk in enumerate(chunks):
        assert chunk["chunk_index"] == i and chunk["source"] == "manual.pdf" and len(chunk["pages"]) == 1
        page = chunk["pages"][0]
        assert pages[page][chunk["char_start"] : chunk["char_end"]] == chunk["text"]
        covered[page][chunk["char_start"] : chunk["char_end"]] = True
    for number, text in pages.items():  # with overlaps removed, the chunks give back the text
        missed = "".join(ch for ch, hit in zip(text, covered[number]) if not hit)
        assert missed.strip() == "", f"page {number} lost {missed!r}"


def test_embeddings_equal_embed_on_the_chunk_texts(clients, protocol, pdf12):
    got = ingest_with(clients[protocol], protocol, pdf12)
    texts = [c["text"] for c in got["chunks"]]
    assert got["embeddings"].shape == (len(texts), 384)
    np.testing.assert_allclose(got["embeddings"], embed(clients, protocol, texts), atol=2e-5)


@pytest.mark.parametrize(
    "document, filename, kind, encoding",
    [
        (make_docx(["Quarterly report.", "Revenue grew in every region."]), "r.docx", "docx", None),
        (make_html("Visible paragraph about Triton."), "page.html", "html", "utf-8"),
        (b"# Guide\n\nInstall it.\n\n## Use\n\n- run\n- test\n", "guide.md", "markdown", "utf-8"),
        ("Café crème, naïve garçon à Paris. ".encode("latin-1") * 4, "notes.txt", "text", "cp1252"),
    ],
)
def test_other_formats(clients, document, filename, kind, encoding):
    got = ingest_with(clients["http"], "http", document, filename)
    assert got["summary"]["kind"] == kind and got["summary"]["encoding"] == encoding
    text = " ".join(c["text"] for c in got["chunks"])
    assert got["chunks"] and "SCRIPT_TEXT" not in text and "\ufffd" not in text
    if kind == "text":
        assert "Café crème" in text


def test_page_and_document_depth(clients, pdf12):
    by_page = ingest_with(clients["grpc"], "grpc", pdf12, options={"chunk_size": 100, "text_depth": "page"})
    whole = ingest_with(clients["grpc"], "grpc", pdf12, options={"chunk_size": 100, "text_depth": "document"})
    assert all(len(c["pages"]) == 1 for c in by_page["chunks"])
    assert any(len(c["pages"]) > 1 for c in whole["chunks"])


def test_a_page_range_gives_the_same_chunks_as_the_whole_document_on_those_pages(clients, protocol, pdf12):
    """What a split job's sub-jobs rely on: pages 5 to 8 alone chunk and embed exactly as they do
    in the whole document (page depth), keep their page numbers, and count 4 pages."""
    options = {"chunk_size": 64, "chunk_overlap": 8}
    whole = ingest_with(clients[protocol], protocol, pdf12, "manual.pdf", options)
    part = ingest_with(clients[protocol], protocol, pdf12, "manual.pdf", {**options, "first_page": 5, "last_page": 8})
    inside = [i for i, c in enumerate(whole["chunks"]) if 5 <= c["pages"][0] <= 8]
    strip = lambda chunk: {k: v for k, v in chunk.items() if k != "chunk_index"}  # noqa: E731
    assert [strip(c) for c in part["chunks"]] == [strip(whole["chunks"][i]) for i in inside]
    np.testing.assert_allclose(part["embeddings"], whole["embeddings"][inside], atol=2e-5)
    assert (part["summary"]["pages"], part["summary"]["page_range"], part["summary"]["document_pages"]) == (4, [5, 8], 12)
    with pytest.raises(Exception, match="OPTIONS.first_page is 13; DOCUMENT has 12 pages"):
        ingest_with(clients[protocol], protocol, pdf12, "manual.pdf", {"first_page": 13})


def test_progress_file_is_monotonic_and_parses_on_every_read(clients, protocol, tmp_path):
    """Four readers poll the progress file every 2 ms while a 150-page PDF is ingested."""
    pdf = make_pdf(150, paragraphs=2)
    headers = nvcf_request_headers(protocol, f"req-{protocol}", tmp_path)
    readers, errors, stop = [[] for _ in range(4)], [], threading.Event()

    def poll(seen: list):
        while not stop.is_set():
            try:
                seen.append(json.loads((tmp_path / "progress").read_text())["progress"])
            except FileNotFoundError:
                pass
            except ValueError as exc:
                errors.append(exc)
            time.sleep(0.002)

    pollers = [threading.Thread(target=poll, args=(seen,)) for seen in readers]
    for poller in pollers:
        poller.start()
    try:
        got = ingest_with(clients[protocol], protocol, pdf, "long.pdf", {"embed_batch": 4, "max_in_flight": 2}, headers)
    finally:
        stop.set()
        for poller in pollers:
            poller.join()
    final = json.loads((tmp_path / "progress").read_text())
    assert not errors
    for seen in readers:
        assert len(seen) > 10 and seen == sorted(seen) and len(set(seen)) > 5
    assert final["progress"] == 100
    assert final["id"] == f"req-{protocol}" and final["partialResponse"]["status"] == "complete"
    lines = (tmp_path / f"req-{protocol}.jsonl").read_text().splitlines()
    assert [json.loads(l)["chunk_index"] for l in lines] == list(range(got["summary"]["chunks"]))
    np.testing.assert_allclose(np.array([json.loads(l)["embedding"] for l in lines]), got["embeddings"], atol=1e-6)
    assert not list(tmp_path.glob("*.partial"))


def written_paths(server) -> dict[str, int]:
    """Files and directories (with mtimes) where the server could write by mistake: its private
    TMPDIR and the working directories of the server and of every process under it (stubs)."""
    root = psutil.Process(server.process.pid)
    found = {}
    for top in {server.tmpdir, *(Path(p.cwd()) for p in [root, *root.children(recursive=True)])}:
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d not in (".venv", ".git", "__pycache__")]
            for name in [*dirs, *files]:
                with contextlib.suppress(FileNotFoundError):  # a file that is gone was not written
                    found[os.path.join(folder, name)] = os.lstat(os.path.join(folder, name)).st_mtime_ns
    return found


@pytest.mark.parametrize("headers", [None, {"NVCF-REQID": "no-output-dir"}], ids=["no-headers", "reqid-only"])
def test_without_an_output_dir_nothing_is_written(server, clients, protocol, headers):
    headers = request_headers(protocol, headers)
    before = written_paths(server)
    assert ingest_with(clients[protocol], protocol, b"Just a short text.", "a.txt", headers=headers)["chunks"]
    after = written_paths(server)
    logs = {str(server.log_path)}  # the server's own log may grow
    changed = {path for path, mtime in after.items() if before.get(path) != mtime} - logs
    assert not changed, sorted(changed)


def test_concurrent_ingests_get_their_own_results(server, clients):
    from support.clients import run_concurrently

    docs = [f"Document {i} talks about subject {i}. ".encode() * (5 + i) for i in range(6)]
    results = run_concurrently(server, "grpc", lambda c, d: ingest_with(c, "grpc", d, "x.txt"), docs, 6)
    for i, got in enumerate(results):
        assert got["chunks"][0]["text"].startswith(f"Document {i} talks about subject {i}.")
        np.testing.assert_allclose(got["embeddings"], embed(clients, "grpc", [c["text"] for c in got["chunks"]]), atol=2e-5)


def scrape(server, family: str) -> dict[str, float]:
    """``{labels: value}`` of one metric family from Triton's metrics port."""
    with urllib.request.urlopen(f"http://localhost:{server.metrics_port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {line.split("{", 1)[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith(family + "{")}


def test_ingest_metrics_are_served_next_to_tritons(server, clients):
    only_on_triton(server, "pb_utils.MetricFamily exists only inside Triton's Python backend")
    def value(family, **labels):
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return sum(v for k, v in scrape(server, family).items() if all(p in k.split(",") for p in wanted.split(",")))

    before = {f: value(f"triton_ingest_{f}_total", model="ingest", kind="pdf") for f in ("documents", "pages", "chunks")}
    failures = value("triton_ingest_failures_total", model="ingest", reason="corrupt_pdf")
    got = ingest_with(clients["http"], "http", make_pdf(3))
    with pytest.raises(Exception):
        ingest_with(clients["http"], "http", b"%PDF-1.4 broken")
    assert value("triton_ingest_documents_total", model="ingest", kind="pdf") == before["documents"] + 1
    assert value("triton_ingest_pages_total", model="ingest", kind="pdf") == before["pages"] + 3
    assert value("triton_ingest_chunks_total", model="ingest", kind="pdf") == before["chunks"] + len(got["chunks"])
    assert value("triton_ingest_failures_total", model="ingest", reason="corrupt_pdf") == failures + 1
    assert value("triton_ingest_stage_seconds_total", model="ingest", stage="embed_wait") > 0
    assert "nv_inference_count" in urllib.request.urlopen(f"http://localhost:{server.metrics_port}/metrics").read().decode()


def test_document_is_read_from_the_nvcf_asset_dir(clients, protocol, tmp_path):
    (tmp_path / "asset-1234").write_bytes(make_pdf(2))
    headers = request_headers(protocol, {"NVCF-ASSET-DIR": str(tmp_path)})
    got = ingest_with(clients[protocol], protocol, b"", None, {"asset": "asset-1234"}, headers)
    assert got["summary"]["pages"] == 2 and got["chunks"][0]["source"] == "asset-1234"
    for bad, message in (("../etc/passwd", "plain asset name"), ("missing", "is not in NVCF-ASSET-DIR")):
        with pytest.raises(Exception, match=re.escape(message)):
            ingest_with(clients[protocol], protocol, b"", None, {"asset": bad}, headers)
    with pytest.raises(Exception, match="no NVCF-ASSET-DIR header"):
        ingest_with(clients[protocol], protocol, b"", None, {"asset": "asset-1234"})


def test_cancelled_request_stops_and_leaves_nothing_complete(server, tmp_path):
    only_on_triton(server, "PyTriton 0.7 does not pass request cancellation to callables")
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(server.grpc_url)
    tensors = ingest_tensors("grpc", make_pdf(300, paragraphs=1), options={"embed_batch": 2, "max_in_flight": 1})
    call = client.async_infer("ingest", tensors, callback=lambda result, error: None,
                              headers=nvcf_request_headers("grpc", "cancel-me", tmp_path))
    wait_until(lambda: progress_of(tmp_path) >= 0, "the document to be in flight")
    call.cancel()

    def failed() -> bool:  # the server notices at its next batch and fails the request
        return json.loads((tmp_path / "progress").read_text())["partialResponse"].get("status") == "failed"

    wait_until(failed, "the server to give the cancelled request up")
    client.close()
    body = json.loads((tmp_path / "progress").read_text())
    assert body["partialResponse"] == {"status": "failed", "error": "the request was cancelled"}
    assert body["progress"] < 100 and sorted(p.name for p in tmp_path.iterdir()) == ["progress"]


def test_embed_model_int8_embeds_the_chunks_and_is_recorded_everywhere(clients, protocol, tmp_path):
    """OPTIONS.embed_model picks the served ensemble: the vectors are embed_int8's own, and the
    chunks, the summary, the progress file and the JSONL result name the model."""
    pdf = make_pdf(6)
    headers = nvcf_request_headers(protocol, f"int8-{protocol}", tmp_path)
    got = ingest_with(clients[protocol], protocol, pdf, "int8.pdf", {"embed_model": "embed_int8", "embed_batch": 4},
                      headers)
    texts = [c["text"] for c in got["chunks"]]
    # embed_int8's own vectors, whatever else was in their batches (each text runs alone in int8)
    np.testing.assert_allclose(got["embeddings"], embed_with(clients[protocol], protocol, texts, "embed_int8"),
                               atol=1e-6)
    assert {c["embed_model"] for c in got["chunks"]} == {"embed_int8"} and got["summary"]["embed_model"] == "embed_int8"
    progress = json.loads((tmp_path / "progress").read_text())["partialResponse"]
    assert progress["summary"]["embed_model"] == "embed_int8"
    lines = (tmp_path / progress["result_file"]).read_text().splitlines()
    assert {json.loads(line)["embed_model"] for line in lines} == {"embed_int8"}
    fp32 = ingest_with(clients[protocol], protocol, pdf, "int8.pdf", {"embed_batch": 4})
    assert {c["embed_model"] for c in fp32["chunks"]} == {"embed"} and [c["text"] for c in fp32["chunks"]] == texts
    assert cosines(got["embeddings"], fp32["embeddings"]).min() >= 0.98
    assert np.abs(got["embeddings"] - fp32["embeddings"]).max() > 1e-3  # another model did embed them


def test_an_unknown_embed_model_is_invalid_arg_naming_the_choices(clients, protocol):
    with pytest.raises(client_module(protocol).InferenceServerException, match="embed_model") as caught:
        ingest_with(clients[protocol], protocol, b"Some text.", "t.txt", {"embed_model": "embedder"})
    assert 'must be "embed" or "embed_int8"' in str(caught.value) and ("400" in str(caught.value.status())
                                                             or "INVALID_ARGUMENT" in str(caught.value.status()))
