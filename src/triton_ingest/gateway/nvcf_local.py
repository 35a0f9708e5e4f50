"""``triton-ingest-server gateway`` (and its older name ``nvcf-local``): one aiohttp front door in
front of a Triton: the NVCF invocation API, OpenAI's embeddings API (:mod:`.openai_api`) and
NV-Ingest's job API (:mod:`.jobs_api`).

Serves:
- ``POST /v2/nvcf/pexec/functions/{function_id}[/versions/{version_id}]``: forwards the
  v2 infer body to Triton's ``/v2/models/<model>/infer`` with NVCF's headers
  (NVCF-REQID, NVCF-LARGE-OUTPUT-DIR per request, NVCF-ASSET-DIR, NVCF-FUNCTION-ID,
  NVCF-FUNCTION-VERSION-ID). It waits up to NVCF-POLL-SECONDS (request header, default 5,
  at most 300): 200 with the result when done, else 202 with NVCF-REQID and
  NVCF-PERCENT-COMPLETE read from the request's ``progress`` file.
- ``GET /v2/nvcf/pexec/status/{request_id}``: the same answer for a pending request.
- Results over ``large_result_bytes`` answer 302 to ``/v2/nvcf/results/{request_id}``.
- Finished results expire after ``ttl`` seconds (404 afterwards).
- ``GET /v2/health/ready`` proxies Triton's readiness; ``GET /v2/health/live`` is the gateway's own.
- ``POST /v1/embeddings`` and ``GET /v1/models``, OpenAI-compatible (when the tokenizer is built).
- ``POST /v1/submit_job`` and ``GET /v1/fetch_job``, run on Triton's gRPC endpoint; ``GET /metrics``,
  the jobs' Prometheus metrics (no key needed, as for the health routes).
Function ids map to models: by default each model name is its own function id.
With ``--api-key`` (or $NVCF_LOCAL_API_KEY) requests need ``Authorization: Bearer <key>``.
Without a key it serves only on a loopback address, unless ``--insecure``.
Ceilings (:mod:`.limits`): each route's body (413), the invocations kept and in flight (429 with
``Retry-After``) and every call to Triton (``--triton-timeout``: the invocation then ends 504).
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from ..models.artifacts import TOKENIZER_FILE, artifact
from ..pipeline.progress import read_progress
from ..jobs.disk import DiskJobStore
from .job_worker import add_store_arguments
from .jobs_api import JobLimits, JobsAPI
from .limits import BodyTooLarge, Limits, insecure_refusal, read_body
from .openai_api import EmbeddingsAPI, OpenAIError

FORWARDED = ("Content-Type", "Inference-Header-Content-Length")
READY_TIMEOUT = 5.0  # seconds the readiness proxy waits for Triton's
log = logging.getLogger("triton_ingest.gateway")


@dataclass
class Invocation:
    """One pexec request: its task, output dir and (when done) Triton's answer."""

    request_id: str
    output_dir: Path
    task: asyncio.Task | None = None
    status: int = 0
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    finished_at: float | None = None

    def percent(self) -> int:
        return int((read_progress(self.output_dir) or {}).get("progress", 0))

    def fail(self, status: int, message: str) -> None:
        """End the invocation with an error answer of its own."""
        self.status, self.body = status, json.dumps({"error": message}).encode()
        self.headers = {"Content-Type": "application/json"}


@dataclass
class GatewayConfig:
    triton: str = "localhost:8000"
    functions: dict[str, str] = field(default_factory=dict)  # function id -> model
    work_dir: Path = Path(tempfile.gettempdir()) / "triton-ingest-nvcf-local"
    api_key: str | None = None
    ttl: float = 600.0
    large_result_bytes: int = 5 * 1024 * 1024
    default_poll_seconds: float = 5.0
    tokenizer_json: str | None = None  # enables /v1/embeddings (usage counts need the tokenizer)
    triton_grpc: str = "localhost:8001"  # where jobs run (ingest_stream)
    jobs: JobLimits = field(default_factory=JobLimits)
    limits: Limits = field(default_factory=Limits)


