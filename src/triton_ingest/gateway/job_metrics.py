"""Prometheus metrics of the job API, for the gateway's ``GET /metrics`` and a worker's
``--metrics-port``. Counters count what this process did; the store-wide gauges (queued, running,
oldest) are read from the shared store every ``STATS_EVERY_S`` seconds, so any one process shows
the whole queue (the gauge KEDA's or an HPA's rules can read)."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from ..jobs.store import JobStore

STATS_EVERY_S = 5.0
log = logging.getLogger("triton_ingest.gateway.jobs")

SUBMITTED = Counter("triton_ingest_jobs_submitted", "Jobs accepted by this gateway")
FINISHED = Counter("triton_ingest_jobs_finished", "Jobs this process finished, by status and failure reason",
                   ["status", "reason"])
RECLAIMED = Counter("triton_ingest_jobs_reclaimed", "Jobs this worker took over from a worker that went silent")
HANDED_BACK = Counter("triton_ingest_jobs_handed_back", "Jobs this worker handed back when it was stopped")
RUNNING_HERE = Gauge("triton_ingest_jobs_running_here", "Jobs running in this process")
QUEUED = Gauge("triton_ingest_jobs_queued", "Jobs waiting for a worker, in the whole store")
RUNNING = Gauge("triton_ingest_jobs_running", "Jobs running, in the whole store")
OLDEST = Gauge("triton_ingest_jobs_oldest_age_seconds", "Age of the oldest unfinished job in the store")
STAGE = Histogram("triton_ingest_job_stage_seconds", "Seconds a job spent in each stage: wait (queued until "
                  "a worker took it), ingest (on Triton), store (writing the outcome)", ["stage"],
                  buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600))


def exposition() -> tuple[bytes, str]:
    """The metrics as Prometheus' text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


async def follow_store(store: JobStore) -> None:
    """Keep the store-wide gauges current, for as long as the process runs."""
    while True:
        try:
            stats = await store.stats()
            QUEUED.set(stats.queued)
            RUNNING.set(stats.running)
            OLDEST.set(stats.oldest_age_s)
        except Exception as exc:  # the store is down: the gauges keep their last values
            log.warning("job metrics: the store did not answer (%s)", exc)
        await asyncio.sleep(STATS_EVERY_S)
