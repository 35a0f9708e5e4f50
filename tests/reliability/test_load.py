"""Load: a thousand mixed embed and ingest requests from 32 clients over HTTP and gRPC at once.

Every response must belong to its own request (sampled answers recomputed in-process), nothing
may fail, the server must stay ready throughout, and memory must stay bounded. ``ingest`` queues 16
documents and 32 clients may all be ingesting at once, so a full queue's 503 is sent again after a
backoff, as the SDK does (counted in the report; the overload tests check the refusal itself).
``make soak`` runs twenty times as many requests (TRITON_INGEST_SOAK=1)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from support.clients import PROTOCOLS, embed_with, ingest_with, new_client
from support.load import (QueueFullRetries, ReadinessProbe, embed_texts, ingest_document, percentiles, timed,
                          tree_rss_mb, write_report)
from triton_ingest.models.embedding import OnnxEmbedder
from triton_ingest.models.tokenization import TextTokenizer

pytestmark = pytest.mark.integration
SCALE = 20 if "TRITON_INGEST_SOAK" in os.environ else 1  # make soak: 20,000 embed and 2,000 ingest requests
EMBED_REQUESTS, INGEST_REQUESTS, CLIENTS = 1000 * SCALE, 100 * SCALE, 32


def workload(seed: int = 2026) -> list[tuple]:
    """(kind, index, protocol, payload): embed and ingest interleaved, protocols alternating."""
    rng = np.random.default_rng(seed)
    items = [("embed", i, PROTOCOLS[i % 2], embed_texts(i, rng)) for i in range(EMBED_REQUESTS)]
    for i in range(INGEST_REQUESTS):
        items.insert(i * (EMBED_REQUESTS // INGEST_REQUESTS) + i, ("ingest", i, PROTOCOLS[(i + 1) % 2],
                                                                 ingest_document(i, rng)))
    return items


def test_mixed_load_from_32_clients_loses_and_mixes_up_nothing(server, onnx_path, tokenizer_path):
    items = workload()
    local, retried = threading.local(), QueueFullRetries()

    def send(item):
        kind, index, protocol, payload = item
        if not hasattr(local, "clients"):
            local.clients = {p: new_client(server, p) for p in PROTOCOLS}
        client = local.clients[protocol]
        if kind == "embed":
            return item, *timed(retried, embed_with, client, protocol, payload)
        name, document = payload
        return item, *timed(retried, ingest_with, client, protocol, document, name)

    with ThreadPoolExecutor(CLIENTS) as pool:  # warm-up: ORT arenas and stubs reach steady size
        list(pool.map(send, items[:64]))
    rss_before = tree_rss_mb(server.process.pid)
    with ReadinessProbe(server.http_url) as probe, ThreadPoolExecutor(CLIENTS) as pool:
        results, seconds = timed(lambda: list(pool.map(send, items)))
    rss_after = tree_rss_mb(server.process.pid)

    embedder, tokenizer = OnnxEmbedder(onnx_path), TextTokenizer(tokenizer_path)
    latencies = {"embed": [], "ingest": []}
    for (kind, index, protocol, payload), result, latency in results:
        latencies[kind].append(latency)
        if kind == "embed":
            assert result.shape == (len(payload), 384)
            if index % 20 == 0:  # recompute a sample in-process: each answer is its own request's
                np.testing.assert_allclose(result, embedder.embed(*tokenizer.encode(payload)), atol=1e-4)
        else:
            name, _ = payload
            assert result["summary"]["source"] == name
            assert f"document {index} marker" in result["chunks"][0]["text"]
            assert result["embeddings"].shape == (len(result["chunks"]), 384) and result["chunks"]
            if index % 10 == 0:
                texts = [c["text"] for c in result["chunks"]]
                np.testing.assert_allclose(result["embeddings"], embedder.embed(*tokenizer.encode(texts)), atol=1e-4)
    assert probe.checks > 0 and probe.failures == []
    assert rss_after < rss_before * 1.25 + 100, (rss_before, rss_after)  # bounded: no growth per request
    write_report(f"load-{server.kind}", {
        "deployment": server.kind, "clients": CLIENTS, "embed_requests": EMBED_REQUESTS,
        "ingest_requests": INGEST_REQUESTS, "texts": sum(len(p) for k, _, _, p in items if k == "embed"),
        "errors": 0, "wrong_results": 0, "queue_full_retries": retried.count, "readiness_checks": probe.checks,
        "readiness_failures": 0,
        "seconds": round(seconds, 1), "embed_latency": percentiles(latencies["embed"]),
        "ingest_latency": percentiles(latencies["ingest"]), "rss_mb_before": rss_before, "rss_mb_after": rss_after,
    })
