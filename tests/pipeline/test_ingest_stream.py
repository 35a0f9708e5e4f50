"""`ingest_stream` (decoupled, gRPC streaming) gives the same chunks and embeddings as `ingest`."""

from __future__ import annotations

import json
import queue

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from support.clients import ingest_with
from support.documents import make_pdf
from triton_ingest.contracts import INGEST_STREAM

pytestmark = pytest.mark.integration


def stream_ingest(server, document: bytes, options: dict | None = None, timeout: float = 120) -> list[dict]:
    """All responses of one `ingest_stream` request, in order, until the final one."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    replies: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: replies.put((result, error)))
    tensors = []
    for name, value in (("DOCUMENT", document), ("OPTIONS", json.dumps(options or {}).encode())):
        tensor = grpcclient.InferInput(name, [1], "BYTES")
        tensor.set_data_from_numpy(np.array([value], dtype=object))
        tensors.append(tensor)
    client.async_stream_infer(INGEST_STREAM.name, tensors)
    responses = []
    try:
        while True:
            result, error = replies.get(timeout=timeout)
            if error is not None:
                responses.append({"error": error})
                return responses
            summary = json.loads(result.as_numpy("SUMMARY")[0])
            responses.append({
                "chunks": [json.loads(c) for c in result.as_numpy("CHUNKS")],
                "embeddings": result.as_numpy("EMBEDDINGS"),
                "summary": summary,
            })
            if summary.get("final"):
                return responses
    finally:
        client.stop_stream()
        client.close()


def test_stream_matches_ingest(server, clients):
    pdf = make_pdf(20)
    options = {"embed_batch": 8}
    whole = ingest_with(clients["grpc"], "grpc", pdf, options=options)
    responses = stream_ingest(server, pdf, options)
    batches, final = responses[:-1], responses[-1]
    assert len(batches) >= 2 and all(len(b["chunks"]) <= 8 for b in batches)
    assert [b["summary"]["chunks_done"] for b in batches] == list(np.cumsum([len(b["chunks"]) for b in batches]))
    assert [c for b in batches for c in b["chunks"]] == whole["chunks"]
    np.testing.assert_allclose(np.vstack([b["embeddings"] for b in batches]), whole["embeddings"], atol=2e-5)
    assert final["chunks"] == [] and final["summary"]["chunks"] == whole["summary"]["chunks"]
    assert final["summary"]["pages"] == 20


def test_stream_reports_bad_input_as_its_error(server):
    responses = stream_ingest(server, b"%PDF-1.5 not a pdf at all")
    assert len(responses) == 1 and "corrupt or truncated PDF" in str(responses[0]["error"])
    assert stream_ingest(server, b"Fine text.")[-1]["summary"]["chunks"] == 1
