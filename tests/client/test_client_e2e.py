"""The client SDK against the real tritonserver, over HTTP and gRPC."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from triton_ingest_client import (
    Client,
    InvalidInputError,
    NotFoundError,
    TritonIngestClientError,
    UnavailableError,
)
from triton_ingest_client._retry import RetryPolicy

from support.clients import cosines
from support.documents import make_pdf
from triton_ingest.serving.server import TritonServer, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def sdk(server, protocol):
    url = server.http_url if protocol == "http" else server.grpc_url
    with Client(url, protocol) as client:
        yield client


def test_http_and_grpc_give_the_same_results(server):
    pdf = make_pdf(5)
    with Client(server.http_url, "http") as http, Client(server.grpc_url, "grpc") as grpc:
        np.testing.assert_allclose(http.embed(["same text", "ünïcödé"]), grpc.embed(["same text", "ünïcödé"]), atol=1e-6)
        a, b = http.ingest(pdf), grpc.ingest(pdf)
        assert a.chunks == b.chunks and a.summary["chunks"] == b.summary["chunks"]
        np.testing.assert_allclose(a.embeddings, b.embeddings, atol=1e-6)


def test_embed_matches_sentence_transformers(sdk, reference_model):
    texts = ["hello world", "ünïcödé naïve café", "Triton " * 400, ""]  # the third is truncated at 256 tokens
    vectors = sdk.embed(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert cosines(vectors, reference_model.encode(texts)).min() >= 0.9999


def test_ingest_reports_progress_through_a_local_progress_dir(sdk):
    seen = []
    result = sdk.ingest(make_pdf(40), on_progress=seen.append)
    assert seen and seen[-1].percent == 100 and seen[-1].chunks_done == result.summary["chunks"]
    assert [p.percent for p in seen] == sorted(p.percent for p in seen)


def test_ingest_stream_over_grpc_equals_ingest(server):
    with Client(server.grpc_url, "grpc") as client:
        pdf, seen = make_pdf(20), []
        streamed, whole = client.ingest(pdf, {"embed_batch": 4}, on_progress=seen.append, stream=True), client.ingest(pdf)
    assert streamed.chunks == whole.chunks and len(seen) >= 3 and seen[-1].percent == 100
    np.testing.assert_allclose(streamed.embeddings, whole.embeddings, atol=2e-5)


def test_batch_with_a_corrupt_document_reports_it_and_keeps_the_others(sdk, tmp_path):
    good = tmp_path / "good.pdf"
    good.write_bytes(make_pdf(3))
    ids = sdk.submit([str(good), {"data": b"%PDF-1.4 corrupt", "filename": "bad.pdf"},
                      {"data": "plain text job", "filename": "t.txt", "options": {"chunk_size": 32, "chunk_overlap": 4}},
                      str(tmp_path / "missing.pdf")])
    assert len(set(ids)) == 4 and all(len(i) == 36 for i in ids)
    results = sdk.fetch(ids, timeout=120)
    assert [r.ok for r in results] == [True, False, True, False]
    assert results[0].result.summary["pages"] == 3 and results[0].source == str(good)
    assert isinstance(results[1].error, InvalidInputError) and "corrupt or truncated PDF" in str(results[1].error)
    assert isinstance(results[3].error, InvalidInputError) and "cannot read" in str(results[3].error)
    assert isinstance(sdk.fetch(["f" * 36])[0].error, NotFoundError)


def test_bad_input_raises_the_same_typed_error_on_both_protocols(sdk):
    with pytest.raises(InvalidInputError, match="OPTIONS has unknown key"):
        sdk.ingest(b"text", {"nope": 1})


def test_a_streamed_ingest_fails_with_the_same_typed_error(server):
    """The stream asks for gRPC status codes (``triton_grpc_error``), so bad input is INVALID_ARGUMENT
    there too, not an untyped message; the next stream on the same client works."""
    with Client(server.grpc_url, "grpc") as client:
        with pytest.raises(InvalidInputError, match="corrupt or truncated PDF"):
            client.ingest(b"%PDF-1.5 broken", stream=True)
        assert client.ingest(b"Fine text.", stream=True).summary["chunks"] == 1


def test_health_and_wait_ready(sdk):
    health = sdk.health()
    assert health["live"] and health["ready"] and health["models"] == {"embed": True, "ingest": True}
    sdk.wait_ready(timeout=5)
    down = Client(f"localhost:{free_port()}", retries=0)
    assert down.health()["ready"] is False
    with pytest.raises(UnavailableError):
        down.wait_ready(timeout=1)


def retries_covering(seconds: float, policy: RetryPolicy = RetryPolicy()) -> int:
    """The fewest retries whose shortest possible backoff (jitter at its lowest) lasts ``seconds``."""
    retries, slept = 0, 0.0
    while slept < seconds:
        slept += min(policy.cap, policy.base * 2**retries) * 0.5
        retries += 1
    return retries


@pytest.mark.parametrize("protocol_", ["http", "grpc"])
def test_retry_succeeds_across_a_server_restart(tmp_path, protocol_):
    server = TritonServer.on_free_ports(work_dir=tmp_path, exit_timeout=3)
    started = time.monotonic()
    server.start()
    startup = time.monotonic() - started  # the budget scales with this machine's start-up time
    url = server.http_url if protocol_ == "http" else server.grpc_url
    client = Client(url, protocol_, retries=retries_covering(30 + 3 * startup))
    retried, drop_transport = threading.Event(), client._drop_transport

    def on_retry() -> None:  # the client met the stopped server and backs off: start it again now
        retried.set()
        drop_transport()

    client._drop_transport = on_retry
    restart = threading.Thread(target=lambda: retried.wait(60) and server.start())
    try:
        reference = client.embed(["during the restart"])
        server.stop()
        restart.start()
        np.testing.assert_allclose(client.embed(["during the restart"]), reference, atol=1e-6)  # retried until back
        assert retried.is_set()
        restart.join()
    finally:
        client.close()
        server.stop()


def test_http_to_a_grpc_port_says_so(server):
    with Client(server.grpc_url, "http", retries=0) as client:
        with pytest.raises(TritonIngestClientError, match="did not answer in HTTP .* add --protocol grpc"):
            client.embed(["x"])
