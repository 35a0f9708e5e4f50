"""The synchronous :class:`Client` (:class:`AsyncClient`, in :mod:`._async`, is its asyncio twin)."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ._errors import DeadlineExceededError, InvalidInputError, NotFoundError, TritonIngestClientError, UnavailableError
from ._index_schema import MAX_TOP_K, PROBE_TEXT, IndexProfile, SearchHit
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
from ._transport import TritonTransport
from .contracts import EMBED, EMBED_MODELS, INGEST, INGEST_STREAM

if TYPE_CHECKING:
    from .index import Index

DEFAULT_URLS = {"http": "localhost:8000", "grpc": "localhost:8001"}
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
INDEX_BATCH = 256  # rows per upsert when a whole result is written at once


class Client:
    """triton-ingest over Triton HTTP/gRPC (or NVCF, see :meth:`nvcf`).

    ``retries`` is finite: UNAVAILABLE, 429 and 503 are retried with exponential
    backoff; every other error is raised at once as a typed exception.
    """

    def __init__(self, url: str | None = None, protocol: str = "http", timeout: float = 600.0, retries: int = 5,
                 *, concurrency: int = 4, progress_dir: str | os.PathLike | None = None,
                 headers: Mapping[str, str] | None = None,
                 transport_factory: Callable[[], Any] | None = None):
        self.protocol = protocol
        self.url = url or DEFAULT_URLS.get(protocol, "")
        self.timeout = timeout
        self.retry = RetryPolicy(retries=retries)
        self._factory = transport_factory or (lambda: TritonTransport(self.url, protocol, timeout, headers))
        self._local = threading.local()
        self._transports: list = []
        self._pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="triton-ingest-job")
        self._jobs: dict[str, tuple[str, Future]] = {}
        self.progress_dir = Path(progress_dir) if progress_dir else None
        self._local_progress = self.url.rsplit(":", 1)[0] in LOCAL_HOSTS and transport_factory is None
        self._probes: dict[str, np.ndarray] = {}  # each embedding model's vector for PROBE_TEXT (index checks)

    @classmethod
    def nvcf(cls, function_id: str | Mapping[str, str], api_key: str | None = None, version_id: str | None = None,
             base_url: str = "https://api.nvcf.nvidia.com", protocol: str = "http",
             grpc_url: str = "grpc.nvcf.nvidia.com:443", timeout: float = 600.0, retries: int = 5,
             poll_seconds: float | None = None, concurrency: int = 4) -> "Client":
        """A client for a function on NVIDIA Cloud Functions (or ``triton-ingest nvcf-local``).

        ``function_id`` is one id, or ``{model: id}`` when embed and ingest are separate
        functions. The API key defaults to ``$NVCF_API_KEY``, then ``$NGC_API_KEY``; it is
        sent only as a bearer token and never logged or printed.
        """
        from ._nvcf import NvcfTransport, resolve_api_key

        key = resolve_api_key(api_key)
        functions = dict(function_id) if isinstance(function_id, Mapping) else {"*": function_id}
        if protocol == "grpc":
            headers = {"function-id": functions.get(INGEST.name, functions.get("*", ""))}
            if version_id:
                headers["function-version-id"] = version_id
            if key:
                headers["authorization"] = f"Bearer {key}"
            ssl = grpc_url.endswith(":443")
            factory = lambda: TritonTransport(grpc_url, "grpc", timeout, headers, ssl=ssl)  # noqa: E731
            return cls(grpc_url, "grpc", timeout, retries, concurrency=concurrency, transport_factory=factory)
        factory = lambda: NvcfTransport(base_url, functions, key, version_id, timeout, poll_seconds)  # noqa: E731
        return cls(base_url, "nvcf", timeout, retries, concurrency=concurrency, transport_factory=factory)

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def _transport(self):
        transport = getattr(self._local, "transport", None)
        if transport is None:
            transport = self._local.transport = self._factory()
            self._transports.append(transport)
        return transport

    def _retrying(self, fn: Callable[[], Any]) -> Any:
        return self.retry.call(fn, on_retry=lambda *_: self._drop_transport())

    def _drop_transport(self) -> None:  # a fresh connection after a failure
        transport = getattr(self._local, "transport", None)
        if transport is not None:
            transport.close()
            self._local.transport = None

    # -- API --------------------------------------------------------------------------------
    def embed(self, texts: Sequence[str], model: str = EMBED.name) -> np.ndarray:
        """L2-normalised 384-d embeddings, one row per text (sent in batches of 64), by ``model``
        (``embed``, or ``embed_int8``)."""
        check_embed_model(model)
        rows = []
        for batch in embed_batches(texts):
            call = lambda: self._transport.infer(model, {"TEXT": batch}, ["EMBEDDING"])  # noqa: E731
            rows.append(self._retrying(call)["EMBEDDING"])
        return np.vstack(rows) if rows else no_embeddings()

    def ingest(self, source: str | os.PathLike | bytes, options: Mapping | None = None,
               on_progress: ProgressCallback | None = None, filename: str | None = None,
               stream: bool = False, index: "Index | None" = None) -> IngestResult:
        """Extract, chunk and embed one document; ``on_progress`` receives :class:`Progress`.

        With ``index``, the chunks and embeddings go into that Milvus collection instead (as they
        arrive over gRPC, where the stream is used), and the result keeps only the summary, with
        ``summary["index"]``: rows written, rows of older versions replaced. See :mod:`.index`."""
        data, name = read_document(source, filename)
        tensors = ingest_tensors(data, name, options)
        if index is not None:
            return self._ingest_into(index, data, name, tensors, options, on_progress)
        if stream:
            return self._ingest_stream(tensors, on_progress)
        return self._ingest_whole(tensors, on_progress)

    def _ingest_whole(self, tensors: dict, on_progress: ProgressCallback | None) -> IngestResult:
        """One unary ``ingest`` call; progress from a local progress directory where there is one."""
        if on_progress is None or not self._local_progress:
            call = lambda: self._transport.infer(INGEST.name, tensors, INGEST_OUTPUTS, on_progress=on_progress)  # noqa: E731
            return ingest_result(self._retrying(call))
        job_dir, headers = local_job_dir(self.progress_dir)
        try:
            with ProgressWatcher(job_dir, on_progress):
                outputs = self._retrying(lambda: self._transport.infer(INGEST.name, tensors, INGEST_OUTPUTS, headers))
            return ingest_result(outputs)
        except InvalidInputError as exc:
            if REFUSED_OUTPUT_DIR not in str(exc):
                raise
            self._local_progress = False  # a server that does not allow this directory: ask without it
            return self._ingest_whole(tensors, on_progress)
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)

    def _stream_parts(self, tensors: dict, on_progress: ProgressCallback | None) -> Iterator[IngestResult]:
        """``ingest_stream``'s responses as they come; the last holds no chunks and the full summary."""
        for reply in self._transport.stream(INGEST_STREAM.name, tensors, INGEST_OUTPUTS, "SUMMARY"):
            part = ingest_result(reply)
            if on_progress is not None:
                on_progress(stream_progress(part.summary))
            yield part

    def _ingest_stream(self, tensors: dict, on_progress: ProgressCallback | None) -> IngestResult:
        return joined(list(self._stream_parts(tensors, on_progress)))

    def _served_profile(self, options: Mapping | None = None, model: str | None = None) -> IndexProfile:
        """How this server embeds with ``options``' embed_model (or ``model``): its probe vector,
        asked once per model; and how it chunks with ``options``."""
        model = model or (options or {}).get("embed_model", EMBED.name)
        if model not in self._probes:
            self._probes[model] = self.embed([PROBE_TEXT], model)[0]
        return IndexProfile.served(model, self._probes[model], options)

    def _ingest_into(self, index: "Index", data: bytes, name: str, tensors: dict, options: Mapping | None,
                     on_progress: ProgressCallback | None) -> IngestResult:
        index.prepare(self._served_profile(options))
        write = index.document(name, hashlib.sha256(data).hexdigest())
        try:
            if self.protocol == "grpc":  # rows leave memory as they are written
                summary = {}
                for part in self._stream_parts(tensors, on_progress):
                    write.add(part.chunks, part.embeddings)
                    summary = part.summary
            else:
                result = self._ingest_whole(tensors, on_progress)
                for start in range(0, len(result.chunks), INDEX_BATCH):
                    write.add(result.chunks[start : start + INDEX_BATCH], result.embeddings[start : start + INDEX_BATCH])
                summary = result.summary
            replaced = write.commit()
        except BaseException as exc:
            try:
                write.abort()
            except TritonIngestClientError as cleanup:  # keep the document's own error; say what is left
                if hasattr(exc, "add_note"):
                    exc.add_note(f"its partial rows in {index} could not be deleted: {cleanup}")
            raise
        summary = {k: v for k, v in summary.items() if k != "final"}
        return IngestResult([], no_embeddings(), {**summary, "index": write.summary(replaced)})

    def search(self, query: str, index: "Index", top_k: int = 5, hybrid: bool = False) -> list[SearchHit]:
        """The ``top_k`` chunks in ``index`` nearest to ``query`` (embedded by the served model that
        made the index), best first; ``hybrid`` fuses them with BM25 keyword matches by reciprocal rank."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("the search query is empty")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise InvalidInputError(f"top_k must be an integer in [1, {MAX_TOP_K}], got {top_k!r}")
        recorded = index.built_with()
        model = recorded.model if recorded.model in EMBED_MODELS else EMBED.name  # check_model says what differs
        index.check_model(self._served_profile(model=model), recorded)
        return index.search(self.embed([query], model)[0], top_k, query if hybrid else None)

    def submit(self, jobs: Iterable[Job]) -> list[str]:
        """Start ingest jobs; returns one UUID4 id per job.

        Over NVCF the id is the NVCF request id, so another process can :meth:`fetch` it;
        otherwise jobs run here, at most ``concurrency`` at once.
        """
        ids = []
        for job in jobs:
            source, options, filename = job_fields(job)
            label = job_label(source, filename)
            if hasattr(self._transport, "submit"):
                ids.append(self._submit_remote(source, options, filename, label))
                continue
            job_id = str(uuid.uuid4())
            self._jobs[job_id] = (label, self._pool.submit(self.ingest, source, options, None, filename))
            ids.append(job_id)
        return ids

    def _submit_remote(self, source, options, filename, label: str) -> str:
        data, name = read_document(source, filename)
        request_id, reply = self._retrying(lambda: self._transport.submit(INGEST.name, ingest_tensors(data, name, options)))
        if request_id is not None:
            return request_id
        done: Future = Future()  # answered at once: keep the result here
        done.set_result(ingest_result(self._transport._parse(reply, INGEST_OUTPUTS)))
        job_id = str(uuid.uuid4())
        self._jobs[job_id] = (label, done)
        return job_id

    def _fetch_remote(self, job_id: str, deadline: float | None) -> JobResult:
        while True:
            try:
                outputs = self._retrying(lambda: self._transport.poll(job_id, INGEST_OUTPUTS))
            except TritonIngestClientError as exc:
                return JobResult(job_id, "", error=exc)
            if outputs is not None:
                result = ingest_result(outputs)
                return JobResult(job_id, result.summary.get("source", ""), result=result)
            if deadline is not None and time.monotonic() > deadline:
                return JobResult(job_id, "", error=DeadlineExceededError(f"job {job_id} is still running"))
            time.sleep(0.25)

    def fetch(self, ids: Iterable[str], timeout: float | None = None) -> list[JobResult]:
        """Results by id, in order; each is a success or a typed failure (never raises for one job)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        results = []
        for job_id in ids:
            if job_id not in self._jobs:
                if hasattr(self._transport, "poll"):
                    results.append(self._fetch_remote(job_id, deadline))
                else:
                    results.append(JobResult(job_id, "", error=NotFoundError(f"unknown job id {job_id}")))
                continue
            label, future = self._jobs[job_id]
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                results.append(JobResult(job_id, label, result=future.result(timeout=remaining)))
            except TimeoutError:
                results.append(JobResult(job_id, label, error=DeadlineExceededError(f"job {job_id} is still running")))
            except TritonIngestClientError as exc:
                results.append(JobResult(job_id, label, error=exc))
        return results

    def health(self) -> dict:
        """``{"live", "ready", "models": {name: ready}}``; never raises for an unreachable server."""
        try:
            return {"live": self._transport.live(), "ready": self._transport.ready(),
                    "models": {m: self._transport.model_ready(m) for m in (EMBED.name, INGEST.name)}}
        except TritonIngestClientError as exc:
            self._drop_transport()
            return {"live": False, "ready": False, "models": {}, "error": str(exc)}

    def wait_ready(self, timeout: float = 120.0, interval: float = 0.5) -> None:
        """Block until the server is ready; UnavailableError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health()["ready"]:
                return
            time.sleep(interval)
        raise UnavailableError(f"{self.url} was not ready within {timeout:.0f} s")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for transport in self._transports:
            transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(url={self.url!r}, protocol={self.protocol!r})"
