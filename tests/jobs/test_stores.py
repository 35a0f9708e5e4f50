"""Both job stores keep one contract, tested the same way: the disk store, and the Redis store on a
real ``redis-server``. Then what only a shared store does: take over a dead worker's job, give up
after ``max_deliveries`` with ``worker_lost``, take jobs back from a stopping worker, survive a
Redis restart, and keep embeddings compactly."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from support.redis_server import RedisServer
from triton_ingest.jobs import open_store
from triton_ingest.jobs.redis_store import RedisJobStore, compact
from triton_ingest.jobs.store import NewJob, QueueFull, failed_item


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture(params=["disk", "redis"])
def store_url(request, tmp_path):
    if request.param == "disk":
        return "disk"
    return request.getfixturevalue("redis_server").url


def run(coroutine):
    return asyncio.run(coroutine)


async def opened(url: str, tmp_path, **kwargs):
    store = open_store(url, tmp_path / "gw", ttl=kwargs.pop("ttl", 60.0), **kwargs)
    await store.open()
    return store


def item(raw: bytes) -> dict:
    return json.loads(raw)


def test_a_job_is_pending_then_done_with_its_embeddings_and_ids_never_leak(store_url, tmp_path):
    async def scenario():
        store = await opened(store_url, tmp_path)
        [job_id] = await store.submit([NewJob(b"Some text.", "t.txt", {"chunk_size": 64})], 10)
        assert item(await store.item(job_id)) == {"job_id": job_id, "status": "pending", "progress": 0.0,
                                                  "filename": "t.txt"}
        claim = await store.claim("w1")
        assert (claim.job_id, claim.filename, claim.options) == (job_id, "t.txt", {"chunk_size": 64})
        document = claim.data if claim.data is not None else open(claim.path, "rb").read()
        assert document == b"Some text."
        claim.progress = 42.0
        await store.report(claim)
        assert item(await store.item(job_id))["progress"] == 42.0
        vectors = np.array([[0.25, -0.125000049], [1.0, 0.333333333]], dtype=np.float32)
        done = {"job_id": job_id, "status": "done", "progress": 100, "filename": "t.txt",
                "result": {"summary": {"chunks": 2}, "chunks": [{"text": "a"}, {"text": "b"}]}}
        await store.finish(claim, done, vectors)
        got = item(await store.item(job_id))
        assert got["status"] == "done" and [c["text"] for c in got["result"]["chunks"]] == ["a", "b"]
        assert [c["embedding"] for c in got["result"]["chunks"]] == np.round(vectors.astype(np.float64), 7).tolist()
        for unknown in ("not-a-job", "../" + job_id, "00000000-0000-4000-8000-000000000000"):
            assert item(await store.item(unknown))["status"] == "not_found"
        await store.close()

    run(scenario())


def test_the_unfinished_limit_refuses_a_whole_submit(store_url, tmp_path):
    async def scenario():
        store = await opened(store_url, tmp_path)
        await store.submit([NewJob(b"1", "a", {}), NewJob(b"2", "b", {})], 3)
        with pytest.raises(QueueFull) as refused:
            await store.submit([NewJob(b"3", "c", {}), NewJob(b"4", "d", {})], 3)
        assert refused.value.unfinished == 2
        claim = await store.claim("w1")
        await store.finish(claim, failed_item(claim.job_id, claim.filename, "invalid_input", "bad"))
        assert len(await store.submit([NewJob(b"3", "c", {}), NewJob(b"4", "d", {})], 3)) == 2
        await store.close()

    run(scenario())


def test_a_job_handed_back_runs_again_elsewhere(store_url, tmp_path):
    async def scenario():
        store = await opened(store_url, tmp_path)
        [job_id] = await store.submit([NewJob(b"x", "x.txt", {})], 10)
        claim = await store.claim("stopping-worker")
        await store.hand_back(claim)
        await store.close()
        store = await opened(store_url, tmp_path)  # the disk store runs it after its gateway restarts
        again = await asyncio.wait_for(store.claim("another-worker"), 30)
        assert again.job_id == job_id and item(await store.item(job_id))["status"] == "pending"
        await store.close()

    run(scenario())


def test_a_silent_worker_s_job_is_taken_over_then_fails_as_worker_lost(redis_server, tmp_path):
    async def scenario():
        store = await opened(redis_server.url, tmp_path, claim_idle=0.3, max_deliveries=2)
        [job_id] = await store.submit([NewJob(b"x", "x.txt", {})], 10)
        first = await store.claim("dies-1")  # never reports again
        second = await asyncio.wait_for(store.claim("dies-2"), 30)
        assert (second.job_id, second.delivery) == (job_id, 2) and first.delivery == 1
        waiting = asyncio.create_task(store.claim("survivor"))  # delivery 3 > 2: the job fails instead
        failed = await _until(lambda: _status(store, job_id), "failed")
        assert failed["error"]["reason"] == "worker_lost" and "taken by 2 workers" in failed["error"]["message"]
        assert not waiting.done() and await store.unfinished() == 0
        waiting.cancel()
        await store.close()

    run(scenario())


def test_a_reporting_worker_keeps_its_job_and_the_first_result_wins(redis_server, tmp_path):
    async def scenario():
        store = await opened(redis_server.url, tmp_path, claim_idle=0.6)
        [job_id] = await store.submit([NewJob(b"x", "x.txt", {})], 10)
        alive = await store.claim("alive")
        other = asyncio.create_task(store.claim("other"))
        for _ in range(12):  # 2.4 s, four times the idle time: its reports keep the job
            await store.report(alive)
            await asyncio.sleep(0.2)
        assert not other.done()
        other.cancel()
        await store.finish(alive, failed_item(job_id, "x.txt", "invalid_input", "first"))
        await store.finish(alive, failed_item(job_id, "x.txt", "invalid_input", "second"))
        assert item(await store.item(job_id))["error"]["message"] == "first"
        await store.close()

    run(scenario())


def test_queued_jobs_survive_a_redis_restart(redis_server, tmp_path):
    async def submit():
        store = await opened(redis_server.url, tmp_path)
        ids = await store.submit([NewJob(f"doc {i}".encode(), f"{i}.txt", {}) for i in range(3)], 10)
        await store.close()
        return ids

    async def drain():
        store = await opened(redis_server.url, tmp_path)
        claims = [await asyncio.wait_for(store.claim("w"), 30) for _ in range(3)]
        await store.close()
        return claims

    ids = run(submit())
    redis_server.restart()
    assert [(c.job_id, c.data) for c in run(drain())] == [(i, f"doc {n}".encode()) for n, i in enumerate(ids)]


def test_redis_results_expire_with_the_ttl_and_embeddings_are_stored_compactly(redis_server, tmp_path):
    async def scenario():
        store = await opened(redis_server.url, tmp_path, ttl=1)
        [job_id] = await store.submit([NewJob(b"x", "x.txt", {})], 10)
        claim = await store.claim("w")
        chunks = [{"text": f"chunk {i}"} for i in range(1000)]
        vectors = np.random.default_rng(0).standard_normal((1000, 384)).astype(np.float32)
        done = {"job_id": job_id, "status": "done", "progress": 100, "filename": "x.txt",
                "result": {"summary": {}, "chunks": chunks}}
        await store.finish(claim, done, vectors)
        stored = await store.redis.strlen(store._result(job_id))
        assert 1000 * 384 * 4 < stored < 1000 * 384 * 4 + 40_000  # float32 plus the chunk texts
        assert stored < len(await store.item(job_id)) / 2  # JSON numbers take more than twice that
        ttl = await store.redis.ttl(store._result(job_id))
        assert 0 < ttl <= 1
        assert await _until(lambda: _status(store, job_id), "not_found")
        await store.close()

    run(scenario())


def test_a_compact_value_without_embeddings_is_plain_json():
    assert compact({"status": "failed"}, None) == b'{"status": "failed"}'


def test_bad_store_urls_and_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="expected redis://"):
        open_store("mysql://x", tmp_path, 60)
    with pytest.raises(ValueError, match="claim_idle must be positive"):
        RedisJobStore("redis://localhost:1/0", 60, claim_idle=0)


async def _status(store, job_id: str) -> dict:
    return item(await store.item(job_id))


async def _until(read, status: str, timeout: float = 30.0) -> dict:
    """The item once its status is ``status``: polled, never slept on blindly."""
    async def poll():
        while (got := await read())["status"] != status:
            await asyncio.sleep(0.05)
        return got
    return await asyncio.wait_for(poll(), timeout)


def test_a_redis_emptied_under_a_worker_gets_its_group_back_and_new_jobs_run(redis_server, tmp_path):
    async def scenario():
        store = await opened(redis_server.url, tmp_path)
        await store.redis.flushall()  # the stream and its group are gone; a submit recreates only the stream
        [job_id] = await store.submit([NewJob(b"after", "a.txt", {})], 10)
        claim = await asyncio.wait_for(store.claim("w"), 30)
        assert claim.job_id == job_id and claim.data == b"after"
        await store.close()

    run(scenario())


def test_sub_jobs_read_their_parent_s_document_are_recorded_on_it_and_can_be_discarded(store_url, tmp_path):
    async def scenario():
        store = await opened(store_url, tmp_path)
        await store.submit([NewJob(b"%PDF-1.7 the parent's bytes", "big.pdf", {})], 10)
        parent = await store.claim("w")
        ids = await store.submit_children(parent, [NewJob(None, "big.pdf", {"first_page": f, "last_page": f})
                                                   for f in (1, 2)])
        assert parent.children == ids
        children = [await asyncio.wait_for(store.claim("w"), 30) for _ in ids]
        assert [c.options["first_page"] for c in children] == [1, 2]
        for child in children:
            document = child.data if child.data is not None else open(child.path, "rb").read()
            assert document == b"%PDF-1.7 the parent's bytes"
            await store.finish(child, failed_item(child.job_id, "big.pdf", "invalid_input", "x"))
        await store.hand_back(parent)  # a worker that takes the parent over finds its sub-jobs
        await store.close()
        store = await opened(store_url, tmp_path)
        again = await asyncio.wait_for(store.claim("other"), 30)
        assert again.job_id == parent.job_id and again.children == ids
        await store.discard(ids)
        assert [item(await store.item(i))["status"] for i in ids] == ["not_found"] * 2
        await store.close()

    run(scenario())
