"""NV-Ingest's job API in front of Triton: ``POST /v1/submit_job`` and ``GET /v1/fetch_job``.

- ``submit_job``: one job or a list (see :mod:`.jobs`) → ``{"job_ids": [...]}`` (UUID4), answered
  as soon as the store holds the jobs. Over ``max_body_bytes`` or ``max_per_submit`` is a 413; more
  than ``max_queued`` unfinished jobs is a 429 with ``Retry-After``.
- ``fetch_job?job_ids=a,b`` (or ``POST /v1/fetch_job`` with ``{"job_ids": [...]}``, at most
  ``FETCH_BODY_BYTES``, for lists longer than a request line holds: up to ``MAX_FETCH_IDS``):
  ``{"results": [...]}`` in the order asked, one item per distinct id (a repeated id is answered
  once, where it was first asked), with
  ``job_id``, ``status`` (``pending``, ``done``, ``failed``, ``not_found``), ``progress`` (0-100),
  ``filename``, and ``result`` (``summary``, ``chunks`` each with its ``embedding``) or ``error``
  (``reason``: see the client's ``REASONS``, or ``interrupted``, ``worker_lost``; ``message``). One
  id never fails another. Results are streamed, one at a time.
- Jobs live in a store (:mod:`triton_ingest.jobs`): on the gateway's disk (one gateway), or in
  Redis (``--jobs redis://…``: any number of gateways and workers). ``concurrency`` in-process
  workers (:mod:`.job_worker`) run them; 0 makes a front-only gateway, for Redis.
- A store that cannot be reached answers 503, in OpenAI's error shape.
- ``GET /metrics``: Prometheus metrics of the jobs (:mod:`.job_metrics`), without a key, as the
  health routes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from ..jobs import open_store
from ..jobs.store import NewJob, QueueFull
from . import job_metrics as metrics
from .job_worker import CLAIM_IDLE_S, GRACE_S, JOB_TTL_S, MAX_DELIVERIES, MAX_RESULT_CHUNKS, JobWorker, bounded
from .jobs import JobRequestError, parse_jobs
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
    ttl: float = JOB_TTL_S
    documents_dir: Path | None = None
    store: str | None = None  # --jobs: None reads $TRITON_INGEST_JOBS; "" or "disk": the work dir
    claim_idle: float = CLAIM_IDLE_S
    max_deliveries: int = MAX_DELIVERIES
    grace: float = GRACE_S  # seconds running jobs get to finish when the gateway stops (docker stop gives 10)
    index_uris: tuple[str, ...] = ()  # Milvus URIs jobs may write to (options.index)
    max_result_chunks: int = MAX_RESULT_CHUNKS


class JobsAPI:
    """The routes, the store and (unless ``concurrency`` is 0) workers on the Triton gRPC endpoint."""

    def __init__(self, triton_grpc: str, work_dir: Path, limits: JobLimits, triton_timeout: float = 600.0):
        self.limits = limits
        self.store = open_store(limits.store, work_dir, limits.ttl, limits.claim_idle, limits.max_deliveries)
        self.worker = JobWorker(self.store, triton_grpc, limits.concurrency, triton_timeout, limits.index_uris,
                                limits.max_result_chunks)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/submit_job", self.submit)
        app.router.add_get("/v1/fetch_job", self.fetch)
        app.router.add_post("/v1/fetch_job", self.fetch)
        app.router.add_get("/metrics", self.metrics)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._stop)

    async def _start(self, _app) -> None:
        await self.store.open()
        await self.worker.start()
        self.background = [asyncio.create_task(self._housekeeping_loop()),
                           asyncio.create_task(metrics.follow_store(self.store))]

    async def _stop(self, _app) -> None:
        for task in self.background:
            task.cancel()
        await self.worker.stop(self.limits.grace)
        await bounded(self.store.close(), "closing the job store")

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
            specs = await asyncio.to_thread(parse_jobs, parsed, self.limits.documents_dir, self.limits.max_per_submit,
                                            self.limits.index_uris)
        except JobRequestError as exc:
            return OpenAIError(exc.status, str(exc), exc.param).response()
        jobs = [NewJob(spec.data, spec.filename, spec.options, spec.path) for spec in specs]
        try:
            ids = await self.store.submit(jobs, self.limits.max_queued)
        except QueueFull as full:
            response = OpenAIError(429, f"{full.unfinished} jobs are unfinished and {len(specs)} more would pass "
                                        f"the limit of {self.limits.max_queued} (--max-queued-jobs); retry later").response()
            response.headers["Retry-After"] = "5"
            return response
        except Exception as exc:
            return _store_down(exc)
        metrics.SUBMITTED.inc(len(ids))
        return web.json_response({"job_ids": ids})

    async def fetch(self, request: web.Request) -> web.StreamResponse:
        try:
            ids = await _fetch_ids(request)
            first = await self.store.item(ids[0])  # a store that is down answers 503, not half a list
        except JobRequestError as exc:
            return OpenAIError(exc.status, str(exc), exc.param).response()
        except Exception as exc:
            return _store_down(exc)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"results": [' + first)
        for job_id in ids[1:]:
            await response.write(b", " + await self.store.item(job_id))
        await response.write(b"]}")
        await response.write_eof()
        return response

    async def metrics(self, _request: web.Request) -> web.Response:
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(min(self.limits.ttl, 30.0) / 2)
            await self.store.housekeeping()


def _store_down(exc: Exception) -> web.Response:
    log.warning("the job store failed: %r", exc)
    return OpenAIError(503, "the job store is unavailable; retry later").response()


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
