"""Ingest metrics, served by Triton on its metrics port next to its own.

    triton_ingest_documents_total{model,kind}          documents ingested
    triton_ingest_pages_total{model,kind}              pages extracted
    triton_ingest_chunks_total{model,kind}             chunks embedded
    triton_ingest_failures_total{model,reason}         failed requests, by reason
    triton_ingest_stage_seconds_total{model,stage}     time spent per stage

The counters come from a factory (``triton_adapter.counter`` in Triton), so
this module stays free of Triton and is unit-tested with plain counters.
"""

from __future__ import annotations

from typing import Callable, Protocol

from ..errors import TritonIngestError


class Counter(Protocol):
    def increment(self, value: float) -> None: ...


CounterFactory = Callable[[str, str, dict[str, str]], Counter]

FAMILIES = {
    "documents": ("triton_ingest_documents_total", "Documents ingested"),
    "pages": ("triton_ingest_pages_total", "Pages extracted from ingested documents"),
    "chunks": ("triton_ingest_chunks_total", "Chunks embedded"),
    "failures": ("triton_ingest_failures_total", "Failed ingest requests by reason"),
    "stage": ("triton_ingest_stage_seconds_total", "Seconds spent per ingest stage"),
}


class IngestMetrics:
    """Records one summary per ingested document, or one failure."""

    def __init__(self, model: str, counter: CounterFactory):
        self.model, self._counter, self._cache = model, counter, {}

    def _get(self, family: str, **labels: str) -> Counter:
        key = (family, tuple(sorted(labels.items())))
        if key not in self._cache:
            name, description = FAMILIES[family]
            self._cache[key] = self._counter(name, description, {"model": self.model, **labels})
        return self._cache[key]

    def success(self, summary: dict) -> None:
        kind = summary["kind"]
        self._get("documents", kind=kind).increment(1)
        self._get("pages", kind=kind).increment(summary["pages"])
        self._get("chunks", kind=kind).increment(summary["chunks"])
        for stage, ms in summary["timings_ms"].items():
            if stage != "total_ms":
                self._get("stage", stage=stage.removesuffix("_ms")).increment(ms / 1000)

    def failure(self, exc: BaseException) -> None:
        reason = exc.reason if isinstance(exc, TritonIngestError) else "internal"
        self._get("failures", reason=reason).increment(1)
