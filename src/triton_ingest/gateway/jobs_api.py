"""NV-Ingest's job API in front of Triton: ``POST /v1/submit_job`` and ``GET /v1/fetch_job``.

- ``submit_job``: one job or a list (see :mod:`.jobs`) → ``{"job_ids": [...]}`` (UUID4), answered
  as soon as the jobs are on disk. Over ``max_body_bytes`` or ``max_per_submit`` is a 413; more
  than ``max_queued`` unfinished jobs is a 429 with ``Retry-After``.
- ``fetch_job?job_ids=a,b`` (or ``POST /v1/fetch_job`` with ``{"job_ids": [...]}``, at most
  ``FETCH_BODY_BYTES``, for lists longer than a request line holds: up to ``MAX_FETCH_IDS``):
  ``{"results": [...]}`` in the order asked, one item per distinct id (a repeated id is answered
  once, where it was first asked), with
  ``job_id``, ``status`` (``pending``, ``done``, ``failed``, ``not_found``), ``progress`` (0-100),
  ``filename``, and ``result`` (``summary``, ``chunks`` each with its ``embedding``) or ``error``
  (``reason``: see the client's ``REASONS``, or ``interrupted``; ``message``). One id never fails
  another. Results are streamed from disk, one at a time.
- ``concurrency`` workers run queued jobs in order on Triton's ``ingest_stream`` over gRPC (the
  native ``AsyncClient``, ``triton_timeout`` per call); its responses carry the pages done, as
  ``ingest``'s NVCF progress file does, without a file system shared with Triton. A worker outlives
  any error of one job: when even the store fails, the job's failure is kept in memory for ``ttl``.
- Finished results stay on disk for ``ttl`` seconds, across restarts. At start, a job left
  ``running`` fails with reason ``interrupted``; a job still ``queued`` runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from aiohttp import web
from triton_ingest_client import AsyncClient, IngestResult, TritonIngestClientError
from triton_ingest_client._errors import INTERRUPTED, reason_of

from .jobs import JobRequestError, JobStore, parse_jobs
from .limits import BodyTooLarge, read_body
from .openai_api import OpenAIError

MAX_FETCH_IDS = 1000
FETCH_BODY_BYTES = 128 << 10
"""A POST fetch_job body: room for MAX_FETCH_IDS UUIDs (39 bytes each in a JSON list) and spaces."""
log = logging.getLogger("triton_ingest.gateway.jobs")


@dataclass
class JobLimits:
    concurrency: int = 4
    max_queued: int = 1000
    max_per_submit: int = 256
    max_body_bytes: int = 64 << 20
    ttl: float = 3600.0
    documents_dir: Path | None = None


@dataclass
class ActiveJob:
    filename: str
    progress: float = 0.0


class JobsAPI:
    """The routes, the queue and its workers; jobs run on the Triton gRPC endpoint ``triton_grpc``."""

    def __init__(self, triton_grpc: str, work_dir: Path, limits: JobLimits, triton_timeout: float = 600.0):
        self.triton_grpc, self.limits, self.triton_timeout = triton_grpc, limits, triton_timeout
        self.store = JobStore(work_dir / "jobs")
        self.active: dict[str, ActiveJob] = {}  # queued or running, in this process
        self.unstored: dict[str, tuple[float, bytes]] = {}  # failed jobs the store could not take: (when, item)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/submit_job", self.submit)
        app.router.add_get("/v1/fetch_job", self.fetch)
        app.router.add_post("/v1/fetch_job", self.fetch)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)

    async def _start(self, _app) -> None:
        self.client = AsyncClient(self.triton_grpc, "grpc", timeout=self.triton_timeout)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        for job_id, meta in await asyncio.to_thread(lambda: list(self.store.unfinished())):
            if meta["state"] == "running":
                message = "the gateway stopped while this job was running; submit it again"
                await asyncio.to_thread(self.store.finish, job_id, _failed(job_id, meta["filename"], INTERRUPTED, message))
            else:
                self._enqueue(job_id, meta["filename"])
        self.tasks = [asyncio.create_task(self._work()) for _ in range(max(1, self.limits.concurrency))]
        self.tasks.append(asyncio.create_task(self._expire_loop()))

    async def _stop(self, _app) -> None:  # a running job stays "running" on disk: interrupted at the next start
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.client.close()

    def _enqueue(self, job_id: str, filename: str) -> None:
        self.active[job_id] = ActiveJob(filename)
        self.queue.put_nowait(job_id)

    async def submit(self, request: web.Request) -> web.Response:
        try:
            try:
                body = await read_body(request, self.limits.max_body_bytes, "--max-body-bytes", SUBMIT_HINT)
            except BodyTooLarge as exc:
                raise JobRequestError(str(exc), 413) from None
            try:
                parsed = json.loads(body)
            except ValueError as exc:
                raise JobRequestError(f"the request body is not valid JSON ({exc})") from None
            specs = await asyncio.to_thread(parse_jobs, parsed, self.limits.documents_dir, self.limits.max_per_submit)
        except JobRequestError as exc:
            return OpenAIError(exc.status, str(exc), exc.param).response()
        if len(self.active) + len(specs) > self.limits.max_queued:
            response = OpenAIError(429, f"{len(self.active)} jobs are unfinished and {len(specs)} more would pass "
                                        f"the limit of {self.limits.max_queued} (--max-queued-jobs); retry later").response()
            response.headers["Retry-After"] = "5"
            return response
        ids = [str(uuid.uuid4()) for _ in specs]
        await asyncio.to_thread(lambda: [self.store.create(i, spec) for i, spec in zip(ids, specs)])
        for job_id, spec in zip(ids, specs):
            self._enqueue(job_id, spec.filename)
        return web.json_response({"job_ids": ids})

    async def fetch(self, request: web.Request) -> web.StreamResponse:
        try:
            ids = await _fetch_ids(request)
        except JobRequestError as exc:
            return OpenAIError(exc.status, str(exc), exc.param).response()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"results": [')
        for n, job_id in enumerate(ids):
            await response.write((b", " if n else b"") + await self._item(job_id))
        await response.write(b"]}")
        await response.write_eof()
        return response

    async def _item(self, job_id: str) -> bytes:
        active = self.active.get(job_id)
        if active is not None:  # checked before the result: a job's result is written before it leaves
            return _json({"job_id": job_id, "status": "pending", "progress": round(active.progress, 1),
                          "filename": active.filename})
        if job_id in self.unstored:
            return self.unstored[job_id][1]
        if _is_uuid(job_id):
            stored = await asyncio.to_thread(self.store.result, job_id)
            if stored is not None:
                return stored
        return _json({"job_id": job_id, "status": "not_found", "progress": 0, "filename": "", "error": {
            "reason": "not_found", "message": f"no job {job_id}: never submitted here, or its result expired "
                                              f"after {self.limits.ttl:.0f} s"}})

    async def _work(self) -> None:
        """Run queued jobs one after another; an error of one job never ends the worker."""
        while True:
            job_id = await self.queue.get()
            try:
                await self._run(job_id)
            except Exception:  # the store failed while ending the job
                log.exception("job %s: its outcome could not be stored", job_id)
                await self._salvage(job_id)
            finally:
                self.active.pop(job_id, None)

    async def _salvage(self, job_id: str) -> None:
        """A job whose end the store refused: failed on disk if possible, else in memory."""
        active = self.active[job_id]
        item = _failed(job_id, active.filename, "server_error", "the gateway could not store this job's outcome; "
                       "submit it again", active.progress)
        try:
            if await asyncio.to_thread(self.store.result, job_id) is None:
                await asyncio.to_thread(self.store.finish, job_id, item)
        except Exception:
            log.exception("job %s: its failure is kept in memory only", job_id)
            self.unstored[job_id] = (time.monotonic(), _json(item))

    async def _run(self, job_id: str) -> None:
        active, started = self.active[job_id], time.monotonic()

        def progress(p) -> None:
            active.progress = p.percent

        try:
            meta, data = await asyncio.to_thread(self.store.start, job_id)
            result = await self.client.ingest(data, meta["options"], progress, meta["filename"], stream=True)
            await asyncio.to_thread(lambda: self.store.finish(job_id, _done(job_id, active.filename, result)))
            outcome = f"done: {result.summary.get('pages')} pages, {result.summary.get('chunks')} chunks"
        except (TritonIngestClientError, OSError) as exc:
            reason = reason_of(exc) if isinstance(exc, TritonIngestClientError) else "invalid_input"
            message = str(exc) if isinstance(exc, TritonIngestClientError) else f"cannot read the document: {exc.strerror}"
            await asyncio.to_thread(self.store.finish, job_id, _failed(job_id, active.filename, reason, message,
                                                                       active.progress))
            outcome = f"failed ({reason}): {message}"
        except Exception:  # a bug: the job fails with a generic message, the traceback stays in the log
            log.exception("job %s", job_id)
            await asyncio.to_thread(self.store.finish, job_id, _failed(
                job_id, active.filename, "server_error", "internal error in the gateway", active.progress))
            outcome = "failed (server_error)"
        print(f"job {job_id} {outcome} in {time.monotonic() - started:.1f} s", flush=True)

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(min(self.limits.ttl, 30.0) / 2)
            try:
                await asyncio.to_thread(self.store.expire, self.limits.ttl)
            except OSError:  # a directory that went away under it, say: the next round tries again
                log.exception("expiring job results")
            now = time.monotonic()
            self.unstored = {i: kept for i, kept in self.unstored.items() if now - kept[0] <= self.limits.ttl}


SUBMIT_HINT = "send a large document as {\"path\": ...} under the gateway's --documents-dir, or fewer jobs per submit"


async def _fetch_ids(request: web.Request) -> list[str]:
    """The distinct ids asked (``?job_ids=a,b``, or a POST body ``{"job_ids": [...]}``), in first-asked order."""
    if request.method == "POST":
        try:
            body = json.loads(await read_body(request, FETCH_BODY_BYTES, f"room for {MAX_FETCH_IDS} ids"))
        except BodyTooLarge as exc:
            raise JobRequestError(str(exc), 413, "job_ids") from None
        except ValueError as exc:
            raise JobRequestError(f"the request body is not valid JSON ({exc})") from None
        raw = body.get("job_ids") if isinstance(body, dict) else None
        if not isinstance(raw, list) or not all(isinstance(i, str) for i in raw):
            raise JobRequestError("the body must be {\"job_ids\": [job id strings]}", param="job_ids")
    else:
        raw = request.query.get("job_ids", "").split(",")
    ids = list(dict.fromkeys(i.strip() for i in raw if i.strip()))
    if not ids:
        raise JobRequestError("'job_ids' is required: comma-separated job ids (or a POST body {\"job_ids\": [...]})",
                              param="job_ids")
    if len(ids) > MAX_FETCH_IDS:
        raise JobRequestError(f"{len(ids)} job ids; at most {MAX_FETCH_IDS} per fetch", param="job_ids")
    return ids


def _done(job_id: str, filename: str, result: IngestResult) -> dict:
    vectors = np.round(result.embeddings.astype(np.float64), 7).tolist()
    chunks = [{**chunk, "embedding": vector} for chunk, vector in zip(result.chunks, vectors)]
    summary = {k: v for k, v in result.summary.items() if k != "final"}
    return {"job_id": job_id, "status": "done", "progress": 100, "filename": filename,
            "result": {"summary": summary, "chunks": chunks}}


def _failed(job_id: str, filename: str, reason: str, message: str, progress: float = 0.0) -> dict:
    return {"job_id": job_id, "status": "failed", "progress": round(progress, 1), "filename": filename,
            "error": {"reason": reason, "message": message}}


def _json(item: dict) -> bytes:
    return json.dumps(item, ensure_ascii=False).encode()


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False
