"""Overload: bounded queues reject excess load at once with a retryable status, the SDK retries
it to success, memory stays bounded, and no /dev/shm segment outlives the server."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from triton_ingest_client import Client
from tritonclient.utils import InferenceServerException

from support.clients import PROTOCOLS, RETRYABLE, embed_with, ingest_with, new_client, text_input
from support.load import percentiles, tree_rss_mb, write_report
from support.pytriton import PyTritonProcess
from support.waiting import metric, wait_until
from triton_ingest.serving.repository import load_config, render, write_config
from triton_ingest.serving.server import TritonServer

pytestmark = pytest.mark.integration
TEXTS = [f"overload sentence {i} " + "word " * 60 for i in range(16)]


def tiny_queues(out: Path) -> Path:
    """The cpu repository with queues of 2 (embed models) and 1 (ingest): easy to overflow."""
    render("cpu", out)
    for model, size in (("tokenizer", 2), ("embedder", 2), ("ingest", 1)):
        config = load_config(out / model / "config.pbtxt")
        config.dynamic_batching.default_queue_policy.max_queue_size = size
        write_config(out / model / "config.pbtxt", config, f"test: max_queue_size {size}")
    return out


@pytest.fixture(scope="module")
def small_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("overload")
    with TritonServer.on_free_ports(model_repository=tiny_queues(root / "repo"), work_dir=root) as server:
        server.kind = "triton"
        yield server


def flood(server, protocol: str, requests: int, fn) -> list[tuple[str, float]]:
    def one(_):
        client = new_client(server, protocol)
        started = time.perf_counter()
        try:
            fn(client)
            return "ok", time.perf_counter() - started
        except InferenceServerException as exc:
            return f"{exc.status()}|{exc.message()}", time.perf_counter() - started
        finally:
            client.close()

    with ThreadPoolExecutor(requests) as pool:
        return list(pool.map(one, range(requests)))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_excess_embed_load_is_rejected_fast_with_a_retryable_status(small_server, protocol):
    reference = embed_with(new_client(small_server, protocol), protocol, TEXTS)
    rss_before = tree_rss_mb(small_server.process.pid)
    outcomes = flood(small_server, protocol, 48, lambda c: np.testing.assert_allclose(
        embed_with(c, protocol, TEXTS), reference, atol=1e-5))
    rejected = [(o, s) for o, s in outcomes if o != "ok"]
    assert rejected and len(rejected) < len(outcomes)
    for outcome, _ in rejected:
        status, message = outcome.split("|", 1)
        assert status == RETRYABLE[protocol] and "Exceeds maximum queue size" in message
    assert small_server.is_ready()
    rss_after = tree_rss_mb(small_server.process.pid)
    assert rss_after < rss_before * 1.25 + 100
    write_report(f"overload-embed-{protocol}", {
        "requests": len(outcomes), "rejected": len(rejected), "rejection_latency": percentiles([s for _, s in rejected]),
        "served_latency": percentiles([s for o, s in outcomes if o == "ok"]),
        "rss_mb_before": rss_before, "rss_mb_after": rss_after})


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_sdk_retries_rejections_until_every_request_succeeds(small_server, protocol):
    url = small_server.http_url if protocol == "http" else small_server.grpc_url
    reference = embed_with(new_client(small_server, protocol), protocol, TEXTS)

    def one(_):
        with Client(url, protocol=protocol, retries=10) as client:
            return client.embed(TEXTS)

    with ThreadPoolExecutor(48) as pool:
        results = list(pool.map(one, range(48)))
    for result in results:
        np.testing.assert_allclose(result, reference, atol=1e-5)


def test_excess_ingest_load_is_rejected_and_retried_by_the_sdk(small_server, tmp_path):
    document = ("# Overload\n\n" + "words to embed " * 400).encode()
    outcomes = flood(small_server, "grpc", 12, lambda c: ingest_with(c, "grpc", document, "o.md"))
    rejected = [o for o, _ in outcomes if o != "ok"]
    assert rejected and all(o.startswith(RETRYABLE["grpc"]) for o in rejected)
    path = tmp_path / "o.md"
    path.write_bytes(document)

    def one(_):
        with Client(small_server.grpc_url, protocol="grpc", retries=10) as client:
            return client.ingest(path)

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(one, range(12)))
    assert len({len(r.chunks) for r in results}) == 1 and results[0].chunks


def shm_segments() -> set[str]:
    return {p.name for p in Path("/dev/shm").iterdir()}


@pytest.mark.parametrize("kind", ["triton", "pytriton"])
def test_no_shared_memory_segment_outlives_the_server(kind, tmp_path):
    before = shm_segments()
    server = TritonServer.on_free_ports(work_dir=tmp_path) if kind == "triton" else PyTritonProcess()
    with server:
        for protocol in PROTOCOLS:
            embed_with(new_client(server, protocol), protocol, TEXTS)
            ingest_with(new_client(server, protocol), protocol, b"# shm\n\nsome text to embed", "s.md")
        during = shm_segments() - before
    assert during, "the server created no /dev/shm segment: nothing was checked"
    # PyTriton's helper processes release theirs as they exit, just after the server does
    try:
        wait_until(lambda: not during & shm_segments(), "the server's /dev/shm segments to be released", timeout=60)
    except AssertionError:
        raise AssertionError(f"left behind: {sorted(during & shm_segments())}") from None


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_request_timeout_rejects_a_request_left_waiting_in_the_queue(server, protocol):
    """Per-request timeouts (``timeout`` in µs, allowed by allow_timeout_override) end queue waits.

    Four clients keep sending requests of 64 texts, so the embedder stays busy for as long as the
    test needs (a fixed number of requests can all finish between two samples of the metric). Once
    two wait in its queue (128 rows, the embedder's max_batch_size), a new request cannot join the
    next batch: it waits at least one whole execution of 128 rows of 48 tokens, far longer than its
    100 ms timeout on any CPU."""
    busy_texts = ["word " * 45] * 64
    stop = threading.Event()

    def embedder_queue() -> float:
        return metric(server.metrics_port, "nv_inference_pending_request_count", model="embedder")

    def keep_busy() -> list[tuple]:
        client = new_client(server, "grpc")
        shapes = [embed_with(client, "grpc", busy_texts).shape]
        while not stop.is_set():
            shapes.append(embed_with(client, "grpc", busy_texts).shape)
        return shapes

    with ThreadPoolExecutor(4) as pool:
        busy = [pool.submit(keep_busy) for _ in range(4)]
        try:
            wait_until(lambda: embedder_queue() >= 2, "two requests waiting in the embedder's queue")
            client = new_client(server, protocol)
            with pytest.raises(InferenceServerException, match="Request timeout expired") as caught:
                client.infer("embed", [text_input(protocol, ["waits too long"])], timeout=100_000)
        finally:
            stop.set()
        assert caught.value.status() == RETRYABLE[protocol]
        for future in busy:
            assert set(future.result()) == {(64, 384)}
    assert embed_with(new_client(server, protocol), protocol, ["still served"]).shape == (1, 384)
