"""Ingest metrics counted with plain counters (no server)."""

from __future__ import annotations

from collections import defaultdict

from triton_ingest.errors import InternalError
from triton_ingest.pipeline.metrics import IngestMetrics
from triton_ingest.pipeline.options import OptionsError


def test_metrics_count_documents_pages_chunks_failures_and_stages():
    totals: dict = defaultdict(float)

    class Plain:
        def __init__(self, key):
            self.key = key

        def increment(self, value):
            totals[self.key] += value

    metrics = IngestMetrics("ingest", lambda name, _d, labels: Plain((name, tuple(sorted(labels.items())))))
    summary = {"kind": "pdf", "pages": 3, "chunks": 5, "timings_ms": {"embed_wait_ms": 1500.0, "total_ms": 2000.0}}
    metrics.success(summary)
    metrics.success(summary)
    metrics.failure(OptionsError("bad"))
    metrics.failure(InternalError("x"))
    metrics.failure(ValueError("bug"))
    labels = (("kind", "pdf"), ("model", "ingest"))
    assert totals[("triton_ingest_pages_total", labels)] == 6
    assert totals[("triton_ingest_chunks_total", labels)] == 10
    assert totals[("triton_ingest_stage_seconds_total", (("model", "ingest"), ("stage", "embed_wait")))] == 3.0
    assert totals[("triton_ingest_failures_total", (("model", "ingest"), ("reason", "bad_options")))] == 1
    assert totals[("triton_ingest_failures_total", (("model", "ingest"), ("reason", "internal")))] == 2
