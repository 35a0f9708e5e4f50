"""Jobs in Redis: a Stream read by one consumer group, so any number of gateways and workers share
them.

Keys (``<prefix>`` is ``triton-ingest``):
- ``<prefix>:queue``, a Stream of ``{job: <id>}`` entries; group ``workers``. An entry stays in the
  group's pending list while a worker runs it, and is acknowledged and deleted when the job ends,
  so ``XLEN`` counts unfinished jobs.
- ``<prefix>:job:<id>``, a hash: ``filename``, ``options``, ``path``, ``state``, ``progress``,
  ``document`` (the bytes, until the job ends). Written with its entry in one ``MULTI``.
- ``<prefix>:result:<id>``, the finished item, set once (``NX``) with the job TTL (``EX``).
  Embeddings are kept as float32 bytes, not JSON numbers: 1,536 bytes per 384-d chunk instead of
  about 4,200; ``fetch_job`` writes them out as JSON.

A running job's worker re-claims its entry (``XCLAIM … JUSTID``, which does not count a delivery)
every third of ``claim_idle``. An entry idle longer than that has lost its worker: the next worker
that looks takes it over (``XAUTOCLAIM``). After ``max_deliveries`` deliveries the job fails with
reason ``worker_lost`` instead of running again. A stopping worker hands its jobs back as new
entries (their delivery count starts again). Submits are as durable as the server's
``appendfsync`` makes them: ``always`` loses nothing acknowledged.
"""

from __future__ import annotations

import json
import math
import struct
import time

import numpy as np
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .store import (WORKER_LOST, Claim, JobStore, NewJob, QueueFull, Stats, as_json, failed_item, is_job_id, new_id,
                    not_found_item, pending_item, with_embeddings)

GROUP = "workers"
COMPACT = b"TIJ1"  # a stored item: COMPACT, 4-byte header length, JSON header, float32 embeddings