class Gateway:
    def __init__(self, config: GatewayConfig):
        self.config = config
        self.invocations: dict[str, Invocation] = {}
        self.session: ClientSession | None = None
        self.asset_dir = config.work_dir / "assets"
        self.openai = EmbeddingsAPI(config.triton, config.tokenizer_json, lambda: self.session,
                                    config.limits.embeddings_body_bytes) if config.tokenizer_json else None
        self.jobs = JobsAPI(config.triton_grpc, config.work_dir, config.jobs, config.limits.triton_timeout)

    def app(self) -> web.Application:
        """The routes; each that reads a body reads it under its own ceiling (:func:`.limits.read_body`)."""
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/v2/nvcf/pexec/functions/{function_id}", self.invoke)
        app.router.add_post("/v2/nvcf/pexec/functions/{function_id}/versions/{version_id}", self.invoke)
        app.router.add_get("/v2/nvcf/pexec/status/{request_id}", self.status)
        app.router.add_get("/v2/nvcf/results/{request_id}", self.large_result)
        app.router.add_get("/v2/health/ready", self.ready)
        app.router.add_get("/v2/health/live", self.live)
        if self.openai:
            self.openai.add_routes(app)
        self.jobs.add_routes(app)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _app) -> None:
        self.asset_dir.mkdir(parents=True, exist_ok=True)
        self.session = ClientSession(timeout=ClientTimeout(total=self.config.limits.triton_timeout))
        self._expiry = asyncio.create_task(self._expire_loop())

    async def _stop(self, _app) -> None:
        self._expiry.cancel()
        await self.session.close()

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        if self.config.api_key and request.path not in ("/v2/health/ready", "/v2/health/live", "/metrics"):
            given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")  # any bytes
            if not hmac.compare_digest(given, f"Bearer {self.config.api_key}".encode()):
                if request.path.startswith("/v1/"):
                    return OpenAIError(401, "missing or invalid API key", code="invalid_api_key").response()
                return web.json_response({"error": "missing or invalid API key"}, status=401)
        return await handler(request)

    async def live(self, _request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def ready(self, _request: web.Request) -> web.Response:
        try:
            async with self.session.get(f"http://{self.config.triton}/v2/health/ready",
                                        timeout=ClientTimeout(total=READY_TIMEOUT)) as reply:
                return web.Response(status=reply.status)
        except (OSError, ClientError):
            return web.Response(status=503)

    async def invoke(self, request: web.Request) -> web.StreamResponse:
        function_id = request.match_info["function_id"]
        model = self.config.functions.get(function_id)
        if model is None:
            return web.json_response({"error": f"function {function_id} not found"}, status=404)
        if (refused := self._refusal()) is not None:  # before the body is read, and again after
            return refused
        try:
            body = await read_body(request, self.config.limits.pexec_body_bytes, "--max-pexec-body-bytes")
        except BodyTooLarge as exc:
            return web.json_response({"error": str(exc)}, status=413)
        if (refused := self._refusal()) is not None:
            return refused
        request_id = str(uuid.uuid4())
        invocation = Invocation(request_id, self.config.work_dir / "requests" / request_id)
        invocation.output_dir.mkdir(parents=True)
        headers = {k: request.headers[k] for k in FORWARDED if k in request.headers}
        headers.update({
            "NVCF-REQID": request_id, "NVCF-LARGE-OUTPUT-DIR": str(invocation.output_dir),
            "NVCF-ASSET-DIR": str(self.asset_dir), "NVCF-FUNCTION-ID": function_id,
            "NVCF-FUNCTION-VERSION-ID": request.match_info.get("version_id", ""),
        })
        invocation.task = asyncio.create_task(self._forward(invocation, model, body, headers))
        self.invocations[request_id] = invocation
        return await self._answer(invocation, request)

    async def status(self, request: web.Request) -> web.StreamResponse:
        invocation = self.invocations.get(request.match_info["request_id"])
        if invocation is None:
            return web.json_response({"error": "request id not found or expired"}, status=404)
        return await self._answer(invocation, request)

    async def large_result(self, request: web.Request) -> web.Response:
        invocation = self.invocations.get(request.match_info["request_id"])
        if invocation is None or invocation.finished_at is None:
            return web.json_response({"error": "result not found or expired"}, status=404)
        return web.Response(status=invocation.status, body=invocation.body, headers=invocation.headers)

    def _refusal(self) -> web.Response | None:
        """A 429 when the invocations in flight, or kept, are at their ceiling; else None."""
        limits, pending = self.config.limits, sum(i.finished_at is None for i in self.invocations.values())
        if pending >= limits.max_pending_invocations:
            return _too_many(f"{pending} invocations are in flight, the limit (--max-pending-invocations); "
                             "retry later", 5)
        if len(self.invocations) >= limits.max_invocations:
            self.expire()
        if len(self.invocations) >= limits.max_invocations:
            finished = [i.finished_at for i in self.invocations.values() if i.finished_at is not None]
            wait = min(finished) + self.config.ttl - time.monotonic() if finished else 5
            return _too_many(f"{len(self.invocations)} invocations are kept, the limit (--max-invocations); "
                             f"finished results are kept for --ttl ({self.config.ttl:.0f} s)", wait)
        return None

    async def _forward(self, invocation: Invocation, model: str, body: bytearray, headers: dict) -> None:
        """Triton's answer to the invocation, or an error status of its own: it always ends."""
        url = f"http://{self.config.triton}/v2/models/{model}/infer"
        try:
            async with self.session.post(url, data=body, headers=headers) as reply:
                invocation.status, invocation.body = reply.status, await reply.read()
                invocation.headers = {k: reply.headers[k] for k in FORWARDED if k in reply.headers}
        except TimeoutError:
            invocation.fail(504, f"Triton did not answer within {self.config.limits.triton_timeout:.0f} s "
                                 "(--triton-timeout)")
        except OSError as exc:
            invocation.fail(503, f"Triton unreachable: {exc}")
        except ClientError as exc:
            invocation.fail(502, f"Triton broke off the request: {exc!r}")
        except Exception:  # a bug: the invocation still ends; the traceback stays in the log
            log.exception("invocation %s", invocation.request_id)
            invocation.fail(500, "internal error in the gateway")
        invocation.finished_at = time.monotonic()

    async def _answer(self, invocation: Invocation, request: web.Request) -> web.StreamResponse:
        wait = _poll_seconds(request.headers.get("NVCF-POLL-SECONDS"), self.config.default_poll_seconds)
        if wait > 0:
            await asyncio.wait({invocation.task}, timeout=wait)
        if invocation.finished_at is None:
            return web.Response(status=202, headers={
                "NVCF-REQID": invocation.request_id, "NVCF-STATUS": "pending-evaluation",
                "NVCF-PERCENT-COMPLETE": str(invocation.percent())})
        if len(invocation.body) > self.config.large_result_bytes and invocation.status == 200:
            raise web.HTTPFound(f"/v2/nvcf/results/{invocation.request_id}")
        headers = {**invocation.headers, "NVCF-REQID": invocation.request_id, "NVCF-STATUS": "fulfilled"}
        return web.Response(status=invocation.status, body=invocation.body, headers=headers)

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(min(self.config.ttl, 30.0) / 2)
            self.expire()

    def expire(self) -> None:
        """Forget finished invocations older than the TTL and delete their files."""
        now = time.monotonic()
        for request_id, invocation in list(self.invocations.items()):
            if invocation.finished_at is not None and now - invocation.finished_at > self.config.ttl:
                del self.invocations[request_id]
                shutil.rmtree(invocation.output_dir, ignore_errors=True)


def _too_many(message: str, retry_after: float) -> web.Response:
    retry = str(max(1, math.ceil(retry_after)))
    return web.json_response({"error": message}, status=429, headers={"Retry-After": retry})


def _poll_seconds(raw: str | None, default: float) -> float:
    try:
        return max(0.0, min(300.0, float(raw))) if raw is not None else default
    except ValueError:
        return default


def add_arguments(parser: argparse.ArgumentParser, port: int = 8080) -> None:
    parser.add_argument("--triton", default="localhost:8000", help="Triton HTTP address")
    parser.add_argument("--triton-grpc", default="localhost:8001", help="Triton gRPC address (the job API's jobs)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (not loopback: needs a key)")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--function", action="append", default=[], metavar="ID=MODEL",
                        help="map a function id to a model (default: each model name is its own id)")
    parser.add_argument("--work-dir", type=Path, default=GatewayConfig.work_dir)
    parser.add_argument("--ttl", type=float, default=600.0, help="seconds finished results are kept")
    parser.add_argument("--large-result-bytes", type=int, default=GatewayConfig.large_result_bytes)
    parser.add_argument("--api-key-env", default="NVCF_LOCAL_API_KEY",
                        help="environment variable holding the API key to require (unset: no auth)")
    parser.add_argument("--insecure", action="store_true",
                        help="serve without an API key on a non-loopback --host (refused otherwise)")
    _add_limits(parser)
    jobs = parser.add_argument_group("job API (/v1/submit_job, /v1/fetch_job)")
    jobs.add_argument("--workers", "--job-concurrency", dest="job_concurrency", type=int, default=JobLimits.concurrency,
                      help="jobs this gateway runs at once (0: a front-only gateway; needs --jobs redis://…)")
    jobs.add_argument("--max-queued-jobs", type=int, default=JobLimits.max_queued,
                      help="unfinished jobs accepted before submits get 429")
    jobs.add_argument("--max-jobs-per-submit", type=int, default=JobLimits.max_per_submit)
    jobs.add_argument("--max-body-bytes", type=int, default=JobLimits.max_body_bytes, help="submit body limit (413)")
    jobs.add_argument("--documents-dir", type=Path, help="where {\"path\": ...} jobs may read documents from")
    add_store_arguments(jobs)


