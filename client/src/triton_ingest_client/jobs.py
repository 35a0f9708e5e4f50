"""The gateway's job API (NV-Ingest's shape) from Python: ids that work across processes and
machines without NVCF.

    from triton_ingest_client import GatewayJobs
    jobs = GatewayJobs("http://gateway:9000")          # key: api_key= or $TRITON_INGEST_API_KEY
    ids = jobs.submit(["a.pdf", {"data": b"...", "filename": "b.txt", "options": {"chunk_size": 128}}])
    for job in jobs.fetch(ids, timeout=600):           # waits while jobs are pending
        print(job.id, job.ok, job.error or job.result.summary)
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable, Iterable

import numpy as np

from ._errors import DeadlineExceededError, from_reason, from_status
from ._nvcf import error_message
from ._requests import Job, job_fields, no_embeddings, read_document
from ._results import IngestResult, JobResult

API_KEY_VARIABLE = "TRITON_INGEST_API_KEY"
SUBMIT_BYTES = 16 << 20  # a submit request's body stays under the gateway's default limit (64 MiB)
SUBMIT_JOBS = 256
FETCH_IDS = 100  # ids per fetch_job request (they travel in the URL)
POLL_SECONDS = 0.5


class GatewayJobs:
    """``submit`` and ``fetch`` on a triton-ingest gateway's ``/v1/submit_job`` and ``/v1/fetch_job``."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 120.0):
        self.url = base_url.rstrip("/") if "://" in base_url else "http://" + base_url.rstrip("/")
        self.timeout = timeout
        self.__api_key = api_key or os.environ.get(API_KEY_VARIABLE)

    def __repr__(self) -> str:
        return f"GatewayJobs(url={self.url!r})"

    def _call(self, path: str, body: bytes | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.__api_key:
            headers["Authorization"] = f"Bearer {self.__api_key}"
        request = urllib.request.Request(self.url + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            raise from_status(str(exc.code), error_message(exc.read().decode(errors="replace"))) from None
        except (urllib.error.URLError, OSError) as exc:
            raise from_status("503", f"cannot reach the gateway at {self.url}: {getattr(exc, 'reason', exc)}") from None

    def submit(self, jobs: Iterable[Job]) -> list[str]:
        """Send the jobs (paths here, bytes or job dicts, as for :meth:`Client.submit`); their ids."""
        ids: list[str] = []
        batch: list[dict] = []
        size = 0
        for job in jobs:
            source, options, filename = job_fields(job)
            data, name = read_document(source, filename)
            batch.append({"data": base64.b64encode(data).decode(), "encoding": "base64", "filename": name,
                          "options": dict(options or {})})
            size += len(batch[-1]["data"])
            if size > SUBMIT_BYTES or len(batch) == SUBMIT_JOBS:
                ids += self._submit(batch)
                batch, size = [], 0
        return ids + (self._submit(batch) if batch else [])

    def _submit(self, batch: list[dict]) -> list[str]:
        return self._call("/v1/submit_job", json.dumps(batch).encode())["job_ids"]

    def status(self, ids: list[str]) -> dict[str, dict]:
        """The gateway's ``fetch_job`` items for ``ids`` as they are now, by id (each id asked once)."""
        ids, items = list(dict.fromkeys(ids)), {}
        for start in range(0, len(ids), FETCH_IDS):
            query = urllib.parse.urlencode({"job_ids": ",".join(ids[start : start + FETCH_IDS])})
            items.update((item["job_id"], item) for item in self._call(f"/v1/fetch_job?{query}")["results"])
        return items

    def fetch(self, ids: Iterable[str], timeout: float | None = 600.0,
              on_status: Callable[[dict[str, dict]], None] | None = None) -> list[JobResult]:
        """Results by id, in order, waiting up to ``timeout`` seconds while jobs are pending;
        each is a success or a typed failure (a job still pending then: DeadlineExceededError).
        ``on_status`` sees every job's latest item (by id) after each poll."""
        ids = list(ids)
        deadline = None if timeout is None else time.monotonic() + timeout
        items = self.status(ids)
        while True:
            if on_status is not None:
                on_status(items)
            pending = [i for i in dict.fromkeys(ids) if items[i]["status"] == "pending"]
            if not pending or (deadline is not None and time.monotonic() >= deadline):
                break
            time.sleep(POLL_SECONDS)
            items.update(self.status(pending))
        return [job_result(items[i]) for i in ids]


def job_result(item: dict) -> JobResult:
    """A :class:`JobResult` from one ``fetch_job`` item."""
    job_id, filename = item["job_id"], item.get("filename", "")
    if item["status"] == "done":
        chunks = [dict(c) for c in item["result"]["chunks"]]  # an id asked twice gets the same item twice
        vectors = np.array([c.pop("embedding") for c in chunks], dtype=np.float32) if chunks else no_embeddings()
        return JobResult(job_id, filename, result=IngestResult(chunks, vectors, item["result"]["summary"]))
    if item["status"] == "pending":
        return JobResult(job_id, filename, error=DeadlineExceededError(
            f"job {job_id} is still running ({item.get('progress', 0)}% done)"))
    error = item.get("error") or {}
    return JobResult(job_id, filename, error=from_reason(error.get("reason", "server_error"),
                                                         error.get("message", f"job {job_id} failed")))