class RedisJobStore(JobStore):
    def __init__(self, url: str, ttl: float, claim_idle: float = 60.0, max_deliveries: int = 3,
                 prefix: str = "triton-ingest"):
        if claim_idle <= 0 or max_deliveries < 1:
            raise ValueError("claim_idle must be positive and max_deliveries at least 1")
        self.url, self.ttl, self.claim_idle, self.max_deliveries = url, ttl, claim_idle, max_deliveries
        self.stream, self.prefix = f"{prefix}:queue", prefix
        self.beats: dict[str, float] = {}  # job id -> when its entry was last re-claimed

    def _job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def _result(self, job_id: str) -> str:
        return f"{self.prefix}:result:{job_id}"

    async def open(self) -> None:
        # a restarted Redis: pooled connections are stale; each call reconnects, retrying for about 3 s
        retry = Retry(ExponentialBackoff(cap=1.0, base=0.1), retries=6)
        self.redis = aioredis.from_url(self.url, retry=retry, retry_on_error=[RedisConnectionError, RedisTimeoutError],
                                       health_check_interval=30)
        await self._create_group()

    async def _create_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def close(self) -> None:
        await self.redis.aclose()

    async def unfinished(self) -> int:
        return await self.redis.xlen(self.stream)

    async def submit(self, jobs: list[NewJob], max_unfinished: int) -> list[str]:
        unfinished = await self.unfinished()  # replicas may each pass this at once: the limit is soft by a submit
        if unfinished + len(jobs) > max_unfinished:
            raise QueueFull(unfinished)
        ids = [new_id() for _ in jobs]
        async with self.redis.pipeline(transaction=True) as tx:
            for job_id, job in zip(ids, jobs):
                tx.hset(self._job(job_id), mapping={
                    "filename": job.filename, "options": json.dumps(job.options), "path": job.path or "",
                    "state": "queued", "progress": 0, "document": job.data if job.data is not None else b""})
                tx.xadd(self.stream, {"job": job_id})
            await tx.execute()
        return ids

    async def item(self, job_id: str) -> bytes:
        if not is_job_id(job_id):
            return not_found_item(job_id, self.ttl)
        async with self.redis.pipeline(transaction=True) as tx:  # one moment: the hash goes after the result comes
            tx.hmget(self._job(job_id), "filename", "progress")
            tx.get(self._result(job_id))
            (filename, progress), stored = await tx.execute()
        if filename is not None:
            return pending_item(job_id, filename.decode(), float(progress or 0))
        return expand(stored) if stored is not None else not_found_item(job_id, self.ttl)

    async def claim(self, consumer: str) -> Claim:
        while True:
            try:
                entry = await self._reclaim(consumer) or await self._read(consumer)
            except ResponseError as exc:  # the stream or group went away (a Redis emptied under us)
                if "NOGROUP" not in str(exc):
                    raise
                await self._create_group()  # from entry 0: entries added since are still delivered
                continue
            claim = await self._load(entry, consumer) if entry else None
            if claim is not None:
                return claim

    async def _read(self, consumer: str) -> tuple[bytes, bytes] | None:
        answer = await self.redis.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=1, block=1000)
        for _stream, entries in answer or ():
            for entry_id, fields in entries:
                return entry_id, fields[b"job"]
        return None

    async def _reclaim(self, consumer: str) -> tuple[bytes, bytes] | None:
        """An entry whose worker went quiet for ``claim_idle``, now this consumer's."""
        _next, entries, *_ = await self.redis.xautoclaim(self.stream, GROUP, consumer,
                                                         int(self.claim_idle * 1000), count=1)
        for entry_id, fields in entries:
            if fields:  # None: deleted meanwhile
                return entry_id, fields[b"job"]
        return None

    async def _load(self, entry: tuple[bytes, bytes], consumer: str) -> Claim | None:
        entry_id, raw_id = entry
        job_id = raw_id.decode()
        [pending] = await self.redis.xpending_range(self.stream, GROUP, entry_id, entry_id, 1) or [None]
        delivery = pending["times_delivered"] if pending else 1
        meta = await self.redis.hgetall(self._job(job_id))
        if not meta:  # finished, by a worker presumed dead
            await self._end(job_id, entry_id)
            return None
        data = None if meta[b"path"] else meta[b"document"]
        if meta.get(b"document_of") and not meta[b"path"]:  # a sub-job reads its parent's (None once it ended)
            data = await self.redis.hget(self._job(meta[b"document_of"].decode()), "document")
        claim = Claim(job_id, meta[b"filename"].decode(), json.loads(meta[b"options"]),
                      meta[b"path"].decode() or None, data, delivery, worker=consumer,
                      submitted=entry_time(entry_id), token=entry_id,
                      children=json.loads(meta[b"children"]) if meta.get(b"children") else None)
        if delivery > self.max_deliveries:
            message = (f"the job was taken by {delivery - 1} workers that each stopped before finishing it "
                       f"(after {self.claim_idle:g} s without a sign of life); submit it again")
            await self.finish(claim, failed_item(job_id, claim.filename, WORKER_LOST, message))
            return None
        await self.redis.hset(self._job(job_id), mapping={"state": "running", "progress": 0, "worker": consumer})
        self.beats[job_id] = time.monotonic()
        return claim

    async def report(self, claim: Claim) -> None:
        await self.redis.hset(self._job(claim.job_id), "progress", round(claim.progress, 1))
        if time.monotonic() - self.beats.get(claim.job_id, 0.0) >= self.claim_idle / 3:
            await self.redis.xclaim(self.stream, GROUP, claim.worker, 0, [claim.token], justid=True)
            self.beats[claim.job_id] = time.monotonic()

    async def finish(self, claim: Claim, item: dict, embeddings: np.ndarray | None = None) -> None:
        await self.redis.set(self._result(claim.job_id), compact(item, embeddings), nx=True,
                             ex=max(1, math.ceil(self.ttl)))  # a result already there wins
        await self._end(claim.job_id, claim.token)

    async def _end(self, job_id: str, entry_id: bytes) -> None:
        self.beats.pop(job_id, None)
        async with self.redis.pipeline(transaction=True) as tx:
            tx.delete(self._job(job_id))
            tx.xack(self.stream, GROUP, entry_id)
            tx.xdel(self.stream, entry_id)
            await tx.execute()

    async def submit_children(self, parent: Claim, jobs: list[NewJob]) -> list[str]:
        ids = [new_id() for _ in jobs]
        async with self.redis.pipeline(transaction=True) as tx:
            for job_id, job in zip(ids, jobs):
                tx.hset(self._job(job_id), mapping={
                    "filename": job.filename, "options": json.dumps(job.options), "path": parent.path or "",
                    "state": "queued", "progress": 0, "document": b"", "document_of": parent.job_id})
                tx.xadd(self.stream, {"job": job_id})
            tx.hset(self._job(parent.job_id), "children", json.dumps(ids))
            await tx.execute()
        parent.children = ids
        return ids

    async def discard(self, job_ids: list[str]) -> None:
        if job_ids:
            await self.redis.delete(*(self._result(i) for i in job_ids))

    async def stats(self) -> Stats:
        async with self.redis.pipeline(transaction=True) as tx:
            tx.xlen(self.stream)
            tx.xpending(self.stream, GROUP)
            tx.xrange(self.stream, count=1)
            unfinished, pending, first = await tx.execute()
        running = pending["pending"]
        oldest = time.time() - entry_time(first[0][0]) if first else 0.0
        return Stats(unfinished - running, running, max(0.0, oldest))

    async def hand_back(self, claim: Claim) -> None:
        self.beats.pop(claim.job_id, None)
        async with self.redis.pipeline(transaction=True) as tx:
            tx.hset(self._job(claim.job_id), mapping={"state": "queued", "progress": 0})
            tx.xadd(self.stream, {"job": claim.job_id})
            tx.xack(self.stream, GROUP, claim.token)
            tx.xdel(self.stream, claim.token)
            await tx.execute()


def entry_time(entry_id: bytes) -> float:
    """When a stream entry was added: its id is ``<unix ms>-<sequence>``."""
    return int(entry_id.split(b"-")[0]) / 1000


def compact(item: dict, embeddings: np.ndarray | None) -> bytes:
    """``item`` as stored: JSON without its embeddings, then the embeddings as float32 bytes."""
    if embeddings is None:
        return as_json(item)
    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    header = as_json({**item, "embedding_shape": list(vectors.shape)})
    return COMPACT + struct.pack(">I", len(header)) + header + vectors.tobytes()


def expand(stored: bytes) -> bytes:
    """The ``fetch_job`` item a :func:`compact` value stands for."""
    if not stored.startswith(COMPACT):
        return stored
    (length,) = struct.unpack(">I", stored[4:8])
    item = json.loads(stored[8:8 + length])
    shape = item.pop("embedding_shape")
    vectors = np.frombuffer(stored[8 + length:], dtype=np.float32).reshape(shape)
    return as_json(with_embeddings(item, vectors))
