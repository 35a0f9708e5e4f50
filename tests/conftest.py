"""Shared fixtures: one real tritonserver per test session, on free ports."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from triton_ingest.artifacts import ONNX_FILE, TOKENIZER_FILE, artifact
from triton_ingest.contracts import EMBED
from triton_ingest.server import TritonServer

PROTOCOLS = ("http", "grpc")


@pytest.fixture(scope="session")
def server():
    """The real tritonserver serving model_repository/ (started once per session)."""
    with TritonServer.on_free_ports() as running:
        yield running


@pytest.fixture(scope="session")
def clients(server):
    """One tritonclient per protocol."""
    made = {
        "http": httpclient.InferenceServerClient(server.http_url, concurrency=16),
        "grpc": grpcclient.InferenceServerClient(server.grpc_url),
    }
    yield made
    for client in made.values():
        client.close()


@pytest.fixture(params=PROTOCOLS)
def protocol(request) -> str:
    return request.param


def client_module(protocol: str):
    return httpclient if protocol == "http" else grpcclient


def text_input(protocol: str, rows: list, name: str = "TEXT", dtype: str = "BYTES"):
    """A [len(rows), 1] input tensor for `embed`; str rows are UTF-8 encoded, bytes sent as-is."""
    data = np.array([[r.encode() if isinstance(r, str) else r] for r in rows], dtype=object)
    tensor = client_module(protocol).InferInput(name, list(data.shape), dtype)
    tensor.set_data_from_numpy(data)
    return tensor


def new_client(server, protocol: str):
    """A fresh client (tritonclient.http clients must not be shared across threads)."""
    url = server.http_url if protocol == "http" else server.grpc_url
    return client_module(protocol).InferenceServerClient(url)


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


def embed_with(client, protocol: str, texts: list) -> np.ndarray:
    """Embed texts with the `embed` ensemble through one client."""
    return client.infer(EMBED.name, [text_input(protocol, texts)]).as_numpy("EMBEDDING")


def embed(clients, protocol: str, texts: list) -> np.ndarray:
    """Embed texts with the `embed` ensemble over the given protocol."""
    return embed_with(clients[protocol], protocol, texts)


@pytest.fixture(scope="session")
def reference_model():
    """sentence-transformers' own all-MiniLM-L6-v2, the ground truth for parity."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    from triton_ingest.export import source_model_dir

    return SentenceTransformer(str(source_model_dir()), device="cpu")


@pytest.fixture(scope="session")
def onnx_path():
    return artifact(ONNX_FILE)


@pytest.fixture(scope="session")
def tokenizer_path():
    return artifact(TOKENIZER_FILE)
