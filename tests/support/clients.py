"""tritonclient helpers for the integration tests: tensors, embed/ingest calls, concurrency."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from triton_ingest.contracts import EMBED, INGEST, OCR

PROTOCOLS = ("http", "grpc")
INVALID_ARG = {"http": "400", "grpc": "StatusCode.INVALID_ARGUMENT"}
RETRYABLE = {"http": "503", "grpc": "StatusCode.UNAVAILABLE"}


TRITON_ONLY = pytest.mark.parametrize("server", ["triton"], indirect=True)
"""For tests of what is the same in both deployments by construction (client-side work such as the
index): run them against tritonserver only, not once per deployment."""


def only_on_triton(server, why: str) -> None:
    """Skip, with the reason, a test of something only the model-repository deployment has."""
    if server.kind != "triton":
        pytest.skip(f"not in the PyTriton deployment: {why}")


def client_module(protocol: str):
    return httpclient if protocol == "http" else grpcclient


def text_input(protocol: str, rows: list, name: str = "TEXT", dtype: str = "BYTES"):
    """A [len(rows), 1] input tensor for `embed`; str rows are UTF-8 encoded, bytes sent as-is."""
    data = np.array([[r.encode() if isinstance(r, str) else r] for r in rows], dtype=object)
    tensor = client_module(protocol).InferInput(name, list(data.shape), dtype)
    tensor.set_data_from_numpy(data)
    return tensor


HTTP_TIMEOUT = 600.0
"""Seconds an HTTP client waits for an answer. tritonclient's default of 60 is shorter than a request
can queue under the load tests on a busy 2-core machine (its gRPC client has no limit); latency is
measured and reported there, never a failure."""


def new_client(server, protocol: str):
    """A fresh client (tritonclient.http clients must not be shared across threads)."""
    if protocol == "http":
        return httpclient.InferenceServerClient(server.http_url, network_timeout=HTTP_TIMEOUT)
    return grpcclient.InferenceServerClient(server.grpc_url)


def run_concurrently(server, protocol: str, fn, items: list, workers: int = 8) -> list:
    """``[fn(client, item) for item in items]`` from ``workers`` threads, one client each."""
    local = threading.local()
    made = []

    def call(item):
        if not hasattr(local, "client"):
            local.client = new_client(server, protocol)
            made.append(local.client)
        return fn(local.client, item)

    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(call, items))
    finally:
        for client in made:
            client.close()


def embed_with(client, protocol: str, texts: list, model: str = EMBED.name) -> np.ndarray:
    """Embed texts with the `embed` ensemble (or another embed model) through one client."""
    return client.infer(model, [text_input(protocol, texts)]).as_numpy("EMBEDDING")


def embed(clients, protocol: str, texts: list) -> np.ndarray:
    """Embed texts with the `embed` ensemble over the given protocol."""
    return embed_with(clients[protocol], protocol, texts)


def ingest_tensors(protocol: str, document: bytes, filename: str | None = None, options: dict | None = None) -> list:
    """The input tensors of one `ingest` request (absent optional inputs are left out)."""
    module = client_module(protocol)
    values = {"DOCUMENT": document, "FILENAME": filename, "OPTIONS": None if options is None else json.dumps(options)}
    tensors = []
    for name, value in values.items():
        if value is None:
            continue
        tensor = module.InferInput(name, [1], INGEST.input(name).wire_dtype)
        tensor.set_data_from_numpy(np.array([value if isinstance(value, bytes) else value.encode()], dtype=object))
        tensors.append(tensor)
    return tensors


def ingest_with(client, protocol: str, document: bytes, filename: str | None = None,
                options: dict | None = None, headers: dict | None = None) -> dict:
    """Run the `ingest` model; returns chunks (parsed), embeddings and summary."""
    headers = dict(headers) if headers else None  # tritonclient.http adds its own headers to the dict it is given
    result = client.infer(INGEST.name, ingest_tensors(protocol, document, filename, options), headers=headers)
    return {
        "chunks": [json.loads(c) for c in result.as_numpy("CHUNKS")],
        "embeddings": result.as_numpy("EMBEDDINGS"),
        "summary": json.loads(result.as_numpy("SUMMARY")[0]),
    }


def ocr_with(client, protocol: str, image: bytes, options: dict | None = None) -> tuple[list[dict], dict]:
    """Run the `ocr` model; returns its lines and summary (parsed)."""
    result = ocr_result(client, protocol, image, options)
    return result["lines"], result["summary"]


def ocr_result(client, protocol: str, image: bytes, options: dict | None = None) -> dict:
    """Run the `ocr` model; returns its lines, summary and elements (parsed)."""
    module = client_module(protocol)
    tensors = []
    for name, value in (("IMAGE", image), ("OPTIONS", None if options is None else json.dumps(options).encode())):
        if value is not None:
            tensor = module.InferInput(name, [1], OCR.input(name).wire_dtype)
            tensor.set_data_from_numpy(np.array([value], dtype=object))
            tensors.append(tensor)
    result = client.infer(OCR.name, tensors)
    return {"lines": [json.loads(line) for line in result.as_numpy("LINES")],
            "summary": json.loads(result.as_numpy("SUMMARY")[0]),
            "elements": [json.loads(item) for item in result.as_numpy("ELEMENTS")]}


def request_headers(protocol: str, headers: dict | None) -> dict | None:
    """Headers as ``protocol`` sends them: gRPC metadata keys must be lower-case."""
    return {k.lower(): v for k, v in headers.items()} if protocol == "grpc" and headers else headers


def nvcf_request_headers(protocol: str, request_id: str, output_dir) -> dict:
    """NVCF headers as NVCF sends them."""
    return request_headers(protocol, {"NVCF-REQID": request_id, "NVCF-LARGE-OUTPUT-DIR": str(output_dir)})


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity."""
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
