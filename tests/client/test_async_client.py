"""The native asyncio client against the real tritonserver: one event loop, no thread per call."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import psutil
import pytest
from triton_ingest_client import AsyncClient, Client, InvalidInputError, NotFoundError

from support.clients import TRITON_ONLY, cosines
from support.documents import make_pdf
from triton_ingest.serving.server import free_port

pytestmark = pytest.mark.integration
CALLS = 64


def url_of(server, protocol: str) -> str:
    return server.http_url if protocol == "http" else server.grpc_url


def test_async_client_uses_the_same_names(server, reference_model):
    async def run():
        async with AsyncClient(server.grpc_url, "grpc") as client:
            vectors, result = await asyncio.gather(client.embed(["a", "b"]), client.ingest(b"Some text."))
            ids = await client.submit([b"More text.", {"data": b"%PDF-1.4 corrupt", "filename": "bad.pdf"}])
            return vectors, result, await client.fetch([*ids, "f" * 36])

    vectors, result, (job, bad, unknown) = asyncio.run(run())
    assert cosines(vectors, reference_model.encode(["a", "b"])).min() >= 0.9999
    assert result.summary["chunks"] == 1 and result.texts == ["Some text."]
    assert job.ok and job.result.texts == ["More text."]
    assert isinstance(bad.error, InvalidInputError) and "corrupt or truncated PDF" in str(bad.error)
    assert isinstance(unknown.error, NotFoundError)
    assert cosines(result.embeddings, reference_model.encode(["Some text."])).min() >= 0.9999


@TRITON_ONLY
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_64_concurrent_calls_on_one_loop_start_no_threads(server, protocol):
    """64 embed calls in flight at once on one event loop: Python starts no thread at all, and the
    process' OS threads (gRPC's C core has a fixed pool of its own) do not grow with the calls."""
    texts = [[f"call {i} text {j}" for j in range(8)] for i in range(CALLS)]
    process = psutil.Process()

    async def run():
        async with AsyncClient(url_of(server, protocol), protocol) as client:
            await client.embed(["warm the connection up"])
            before = (threading.active_count(), process.num_threads())
            samples = []

            async def sample():
                while True:
                    samples.append((threading.active_count(), process.num_threads()))
                    await asyncio.sleep(0.005)

            sampler = asyncio.create_task(sample())
            results = await asyncio.gather(*(client.embed(batch) for batch in texts))
            sampler.cancel()
            return before, samples, results

    before, samples, results = asyncio.run(run())
    with Client(url_of(server, protocol), protocol) as sync:
        expected = sync.embed([t for batch in texts for t in batch])
    np.testing.assert_allclose(np.vstack(results), expected, atol=1e-6)
    assert len(samples) >= 2
    # at most as many as before: a thread of an earlier test may end meanwhile (a fresh-clone run met it)
    assert max(python for python, _ in samples) <= before[0], "a Python thread was started"
    assert max(native for _, native in samples) <= before[1], (before, max(samples))


@TRITON_ONLY
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_progress_rises_over_both_protocols(server, protocol):
    """gRPC reports progress from ``ingest_stream``'s responses (one per embedded batch: several
    here, whatever the machine's speed), local HTTP from the progress file, polled (a fast machine
    may finish before the second look, so only the order and the end are certain)."""
    pdf, seen = make_pdf(40), []

    async def run():
        async with AsyncClient(url_of(server, protocol), protocol) as client:
            return await client.ingest(pdf, on_progress=seen.append)

    result = asyncio.run(run())
    percents = [p.percent for p in seen]
    batches = -(-result.summary["chunks"] // 16)  # embed_batch 16
    assert len(percents) >= (min(batches, 3) if protocol == "grpc" else 1)
    assert percents == sorted(percents) and percents[-1] == 100
    assert seen[-1].chunks_done == result.summary["chunks"] == len(result.chunks)
    with Client(server.http_url) as sync:
        np.testing.assert_allclose(result.embeddings, sync.ingest(pdf).embeddings, atol=2e-5)


@TRITON_ONLY
def test_errors_are_typed_and_the_loop_goes_on(server):
    async def run():
        async with AsyncClient(server.grpc_url, "grpc", retries=0) as client:
            with pytest.raises(InvalidInputError, match="corrupt or truncated PDF"):
                await client.ingest(b"%PDF-1.5 broken", stream=True)
            with pytest.raises(InvalidInputError, match="OPTIONS has unknown key"):
                await client.ingest(b"text", {"nope": 1})
            fine = await client.ingest(b"Fine text.", stream=True)
        async with AsyncClient(f"localhost:{free_port()}", "http", retries=0) as down:
            health = await down.health()
        return fine, health

    fine, health = asyncio.run(run())
    assert fine.summary["chunks"] == 1
    assert health["ready"] is False and "cannot reach" in health["error"]
