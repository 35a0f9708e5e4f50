"""What :class:`Client` and :class:`AsyncClient` send and get back, built alike for both: the
tensors of ``embed`` and ``ingest`` requests, ingest results, jobs, and stream progress."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ._errors import InvalidInputError
from ._results import IngestResult, Progress
from .contracts import EMBED, EMBED_MODELS, EMBEDDING_DIM, INGEST

INGEST_OUTPUTS = [t.name for t in INGEST.outputs]
Job = Any  # a path, bytes, or {"path"|"data": ..., "options": {...}, "filename": ...}


def read_document(source: str | os.PathLike | bytes, filename: str | None) -> tuple[bytes, str]:
    """The document's bytes and the name to send with it."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), filename or ""
    path = Path(source)
    try:
        return path.read_bytes(), filename or path.name
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from None


def check_embed_model(model: str) -> None:
    if model not in EMBED_MODELS:
        raise InvalidInputError(f"model must be one of {list(EMBED_MODELS)}, got {model!r}")


def embed_batches(texts: Sequence[str]) -> Iterator[np.ndarray]:
    """``embed``'s TEXT tensors for ``texts``, at most the model's batch size each."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise InvalidInputError("texts must be a list of str")
    for start in range(0, len(texts), EMBED.max_batch_size):
        yield np.array([[t.encode()] for t in texts[start : start + EMBED.max_batch_size]], dtype=object)


def no_embeddings() -> np.ndarray:
    return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)


def ingest_tensors(data: bytes, filename: str, options: Mapping | None) -> dict[str, np.ndarray]:
    tensors = {"DOCUMENT": np.array([data], dtype=object)}
    if filename:
        tensors["FILENAME"] = np.array([filename.encode()], dtype=object)
    if options:
        tensors["OPTIONS"] = np.array([json.dumps(dict(options)).encode()], dtype=object)
    return tensors


def ingest_result(outputs: Mapping[str, np.ndarray]) -> IngestResult:
    return IngestResult(
        chunks=[json.loads(c) for c in outputs["CHUNKS"].reshape(-1)],
        embeddings=np.asarray(outputs["EMBEDDINGS"], dtype=np.float32).reshape(-1, EMBEDDING_DIM),
        summary=json.loads(outputs["SUMMARY"].reshape(-1)[0]),
    )


def joined(parts: list[IngestResult]) -> IngestResult:
    """One result from ``ingest_stream``'s parts; the last part's summary is the document's."""
    chunks = [chunk for part in parts for chunk in part.chunks]
    vectors = np.vstack([part.embeddings for part in parts]) if parts else no_embeddings()
    return IngestResult(chunks, vectors, parts[-1].summary if parts else {})


def stream_progress(summary: Mapping) -> Progress:
    """The :class:`Progress` an ``ingest_stream`` response reports (the final one: 100 %)."""
    if summary.get("final"):
        return Progress(100.0, summary.get("pages"), summary.get("pages"), summary.get("chunks"))
    pages = summary.get("pages_total") or 1
    return Progress(100 * summary["pages_done"] / pages, summary["pages_done"], pages, summary["chunks_done"])


def job_fields(job: Job) -> tuple[Any, Mapping | None, str | None]:
    """A job's source (path or bytes), options and filename."""
    if isinstance(job, Mapping):
        if ("path" in job) == ("data" in job):
            raise InvalidInputError("a job needs exactly one of 'path' or 'data'")
        unknown = set(job) - {"path", "data", "options", "filename"}
        if unknown:
            raise InvalidInputError(f"unknown job key(s) {sorted(unknown)}")
        source = job.get("path") or (job["data"].encode() if isinstance(job["data"], str) else job["data"])
        return source, job.get("options"), job.get("filename")
    return job, None, None


def job_label(source: Any, filename: str | None) -> str:
    return filename or (str(source) if not isinstance(source, (bytes, bytearray)) else "<bytes>")
