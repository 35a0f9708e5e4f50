"""Job stores: where NV-Ingest-style jobs wait, run and keep their results.

``store`` (what every store keeps: :class:`~.store.JobStore`, a :class:`~.store.Claim` on a running
job, and the ``fetch_job`` items), ``disk`` (the embedded default for one gateway: a directory per
job and an in-process queue) and ``redis_store`` (a Redis Stream read by a consumer group: any
number of gateways and workers; a dead worker's jobs are taken over with ``XAUTOCLAIM``).
:func:`open_store` picks one from a ``--jobs`` value.

May import the shared top-level modules only; never ``gateway``, ``serving`` or ``pipeline``: a
store knows nothing of Triton or HTTP.
"""

from __future__ import annotations

import os
from pathlib import Path

from .store import JobStore

JOBS_ENV = "TRITON_INGEST_JOBS"
"""The ``--jobs`` default: ``redis://HOST:PORT/DB`` (or ``rediss://``); unset or ``disk``: the work dir."""


def open_store(url: str | None, work_dir: Path, ttl: float, claim_idle: float = 60.0,
               max_deliveries: int = 3) -> JobStore:
    """The store ``url`` names (``$TRITON_INGEST_JOBS`` when None): Redis, or jobs under ``work_dir``."""
    url = os.environ.get(JOBS_ENV, "") if url is None else url
    if url in ("", "disk"):
        from .disk import DiskJobStore

        return DiskJobStore(work_dir / "jobs", ttl)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis_store import RedisJobStore

        return RedisJobStore(url, ttl, claim_idle, max_deliveries)
    raise ValueError(f"--jobs {url!r}: expected redis://HOST:PORT/DB, rediss://…, unix://… or 'disk'")