def _add_limits(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ceilings (413 over a body limit, 429 when full, 504 on a timeout)")
    group.add_argument("--max-pexec-body-bytes", type=int, default=Limits.pexec_body_bytes,
                       help="body limit of an NVCF pexec invocation (default %(default)s)")
    group.add_argument("--max-embeddings-body-bytes", type=int, default=Limits.embeddings_body_bytes,
                       help="body limit of /v1/embeddings (default %(default)s)")
    group.add_argument("--max-invocations", type=int, default=Limits.max_invocations,
                       help="pexec invocations kept (in flight, or finished and kept for --ttl) (default %(default)s)")
    group.add_argument("--max-pending-invocations", type=int, default=Limits.max_pending_invocations,
                       help="pexec invocations in flight at once (default %(default)s)")
    group.add_argument("--triton-timeout", type=float, default=Limits.triton_timeout,
                       help="seconds any one call to Triton may take (default %(default)s)")


def config_from(args: argparse.Namespace) -> GatewayConfig:
    """The gateway's configuration from its command line (and the key from ``$<--api-key-env>``)."""
    functions = {m: m for m in ("embed", "ingest", "ocr", "tokenizer", "embedder")}
    for item in args.function:
        function_id, _, model = item.partition("=")
        functions[function_id] = model
    tokenizer = artifact(TOKENIZER_FILE)
    jobs = JobLimits(concurrency=args.job_concurrency, max_queued=args.max_queued_jobs,
                     max_per_submit=args.max_jobs_per_submit, max_body_bytes=args.max_body_bytes, ttl=args.job_ttl,
                     documents_dir=args.documents_dir, store=args.jobs, claim_idle=args.claim_idle,
                     max_deliveries=args.max_deliveries, grace=args.grace, index_uris=tuple(args.index_uri),
                     max_result_chunks=args.max_result_chunks)
    limits = Limits(pexec_body_bytes=args.max_pexec_body_bytes, embeddings_body_bytes=args.max_embeddings_body_bytes,
                    max_invocations=args.max_invocations, max_pending_invocations=args.max_pending_invocations,
                    triton_timeout=args.triton_timeout)
    return GatewayConfig(triton=args.triton, functions=functions, work_dir=args.work_dir, ttl=args.ttl,
                         large_result_bytes=args.large_result_bytes, api_key=os.environ.get(args.api_key_env) or None,
                         tokenizer_json=str(tokenizer) if tokenizer.exists() else None, triton_grpc=args.triton_grpc,
                         jobs=jobs, limits=limits)


def run(args: argparse.Namespace) -> int:
    config = config_from(args)
    refusal = insecure_refusal(args.host, config.api_key, args.insecure, args.api_key_env)
    if refusal:
        print(f"gateway: {refusal}", file=sys.stderr)
        return 2
    try:
        gateway = Gateway(config)
    except ValueError as exc:  # a --jobs value it cannot use
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    if config.jobs.concurrency < 1 and isinstance(gateway.jobs.store, DiskJobStore):
        print("gateway: --workers 0 would leave the disk store's jobs unrun; it is for gateways in front of a "
              "shared store (--jobs redis://…) whose jobs separate workers run", file=sys.stderr)
        return 2
    openai = "/v1/embeddings, /v1/models" if config.tokenizer_json else \
        f"no /v1 routes: {artifact(TOKENIZER_FILE)} is missing (make model)"
    print(f"gateway on http://{args.host}:{args.port} -> Triton {args.triton}: NVCF pexec (functions: "
          f"{', '.join(sorted(config.functions))}), {openai}, jobs on gRPC {args.triton_grpc} (/v1/submit_job, "
          f"/v1/fetch_job); auth {'on' if config.api_key else 'off'}", flush=True)
    web.run_app(gateway.app(), host=args.host, port=args.port, print=None)
    return 0
