"""Workers that run a job store's jobs on Triton's ``ingest_stream`` over gRPC.

In the gateway (``--workers N``, the default 4) or on their own (``triton-ingest-server worker
--jobs redis://…``). Each of ``concurrency`` loops claims a job, streams it through Triton (the
native ``AsyncClient``, ``triton_timeout`` per call; its responses carry the pages done, without a
file system shared with Triton), publishes progress and stores the outcome. A loop outlives any
error of one job, and of the store. :meth:`JobWorker.stop` stops claiming, lets running jobs finish
for ``grace`` seconds, then cancels their streams and hands them back to the store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from prometheus_client import start_http_server
from triton_ingest_client import AsyncClient, Client, IngestResult, Index, TritonIngestClientError
from triton_ingest_client._errors import reason_of

from ..jobs import JOBS_ENV, open_store
from ..jobs.disk import DiskJobStore
from ..errors import InvalidInputError
from ..jobs.store import Claim, JobStore, NewJob, failed_item
from ..pipeline.documents import ExtractSettings
from ..pipeline.extraction import Extractor
from . import job_metrics as metrics
from .job_split import child_options, failure, ingest_options, may_split, merged, page_ranges
from .job_split import progress as job_progress
from .jobs import JobRequestError, index_target, split_pages_of

log = logging.getLogger("triton_ingest.gateway.jobs")
STORE_RETRY_S = 1.0  # how long a loop waits after the store failed it
SUB_JOB_POLL_S = 0.25  # how often a split job looks at its sub-jobs
JOB_TTL_S, CLAIM_IDLE_S, MAX_DELIVERIES, GRACE_S = 3600.0, 60.0, 3, 8.0  # the job store flags' defaults
STOP_STEP_S = 5.0  # the most each step of a stop may take after the grace (then it is left behind)
MAX_RESULT_CHUNKS = 20_000  # chunks one stored result may hold: about 40 MB in Redis at 384-d


class JobWorker:
    def __init__(self, store: JobStore, triton_grpc: str, concurrency: int, triton_timeout: float = 600.0,
                 index_uris: tuple[str, ...] = (), max_result_chunks: int = MAX_RESULT_CHUNKS):
        self.store, self.triton_grpc, self.triton_timeout = store, triton_grpc, triton_timeout
        self.index_uris, self.max_result_chunks = index_uris, max_result_chunks
        self.concurrency = concurrency
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.stopping = False
        self.running: dict[asyncio.Task, Claim | None] = {}  # loop -> the job it runs (None: waiting for one)
        self.parents: set[asyncio.Task] = set()  # split jobs waiting for their sub-jobs
        self.extractor: Extractor | None = None  # counts a PDF's pages, for splitting

    async def start(self) -> None:
        self.client = AsyncClient(self.triton_grpc, "grpc", timeout=self.triton_timeout)
        for _ in range(self.concurrency):
            task = asyncio.create_task(self._loop())
            self.running[task] = None

    async def stop(self, grace: float) -> None:
        """Claim nothing more; give running jobs ``grace`` seconds, then hand them back."""
        self.stopping = True
        for task, claim in self.running.items():
            if claim is None:
                task.cancel()
        busy = [task for task, claim in self.running.items() if claim is not None] + list(self.parents)
        if busy:
            _done, late = await asyncio.wait(busy, timeout=grace)
            for task in late:
                task.cancel()
        await bounded(asyncio.gather(*self.running, *busy, return_exceptions=True), "handing back the running jobs")
        await bounded(self.client.close(), "closing the Triton channel")
        if self.extractor is not None:
            await bounded(in_daemon_thread(self.extractor.close), "stopping the page-count worker")

    async def _loop(self) -> None:
        me = asyncio.current_task()
        while not self.stopping:
            try:
                claim = await self.store.claim(self.name)
            except Exception as exc:  # the store is down: wait and look again
                log.warning("worker %s: the job store failed (%s); retrying in %.0f s", self.name, exc, STORE_RETRY_S)
                await asyncio.sleep(STORE_RETRY_S)
                continue
            self.running[me] = claim
            try:
                await self._run(claim)
            finally:
                self.running[me] = None

    async def _run(self, claim: Claim) -> None:
        started = time.monotonic()
        metrics.STAGE.labels("wait").observe(max(0.0, time.time() - claim.submitted))
        if claim.delivery > 1:
            metrics.RECLAIMED.inc()
        try:
            plan = await self._split_plan(claim)
        except asyncio.CancelledError:
            await asyncio.shield(self._hand_back(claim))
            raise
        if plan is not None:  # the parent waits for its sub-jobs without holding a place of this loop
            task = asyncio.create_task(self._finish(claim, started, self._assemble(claim, *plan, started)))
            self.parents.add(task)
            task.add_done_callback(self.parents.discard)
            return
        await self._finish(claim, started, self._ingest(claim))

    async def _finish(self, claim: Claim, started: float, work) -> None:
        """Run ``work`` (it gives the job's item, embeddings and a log line), reporting progress;
        store the outcome; cancelled, hand the job back."""
        keeper = asyncio.create_task(self._keep_reporting(claim))
        metrics.RUNNING_HERE.inc()
        try:
            item, embeddings, outcome = await work
        except asyncio.CancelledError:
            keeper.cancel()
            await asyncio.shield(self._hand_back(claim))
            raise
        except Exception:  # a bug: the job fails with a generic message, the traceback stays in the log
            log.exception("job %s", claim.job_id)
            item, embeddings, outcome = failed_item(claim.job_id, claim.filename, "server_error",
                                                    "internal error in the worker", claim.progress), None, \
                "failed (server_error)"
        finally:
            metrics.RUNNING_HERE.dec()
        keeper.cancel()
        if embeddings is not None and len(embeddings) > self.max_result_chunks:
            item, embeddings, outcome = self._too_many_chunks(claim, len(embeddings)), None, "failed (too many chunks)"
        ingested = time.monotonic()
        metrics.STAGE.labels("ingest").observe(ingested - started)
        try:
            await self.store.finish(claim, item, embeddings)
        except Exception:  # the entry stays claimed: another worker takes it over after the idle time
            log.exception("job %s: its outcome could not be stored", claim.job_id)
            return
        metrics.STAGE.labels("store").observe(time.monotonic() - ingested)
        if claim.children and item["status"] == "done":  # the parent holds their chunks now
            await self._discard(claim.children)
        metrics.FINISHED.labels(item["status"], item.get("error", {}).get("reason", "")).inc()
        print(f"job {claim.job_id} {outcome} in {time.monotonic() - started:.1f} s", flush=True)

    async def _ingest(self, claim: Claim):
        """``(item, embeddings, outcome)``: the job's final item, and a line for the log."""
        def progress(p) -> None:
            claim.progress = p.percent

        try:
            target = index_target(claim.options, self.index_uris, f"job {claim.job_id}")
            split_pages_of(claim.options, f"job {claim.job_id}")
            data = await self._document(claim)
            if target is None:
                result = await self.client.ingest(data, ingest_options(claim.options), progress, claim.filename,
                                                  stream=True)
            else:
                result = await asyncio.to_thread(self._ingest_into, target, data, claim, progress)
            return done_item(claim, result), (result.embeddings if target is None else None), \
                f"done: {result.summary.get('pages')} pages, {result.summary.get('chunks')} chunks"
        except JobRequestError as exc:
            return failed_item(claim.job_id, claim.filename, "invalid_input", str(exc)), None, \
                f"failed (invalid_input): {exc}"
        except (TritonIngestClientError, OSError) as exc:
            reason = reason_of(exc) if isinstance(exc, TritonIngestClientError) else "invalid_input"
            message = str(exc) if isinstance(exc, TritonIngestClientError) else f"cannot read the document: {exc.strerror}"
            return failed_item(claim.job_id, claim.filename, reason, message, claim.progress), None, \
                f"failed ({reason}): {message}"

    def _too_many_chunks(self, claim: Claim, count: int) -> dict:
        return failed_item(claim.job_id, claim.filename, "invalid_input", f"the document gave {count} chunks; a "
                           f"stored job result holds at most {self.max_result_chunks} (--max-result-chunks). Have "
                           "the workers write them to an index (options.index), or ingest it with the SDK directly",
                           claim.progress)

    async def _document(self, claim: Claim) -> bytes:
        if claim.data is not None:
            return claim.data
        if claim.path is None:
            raise JobRequestError("this part of a split job has no document: its parent job ended before it ran")
        claim.data = await asyncio.to_thread(Path(claim.path).read_bytes)  # read once: the split plan, then ingest
        return claim.data

    async def _split_plan(self, claim: Claim) -> tuple[list[str], list[tuple[int, int]], int] | None:
        """A large PDF's sub-jobs (queued now, or by the worker this job was taken over from), their
        page ranges and ``split_pages``; None for a job that runs whole (its errors are found there)."""
        try:
            split = split_pages_of(claim.options, "")
            data = await self._document(claim) if split else b""
        except (JobRequestError, OSError):
            return None
        if not split or not may_split(data, claim.options):
            return None
        count = await self._page_count(data, claim.filename)
        if count is None or count <= split:
            return None
        ranges = page_ranges(count, split)
        ids = claim.children or await self.store.submit_children(claim, [
            NewJob(None, claim.filename, child_options(claim.options, first, last)) for first, last in ranges])
        print(f"job {claim.job_id}: {count} pages split into {len(ids)} sub-jobs of {split}", flush=True)
        return ids, ranges, split

    async def _page_count(self, data: bytes, filename: str) -> int | None:
        """The PDF's pages, counted in an extraction worker (never in this process); None when it
        cannot be opened: the job then runs whole, and Triton says what is wrong with it."""
        if self.extractor is None:
            self.extractor = Extractor(1)
        try:
            opened = await self.extractor.open(data, filename, ExtractSettings(), time.monotonic() + 60, 60)
        except InvalidInputError:
            return None
        opened.close()
        return opened.info.page_count

    async def _assemble(self, claim: Claim, ids: list[str], ranges: list[tuple[int, int]], split: int,
                        started: float):
        """Wait for the sub-jobs (publishing their mean progress), then the parent's outcome."""
        items: list[dict | None] = [None] * len(ids)
        while True:
            try:
                for n, job_id in enumerate(ids):
                    if items[n] is None or items[n]["status"] == "pending":
                        items[n] = json.loads(await self.store.item(job_id))
            except Exception as exc:  # the store is down for a moment: look again
                log.warning("job %s: its sub-jobs could not be read (%s)", claim.job_id, exc)
                await asyncio.sleep(STORE_RETRY_S)
                continue
            error = failure(items, ranges)
            if error is not None:
                return failed_item(claim.job_id, claim.filename, error["reason"], error["message"], claim.progress), \
                    None, f"failed ({error['reason']}): {error['message']}"
            claim.progress = job_progress(items)
            if all(item["status"] == "done" for item in items):
                item, embeddings = merged(claim.job_id, claim.filename, items, split, time.monotonic() - started)
                summary = item["result"]["summary"]
                return item, embeddings, f"done: {summary['pages']} pages, {summary['chunks']} chunks in " \
                                         f"{len(ids)} sub-jobs"
            await asyncio.sleep(SUB_JOB_POLL_S)

    def _ingest_into(self, target: tuple[str, str], data: bytes, claim: Claim, progress) -> IngestResult:
        """The job's chunks written into Milvus by the SDK's ``ingest(index=...)``, in a thread: the
        same idempotent rows as a client's own ingest, and no rows for a document that fails. A job
        handed back mid-way may still be writing here while another worker reruns it: both write
        the same keys."""
        options = ingest_options(claim.options)
        with Client(self.triton_grpc, "grpc", timeout=self.triton_timeout) as client, Index(*target) as index:
            return client.ingest(data, options, progress, claim.filename, index=index)

    async def _keep_reporting(self, claim: Claim) -> None:
        while True:
            try:
                await self.store.report(claim)
            except Exception as exc:
                log.warning("job %s: progress not stored (%s)", claim.job_id, exc)
            await asyncio.sleep(0.25)

    async def _discard(self, job_ids: list[str]) -> None:
        try:
            await self.store.discard(job_ids)
        except Exception as exc:  # they expire with the TTL instead
            log.warning("sub-jobs not discarded (%s); they expire with the job TTL", exc)

    async def _hand_back(self, claim: Claim) -> None:
        try:
            await self.store.hand_back(claim)
            metrics.HANDED_BACK.inc()
            print(f"job {claim.job_id} handed back", flush=True)
        except Exception:
            log.exception("job %s: not handed back; it is taken over once its claim goes idle", claim.job_id)


async def bounded(step: Awaitable, what: str) -> None:
    """``step``, given at most STOP_STEP_S: a stop never hangs on one (a job not handed back is
    taken over after ``--claim-idle``)."""
    try:
        await asyncio.wait_for(step, STOP_STEP_S)
    except asyncio.TimeoutError:
        log.warning("stopping: %s took over %.0f s; left behind", what, STOP_STEP_S)


def in_daemon_thread(function: Callable[[], None]) -> asyncio.Future:
    """``function()`` in a daemon thread, which the interpreter's exit does not wait for."""
    loop, future = asyncio.get_running_loop(), asyncio.get_running_loop().create_future()

    def settle(outcome: BaseException | None) -> None:
        if not future.done():
            future.set_exception(outcome) if outcome else future.set_result(None)

    def run() -> None:
        outcome = None
        try:
            function()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            outcome = exc
        try:
            loop.call_soon_threadsafe(settle, outcome)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    threading.Thread(target=run, name=f"stop-{function.__qualname__}", daemon=True).start()
    return future


def done_item(claim: Claim, result: IngestResult) -> dict:
    """A finished job's item; its embeddings are added by the store. An indexed job's chunks are in
    Milvus: its item has none, and its summary says where (``summary["index"]``: uri, collection,
    rows written, rows replaced)."""
    summary = {k: v for k, v in result.summary.items() if k != "final"}
    return {"job_id": claim.job_id, "status": "done", "progress": 100, "filename": claim.filename,
            "result": {"summary": summary, "chunks": list(result.chunks)}}


def add_store_arguments(group: argparse._ArgumentGroup) -> None:
    """The job store's flags, the same for the gateway and the ``worker`` command."""
    group.add_argument("--jobs", metavar="URL", help=f"job store: redis://HOST:PORT/DB (shared by gateways and "
                       f"workers) or 'disk' (the work dir, one gateway); default ${JOBS_ENV}, else disk")
    group.add_argument("--job-ttl", type=float, default=JOB_TTL_S, help="seconds finished job results are kept")
    group.add_argument("--claim-idle", type=float, default=CLAIM_IDLE_S,
                       help="Redis: seconds a running job's worker may stay silent before another takes the job over")
    group.add_argument("--max-deliveries", type=int, default=MAX_DELIVERIES,
                       help="Redis: workers a job may be given before it fails with reason worker_lost")
    group.add_argument("--grace", type=float, default=GRACE_S,
                       help="seconds running jobs get to finish on SIGTERM before they are handed back")
    group.add_argument("--max-result-chunks", type=int, default=MAX_RESULT_CHUNKS,
                       help="chunks one stored job result may hold; a larger result fails, pointing to options.index")
    group.add_argument("--index-uri", action="append", default=[], metavar="URI",
                       help="a Milvus URI jobs may write their chunks to (options.index; repeatable; the first is "
                            "the default). Without one, jobs asking for an index are refused")


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--triton-grpc", default="localhost:8001", help="Triton gRPC address")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs run at once")
    parser.add_argument("--triton-timeout", type=float, default=600.0, help="seconds any one call to Triton may take")
    parser.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port (0: off)")
    parser.add_argument("--metrics-host", default="127.0.0.1", help="address of the metrics port (0.0.0.0 in a pod)")
    add_store_arguments(parser.add_argument_group("job store"))


