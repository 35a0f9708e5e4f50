"""The ingest pipeline: document bytes -> pages -> token chunks -> embeddings, with NVCF progress.

Embedding goes through an injected async ``embed(texts)`` (BLS to the
``embed`` ensemble inside Triton), ``embed_batch`` chunks per call and up to
``max_in_flight`` calls outstanding, so Triton's dynamic batcher stays full
while extraction and chunking continue. Nothing is ever one giant tensor.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping

import numpy as np

from .chunking import Chunk, TokenChunker
from .contracts import EMBEDDING_DIM
from .documents import open_document
from .errors import CancelledError, InvalidInputError, TritonIngestError
from .options import IngestOptions
from .progress import ProgressReporter, nvcf_headers

EmbedFn = Callable[[list[str]], Awaitable[np.ndarray]]


@dataclass
class IngestResult:
    chunks: list[Chunk]
    embeddings: np.ndarray
    summary: dict

    def outputs(self) -> dict[str, np.ndarray]:
        """The ``ingest`` model's output tensors (contract ``contracts.INGEST``)."""
        return {
            "CHUNKS": np.array([c.to_json().encode() for c in self.chunks], dtype=object),
            "EMBEDDINGS": self.embeddings.astype(np.float32).reshape(-1, EMBEDDING_DIM),
            "SUMMARY": np.array([json.dumps(self.summary).encode()], dtype=object),
        }


def _first(value: np.ndarray | None) -> bytes | None:
    if value is None:
        return None
    flat = np.asarray(value, dtype=object).reshape(-1)
    if flat.size != 1:
        raise InvalidInputError(f"expected exactly one element, got {flat.size}")
    item = flat[0]
    return item if isinstance(item, bytes) else str(item).encode()


class IngestPipeline:
    def __init__(self, tokenizer_json: str):
        self.chunker = TokenChunker(tokenizer_json)

    async def run(self, data: bytes, filename: str, options: IngestOptions, embed: EmbedFn,
                  reporter: ProgressReporter, cancelled: Callable[[], bool] = lambda: False) -> IngestResult:
        t0 = time.perf_counter()
        if len(data) > options.max_bytes:
            raise InvalidInputError(f"DOCUMENT is {len(data)} bytes; the limit (max_bytes) is {options.max_bytes}")
        document = open_document(data, filename, options.max_pages)
        chunker = self.chunker.with_sizes(options.chunk_size, options.chunk_overlap)
        chunk_iter = chunker.chunks(document.pages, options.text_depth, filename)
        timings = {"open_ms": (time.perf_counter() - t0) * 1000, "extract_chunk_ms": 0.0, "embed_wait_ms": 0.0}
        chunks: list[Chunk] = []
        vectors: list[np.ndarray] = []
        pending: deque[tuple[asyncio.Future, list[Chunk]]] = deque()

        async def collect_oldest() -> None:
            t = time.perf_counter()
            future, batch = pending.popleft()
            vectors.append(await future)
            timings["embed_wait_ms"] += (time.perf_counter() - t) * 1000
            chunks.extend(batch)
            reporter.write_results(_result_lines(batch, vectors[-1]))
            done_pages = batch[-1].pages[-1]
            reporter.update(100 * done_pages / document.page_count, {
                "pages_done": done_pages, "pages_total": document.page_count, "chunks_done": len(chunks),
                "recent_chunks": [{"chunk_index": c.chunk_index, "pages": c.pages, "text": c.text[:200]} for c in batch],
            })

        try:
            await self._pump(chunk_iter, options, embed, pending, collect_oldest, timings, cancelled)
        finally:  # on failure, let outstanding BLS calls finish before the request ends
            await asyncio.gather(*(f for f, _ in pending), return_exceptions=True)
        pages_seen = chunks[-1].pages[-1] if chunks else 0
        warnings = list(document.warnings)

        if not chunks:
            warnings.append("no text was extracted (a scanned or empty document?)")
        summary = {
            "source": filename, "kind": document.kind, "encoding": document.encoding,
            "pages": document.page_count, "chunks": len(chunks), "pages_with_chunks": pages_seen,
            "options": options.as_dict(), "warnings": warnings,
            "timings_ms": {**{k: round(v, 1) for k, v in timings.items()},
                           "total_ms": round((time.perf_counter() - t0) * 1000, 1)},
        }
        embeddings = np.vstack(vectors) if vectors else np.zeros((0, EMBEDDING_DIM), np.float32)
        reporter.finish(summary)
        return IngestResult(chunks, embeddings, summary)


    @staticmethod
    async def _pump(chunk_iter, options, embed, pending, collect_oldest, timings, cancelled) -> None:
        """Keep up to ``max_in_flight`` embed calls outstanding until the chunks run out."""
        while True:
            t = time.perf_counter()
            batch = [c for _, c in zip(range(options.embed_batch), chunk_iter)]
            timings["extract_chunk_ms"] += (time.perf_counter() - t) * 1000
            if not batch:
                break
            if cancelled():
                raise CancelledError("the request was cancelled")
            pending.append((asyncio.ensure_future(embed([c.text for c in batch])), batch))
            await asyncio.sleep(0)  # let the BLS request go out before more extraction
            if len(pending) >= options.max_in_flight:
                await collect_oldest()
        while pending:
            await collect_oldest()


def _result_lines(batch: list[Chunk], vectors: np.ndarray) -> list[str]:
    lines = []
    for chunk, vector in zip(batch, vectors):
        record = json.loads(chunk.to_json())
        record["embedding"] = [round(float(x), 7) for x in vector]
        lines.append(json.dumps(record, ensure_ascii=False))
    return lines


async def ingest_request(pipeline: IngestPipeline, inputs: Mapping[str, np.ndarray | None],
                         parameters: Mapping[str, object], embed: EmbedFn,
                         cancelled: Callable[[], bool] = lambda: False) -> dict[str, np.ndarray]:
    """One ``ingest`` request from its tensors and request parameters to output tensors."""
    reporter = ProgressReporter(nvcf_headers(parameters))
    try:
        document = _first(inputs.get("DOCUMENT"))
        if document is None:
            raise InvalidInputError("DOCUMENT is required")
        filename = (_first(inputs.get("FILENAME")) or b"").decode("utf-8", errors="replace")
        options = IngestOptions.parse(_first(inputs.get("OPTIONS")))
        result = await pipeline.run(document, filename, options, embed, reporter, cancelled)
    except TritonIngestError as exc:
        reporter.fail(str(exc))
        raise
    except Exception:
        reporter.fail("internal error")
        raise
    return result.outputs()
