"""What every job store keeps, and the items ``fetch_job`` answers.

A job goes ``queued`` → ``running`` (a :class:`Claim` held by one worker) → finished: its item,
``done`` or ``failed``, is kept for ``ttl`` seconds. A store never presents a job as finished
before its whole item is stored, and stores at most one item per job: when two workers race
(one was presumed dead), the first item wins.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

WORKER_LOST = "worker_lost"
INTERRUPTED = "interrupted"


class QueueFull(Exception):
    """Taking these jobs would pass the unfinished-jobs limit; ``unfinished`` is how many there are."""

    def __init__(self, unfinished: int):
        super().__init__(unfinished)
        self.unfinished = unfinished


@dataclass
class NewJob:
    """A job to queue: its bytes (None for a ``path`` job) and what the worker needs to run it."""

    data: bytes | None
    filename: str
    options: dict
    path: str | None = None


@dataclass
class Claim:
    """A job a worker runs: its document (``data``, or a file at ``path``) and live progress."""

    job_id: str
    filename: str
    options: dict
    path: str | None
    data: bytes | None
    delivery: int = 1
    progress: float = 0.0
    submitted: float = 0.0  # time.time() when it was queued
    children: list[str] | None = None  # a split job's sub-jobs, in page order, once it was split
    worker: str = ""
    token: Any = field(default=None, repr=False)  # the store's handle (a stream entry id, say)


@dataclass(frozen=True)
class Stats:
    """Store-wide counts, for metrics: jobs waiting, jobs running, and the oldest unfinished one's age."""

    queued: int
    running: int
    oldest_age_s: float


class JobStore(ABC):
    """The queue and the results; every method is safe to call from many coroutines at once."""

    ttl: float

    async def open(self) -> None:
        """Connect, create what is missing and recover what an earlier process left."""

    async def close(self) -> None:
        """Let go of connections; jobs stay as they are."""

    async def housekeeping(self) -> None:
        """Periodic upkeep (expiry, say) for stores that need it."""

    @abstractmethod
    async def submit(self, jobs: list[NewJob], max_unfinished: int) -> list[str]:
        """Queue ``jobs`` durably, all or none; their new ids. Raises :class:`QueueFull`."""

    @abstractmethod
    async def item(self, job_id: str) -> bytes:
        """The ``fetch_job`` item for ``job_id`` as JSON: pending, done, failed or not_found."""

    @abstractmethod
    async def claim(self, consumer: str) -> Claim:
        """The next job for worker ``consumer``, waiting until there is one."""

    @abstractmethod
    async def report(self, claim: Claim) -> None:
        """Publish ``claim.progress``, and tell the store its worker is alive."""

    @abstractmethod
    async def finish(self, claim: Claim, item: dict, embeddings: np.ndarray | None = None) -> None:
        """Store the job's final item (``embeddings`` go into its chunks) and end the job."""

    @abstractmethod
    async def hand_back(self, claim: Claim) -> None:
        """Queue a job this worker will not finish (it is stopping) for another to run."""

    @abstractmethod
    async def submit_children(self, parent: Claim, jobs: list[NewJob]) -> list[str]:
        """Queue sub-jobs of ``parent`` that read its document (their ``data`` is None), and record
        them on it, so that a worker taking the parent over waits for them instead of splitting again.
        They do not count against the unfinished-jobs limit."""

    @abstractmethod
    async def discard(self, job_ids: list[str]) -> None:
        """Forget finished jobs now (a split job's sub-jobs, once their parent holds the result)."""

    @abstractmethod
    async def stats(self) -> Stats:
        """How many jobs wait and run, across every process that shares the store."""


def is_job_id(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def new_id() -> str:
    return str(uuid.uuid4())


def pending_item(job_id: str, filename: str, progress: float) -> bytes:
    return as_json({"job_id": job_id, "status": "pending", "progress": round(progress, 1), "filename": filename})


def failed_item(job_id: str, filename: str, reason: str, message: str, progress: float = 0.0) -> dict:
    return {"job_id": job_id, "status": "failed", "progress": round(progress, 1), "filename": filename,
            "error": {"reason": reason, "message": message}}


def not_found_item(job_id: str, ttl: float) -> bytes:
    return as_json({"job_id": job_id, "status": "not_found", "progress": 0, "filename": "", "error": {
        "reason": "not_found", "message": f"no job {job_id}: never submitted here, or its result expired after {ttl:.0f} s"}})


def with_embeddings(item: dict, embeddings: np.ndarray | None) -> dict:
    """``item`` with each chunk's ``embedding`` (rounded to 7 decimals, as JSON carries them)."""
    if embeddings is None:
        return item
    vectors = np.round(np.asarray(embeddings, dtype=np.float64), 7).tolist()
    chunks = [{**chunk, "embedding": vector} for chunk, vector in zip(item["result"]["chunks"], vectors)]
    return {**item, "result": {**item["result"], "chunks": chunks}}


def as_json(item: dict) -> bytes:
    return json.dumps(item, ensure_ascii=False).encode()
