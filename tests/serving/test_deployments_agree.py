"""Plain Triton and the PyTriton app give the same results for the same document."""

from __future__ import annotations

import json

import numpy as np
import pytest
from triton_ingest_client import Client, InvalidInputError

from support.documents import make_pdf
from support.pytriton import PyTritonProcess
from triton_ingest.serving.server import TritonServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def both():
    with TritonServer.on_free_ports() as triton, PyTritonProcess() as pytriton:
        yield {"triton": triton, "pytriton": pytriton}


def shape(value):
    """The structure of a JSON value: keys and types, not contents."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def test_identical_chunks_embeddings_and_progress_files(both, tmp_path):
    pdf, results, progress = make_pdf(12), {}, {}
    for kind, server in both.items():
        out = tmp_path / kind
        with Client(server.grpc_url, "grpc") as client:
            headers = {"nvcf-reqid": "same-id", "nvcf-large-output-dir": str(out)}
            results[kind] = client._transport.infer("ingest", {"DOCUMENT": np.array([pdf], dtype=object)},
                                                    ["CHUNKS", "EMBEDDINGS", "SUMMARY"], headers)
        progress[kind] = json.loads((out / "progress").read_text())
        progress[kind]["lines"] = [json.loads(line) for line in (out / "same-id.jsonl").read_text().splitlines()]
    triton, pytriton = results["triton"], results["pytriton"]
    assert [json.loads(c) for c in triton["CHUNKS"]] == [json.loads(c) for c in pytriton["CHUNKS"]]
    np.testing.assert_allclose(triton["EMBEDDINGS"], pytriton["EMBEDDINGS"], atol=1e-6)
    assert shape(progress["triton"]) == shape(progress["pytriton"])
    assert progress["triton"]["progress"] == progress["pytriton"]["progress"] == 100
    assert len(progress["triton"]["lines"]) == len(progress["pytriton"]["lines"]) == 12


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_errors_are_identical(both, protocol):
    errors = {}
    for kind, server in both.items():
        with Client(server.http_url if protocol == "http" else server.grpc_url, protocol) as client:
            with pytest.raises(InvalidInputError) as caught:
                client.ingest(b"%PDF-1.4 corrupt", {"chunk_size": 64, "chunk_overlap": 8})
            errors[kind] = (caught.value.status, str(caught.value))
    assert errors["triton"] == errors["pytriton"]


def test_pytriton_access_token_protects_statistics_only_when_set():
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    with PyTritonProcess(env={"PYTRITON_ACCESS_TOKEN": "token-for-test"}) as server:
        client = httpclient.InferenceServerClient(server.http_url)
        try:
            with pytest.raises(InferenceServerException, match="triton-access-token"):
                client.get_inference_statistics("embed")
            stats = client.get_inference_statistics("embed", headers={"triton-access-token": "token-for-test"})
            assert stats["model_stats"][0]["name"] == "embed"
            with Client(server.http_url) as sdk:  # inference itself is not restricted
                assert sdk.embed(["still open"]).shape == (1, 384)
        finally:
            client.close()
