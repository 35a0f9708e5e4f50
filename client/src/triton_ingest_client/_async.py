"""The asyncio :class:`AsyncClient`: :class:`Client`'s calls as coroutines, natively on
``tritonclient.http.aio`` and ``tritonclient.grpc.aio`` (no thread per call)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence, TypeVar

import numpy as np

from ._client import DEFAULT_URLS, LOCAL_HOSTS
from ._errors import DeadlineExceededError, InvalidInputError, NotFoundError, TritonIngestClientError, UnavailableError
from ._progress import REFUSED_OUTPUT_DIR, ProgressWatcher, local_job_dir
from ._requests import (
    INGEST_OUTPUTS,
    Job,
    check_embed_model,
    embed_batches,
    ingest_result,
    ingest_tensors,
    job_fields,
    job_label,
    joined,
    no_embeddings,
    read_document,
    stream_progress,
)
from ._results import IngestResult, JobResult, ProgressCallback
from ._retry import RetryPolicy
from ._transport_aio import AsyncTritonTransport
from .contracts import EMBED, INGEST, INGEST_STREAM

T = TypeVar("T")


class AsyncClient:
    """triton-ingest over Triton HTTP or gRPC, as coroutines on the caller's event loop.

    The same calls as :class:`Client` (``embed``, ``ingest``, ``submit``, ``fetch``, ``health``,
    ``wait_ready``), the same errors and retries. Concurrent calls share one connection pool;
    ``embed`` sends its batches of 64 concurrently. Indexing into Milvus (``ingest(index=...)``,
    ``search``) stays on :class:`Client`, since Milvus' own client blocks.
    """

    def __init__(self, url: str | None = None, protocol: str = "http", timeout: float = 600.0, retries: int = 5,
                 *, concurrency: int = 4, progress_dir: str | os.PathLike | None = None,
                 headers: Mapping[str, str] | None = None, ssl: bool = False):
        if protocol not in DEFAULT_URLS:
            raise ValueError(f"protocol must be 'http' or 'grpc', not {protocol!r}")
        self.protocol, self.url, self.timeout = protocol, url or DEFAULT_URLS[protocol], timeout
        self.retry = RetryPolicy(retries=retries)
        self.concurrency = max(1, concurrency)
        self.progress_dir = Path(progress_dir) if progress_dir else None
        self._headers, self._ssl = dict(headers or {}), ssl
        self._local_progress = self.url.rsplit(":", 1)[0] in LOCAL_HOSTS
        self._transport_: AsyncTritonTransport | None = None
        self._slots: asyncio.Semaphore | None = None
        self._jobs: dict[str, tuple[str, asyncio.Task]] = {}

    @classmethod
    def nvcf(cls, function_id: str, api_key: str | None = None, version_id: str | None = None,
             grpc_url: str = "grpc.nvcf.nvidia.com:443", timeout: float = 600.0, retries: int = 5,
             concurrency: int = 4) -> "AsyncClient":
        """A function on NVIDIA Cloud Functions over its gRPC endpoint (the key as for :meth:`Client.nvcf`)."""
        from ._nvcf import resolve_api_key

        headers = {"function-id": function_id}
        if version_id:
            headers["function-version-id"] = version_id
        key = resolve_api_key(api_key)
        if key:
            headers["authorization"] = f"Bearer {key}"
        return cls(grpc_url, "grpc", timeout, retries, concurrency=concurrency, headers=headers,
                   ssl=grpc_url.endswith(":443"))

    @property
    def _transport(self) -> AsyncTritonTransport:
        if self._transport_ is None:  # made on the running loop: aiohttp and grpc.aio bind to it
            self._transport_ = AsyncTritonTransport(self.url, self.protocol, self.timeout, self._headers, self._ssl)
        return self._transport_

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        return await self.retry.call_async(call)

    async def embed(self, texts: Sequence[str], model: str = EMBED.name) -> np.ndarray:
        """L2-normalised 384-d embeddings, one row per text (batches of 64, sent concurrently), by
        ``model`` (``embed``, or ``embed_int8``)."""
        check_embed_model(model)

        async def one(batch: np.ndarray) -> np.ndarray:
            reply = await self._retrying(lambda: self._transport.infer(model, {"TEXT": batch}, ["EMBEDDING"]))
            return reply["EMBEDDING"]

        rows = await asyncio.gather(*(one(batch) for batch in embed_batches(texts)))
        return np.vstack(rows) if rows else no_embeddings()

    async def ingest(self, source: str | os.PathLike | bytes, options: Mapping | None = None,
                     on_progress: ProgressCallback | None = None, filename: str | None = None,
                     stream: bool = False) -> IngestResult:
        """Extract, chunk and embed one document; ``on_progress`` receives :class:`Progress`
        (over gRPC from ``ingest_stream``'s responses, over local HTTP from the progress file)."""
        data, name = read_document(source, filename)
        tensors = ingest_tensors(data, name, options)
        if stream or (on_progress is not None and self.protocol == "grpc"):
            return await self._retrying(lambda: self._ingest_stream(tensors, on_progress))
        if on_progress is None or not self._local_progress:
            return ingest_result(await self._retrying(
                lambda: self._transport.infer(INGEST.name, tensors, INGEST_OUTPUTS)))
        job_dir, headers = local_job_dir(self.progress_dir)
        watcher = ProgressWatcher(job_dir, on_progress)
        polling = asyncio.create_task(_poll_until_cancelled(watcher))
        try:
            return ingest_result(await self._retrying(
                lambda: self._transport.infer(INGEST.name, tensors, INGEST_OUTPUTS, headers)))
        except InvalidInputError as exc:
            if REFUSED_OUTPUT_DIR not in str(exc):
                raise
            self._local_progress = False  # a server that does not allow this directory: ask without it
            return await self.ingest(data, options, on_progress, name, stream)
        finally:
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)
            watcher.poll()  # the last state, so callers always see the final progress
            shutil.rmtree(job_dir, ignore_errors=True)

    async def _ingest_stream(self, tensors: dict, on_progress: ProgressCallback | None) -> IngestResult:
        parts = []
        async for reply in self._transport.stream(INGEST_STREAM.name, tensors, INGEST_OUTPUTS, "SUMMARY"):
            parts.append(ingest_result(reply))
            if on_progress is not None:
                on_progress(stream_progress(parts[-1].summary))
        return joined(parts)

    async def submit(self, jobs: Iterable[Job]) -> list[str]:
        """Start ingest jobs on this loop, at most ``concurrency`` at once; one UUID4 id per job."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        ids = []
        for job in jobs:
            source, options, filename = job_fields(job)
            job_id = str(uuid.uuid4())
            self._jobs[job_id] = (job_label(source, filename), asyncio.create_task(self._job(source, options, filename)))
            ids.append(job_id)
        return ids

    async def _job(self, source: Any, options: Mapping | None, filename: str | None) -> IngestResult:
        async with self._slots:
            return await self.ingest(source, options, filename=filename)

    async def fetch(self, ids: Iterable[str], timeout: float | None = None) -> list[JobResult]:
        """Results by id, in order; each is a success or a typed failure (never raises for one job)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        results = []
        for job_id in ids:
            if job_id not in self._jobs:
                results.append(JobResult(job_id, "", error=NotFoundError(f"unknown job id {job_id}")))
                continue
            label, task = self._jobs[job_id]
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                results.append(JobResult(job_id, label, result=await asyncio.wait_for(asyncio.shield(task), remaining)))
            except asyncio.TimeoutError:
                results.append(JobResult(job_id, label, error=DeadlineExceededError(f"job {job_id} is still running")))
            except TritonIngestClientError as exc:
                results.append(JobResult(job_id, label, error=exc))
        return results

    async def health(self) -> dict:
        """``{"live", "ready", "models": {name: ready}}``; never raises for an unreachable server."""
        try:
            transport = self._transport
            models = {m: await transport.model_ready(m) for m in (EMBED.name, INGEST.name)}
            return {"live": await transport.live(), "ready": await transport.ready(), "models": models}
        except TritonIngestClientError as exc:
            return {"live": False, "ready": False, "models": {}, "error": str(exc)}

    async def wait_ready(self, timeout: float = 120.0, interval: float = 0.5) -> None:
        """Wait until the server is ready; UnavailableError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (await self.health())["ready"]:
                return
            await asyncio.sleep(interval)
        raise UnavailableError(f"{self.url} was not ready within {timeout:.0f} s")

    async def close(self) -> None:
        for _label, task in self._jobs.values():
            task.cancel()
        if self._transport_ is not None:
            await self._transport_.close()
            self._transport_ = None

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncClient(url={self.url!r}, protocol={self.protocol!r})"


async def _poll_until_cancelled(watcher: ProgressWatcher) -> None:
    while True:
        watcher.poll()
        await asyncio.sleep(watcher.interval)