def run_worker(args: argparse.Namespace) -> int:
    """``triton-ingest-server worker``: run a shared store's jobs until SIGTERM or SIGINT."""
    try:
        store = open_store(args.jobs, Path("."), args.job_ttl, args.claim_idle, args.max_deliveries)
    except ValueError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    if isinstance(store, DiskJobStore) or args.concurrency < 1:
        print(f"worker: needs --jobs redis://… (or ${JOBS_ENV}) and --concurrency of at least 1; the disk store "
              "is run by its own gateway", file=sys.stderr)
        return 2
    asyncio.run(_work_until_stopped(store, args))
    return 0


async def _work_until_stopped(store: JobStore, args: argparse.Namespace) -> None:
    await store.open()
    worker = JobWorker(store, args.triton_grpc, args.concurrency, args.triton_timeout, tuple(args.index_uri),
                       args.max_result_chunks)
    await worker.start()
    following = asyncio.create_task(metrics.follow_store(store))
    if args.metrics_port:
        start_http_server(args.metrics_port, args.metrics_host)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    where = urlsplit(args.jobs or os.environ.get(JOBS_ENV, ""))
    print(f"worker {worker.name}: {args.concurrency} jobs at once from {where.scheme}://{where.hostname}:{where.port}"
          f"{where.path} on Triton gRPC {args.triton_grpc}", flush=True)
    await stop.wait()
    print(f"worker {worker.name}: stopping; running jobs get {args.grace:g} s", flush=True)
    following.cancel()
    await worker.stop(args.grace)
    await bounded(store.close(), "closing the job store")
    print(f"worker {worker.name}: stopped", flush=True)
