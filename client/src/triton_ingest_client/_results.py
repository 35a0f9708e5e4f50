"""Result types returned by the client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ._errors import TritonIngestClientError


@dataclass(frozen=True)
class Progress:
    """Progress of one ingest: percent 0..100 and, when known, pages and chunks done."""

    percent: float
    pages_done: int | None = None
    pages_total: int | None = None
    chunks_done: int | None = None


ProgressCallback = Callable[[Progress], Any]


@dataclass
class IngestResult:
    """Chunks (dicts with text and provenance), their embeddings (row i = chunk i), and the summary."""

    chunks: list[dict]
    embeddings: np.ndarray
    summary: dict

    @property
    def texts(self) -> list[str]:
        return [c["text"] for c in self.chunks]


@dataclass
class JobResult:
    """Outcome of one submitted job: ``result`` on success, ``error`` (typed) on failure."""

    id: str
    source: str
    result: IngestResult | None = None
    error: TritonIngestClientError | None = None
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None
