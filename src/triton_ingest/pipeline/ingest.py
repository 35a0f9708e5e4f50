"""The ingest pipeline: document bytes -> pages -> token chunks -> embeddings, with NVCF progress.

Pages come from the extractor's worker processes (``extraction``), in order, with the text of
scanned pages and images read by an injected ``ocr`` (BLS to the ``ocr`` model). Embedding goes
through an injected async ``embed(texts)`` (BLS to the ``embed`` or ``embed_int8`` ensemble inside
Triton, as OPTIONS.embed_model says; chunks, summary and progress name it),
``embed_batch`` chunks per call and up to ``max_in_flight`` calls outstanding, so Triton's dynamic
batcher stays full while extraction and chunking continue. Nothing is ever one giant tensor.
``ingest`` keeps every batch for its single response; ``ingest_stream``
hands each batch to ``on_batch`` as soon as it is embedded and keeps none.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from contextlib import aclosing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Awaitable, Callable, Mapping

import numpy as np

from ..contracts import EMBEDDING_DIM
from ..errors import CancelledError, InvalidInputError, TritonIngestError, UnavailableError
from .chunking import Chunk, TokenChunker
from .extraction import DocumentInfo, Extractor, OcrFn, TablesFn
from .elements import Element
from .layout import OcrLine, ocr_elements
from .metrics import IngestMetrics
from .options import IngestOptions, ceilings
from .nvcf import NvcfRequest
from .progress import ProgressReporter

EmbedFn = Callable[[list[str]], Awaitable[np.ndarray]]
OcrModelFn = Callable[[bytes, dict], Awaitable[tuple[list[dict], list[dict]]]]
"""The ``ocr`` model: an encoded image and its OPTIONS -> its LINES (``{"text", "score", "box"}`` each)
and ELEMENTS (the tables and figures found: ``regions.Region`` as dicts)."""
RegionsFn = Callable[[np.ndarray, list[OcrLine]], Awaitable[list]]
"""``regions.RegionReader.read``: a BGR page and its text lines -> the tables and figures on it."""
BatchFn = Callable[[list[Chunk], np.ndarray, dict], Awaitable[None]]


def with_retries(embed: EmbedFn, attempts: int = 6, base: float = 0.1) -> EmbedFn:
    """``embed`` retried with backoff (0.1 s doubling, about 3 s in all) while Triton reports a
    transient error, such as a full embed queue under overload; then the UnavailableError stands."""

    async def retrying(texts: list[str]) -> np.ndarray:
        for attempt in range(attempts):
            try:
                return await embed(texts)
            except UnavailableError:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(base * 2**attempt)
        raise AssertionError("unreachable")

    return retrying


def outputs(chunks: list[Chunk], embeddings: np.ndarray, summary: dict) -> dict[str, np.ndarray]:
    """Output tensors of ``ingest`` / one ``ingest_stream`` response (contract ``contracts.INGEST``)."""
    return {
        "CHUNKS": np.array([c.to_json().encode() for c in chunks], dtype=object),
        "EMBEDDINGS": np.asarray(embeddings, dtype=np.float32).reshape(-1, EMBEDDING_DIM),
        "SUMMARY": np.array([json.dumps(summary).encode()], dtype=object),
    }


def stream_batch_outputs(chunks: list[Chunk], embeddings: np.ndarray, progress: dict) -> dict[str, np.ndarray]:
    """One ``ingest_stream`` response for an embedded batch; SUMMARY carries the progress."""
    return outputs(chunks, embeddings, {"final": False, **progress})


def stream_final_outputs(result: "IngestResult") -> dict[str, np.ndarray]:
    """The last ``ingest_stream`` response: no chunks, the full SUMMARY with ``"final": true``."""
    return outputs([], result.embeddings, {"final": True, **result.summary})


@dataclass
class IngestResult:
    chunks: list[Chunk]
    embeddings: np.ndarray
    summary: dict

    def outputs(self) -> dict[str, np.ndarray]:
        return outputs(self.chunks, self.embeddings, self.summary)


@dataclass
class _Run:
    """Mutable state of one document's ingestion: chunks go out in batches of ``embed_batch``,
    with at most ``max_in_flight`` embed calls outstanding."""

    info: DocumentInfo
    options: IngestOptions
    reporter: ProgressReporter
    embed: EmbedFn
    cancelled: Callable[[], bool]
    deadline: float
    on_batch: BatchFn | None
    keep: bool
    span: tuple[int, int]  # the pages extracted, [first, last) 0-based
    chunks: list[Chunk] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    count: int = 0
    ocr_pages: int = 0
    table_chunks: int = 0
    figure_chunks: int = 0
    batch: list[Chunk] = field(default_factory=list)
    pending: deque = field(default_factory=deque)
    timings: dict = field(default_factory=lambda: {"extract_chunk_ms": 0.0, "embed_wait_ms": 0.0, "ocr_ms": 0.0})

    async def add(self, chunks: list[Chunk]) -> None:
        for chunk in chunks:
            self.table_chunks += chunk.content_type == "table"
            self.figure_chunks += chunk.content_type == "figure"
            self.batch.append(chunk)
            if len(self.batch) >= self.options.embed_batch:
                await self.send()

    async def send(self) -> None:
        self.check_deadline()
        if self.cancelled():
            raise CancelledError("the request was cancelled")
        batch, self.batch = [replace(c, embed_model=self.options.embed_model) for c in self.batch], []
        self.pending.append((asyncio.ensure_future(self.embed([c.text for c in batch])), batch))
        await asyncio.sleep(0)  # let the BLS request go out before more extraction
        if len(self.pending) >= self.options.max_in_flight:
            await self.collect_oldest()

    async def finish(self) -> None:
        if self.batch:
            await self.send()
        while self.pending:
            self.check_deadline()
            await self.collect_oldest()

    async def collect_oldest(self) -> None:
        t = time.perf_counter()
        future, batch = self.pending.popleft()
        vectors = await future
        self.timings["embed_wait_ms"] += (time.perf_counter() - t) * 1000
        self.count += len(batch)
        if self.keep:
            self.chunks.extend(batch)
            self.vectors.append(vectors)
        if self.reporter.active:
            self.reporter.write_results(_result_lines(batch, vectors))
        pages_done, pages_total = batch[-1].pages[-1] - self.span[0], self.span[1] - self.span[0]
        progress = {"pages_done": pages_done, "pages_total": pages_total, "chunks_done": self.count,
                    "embed_model": self.options.embed_model}
        self.reporter.update(100 * pages_done / pages_total, {
            **progress,
            "recent_chunks": [{"chunk_index": c.chunk_index, "pages": c.pages, "text": c.text[:200]} for c in batch],
        })
        if self.on_batch is not None:
            await self.on_batch(batch, vectors, progress)

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise InvalidInputError(
                f"DOCUMENT was not done after {self.options.time_limit_s} s (time_limit_s); "
                "split it or raise the limit", "time_limit")

    def timed_ocr(self, ocr: OcrFn | None) -> OcrFn | None:
        """``ocr`` that counts its pages and time into the summary."""
        if ocr is None:
            return None

        async def timed(image: bytes) -> list[Element]:
            started = time.perf_counter()
            elements = await ocr(image)
            self.ocr_pages += 1
            self.timings["ocr_ms"] += (time.perf_counter() - started) * 1000
            return elements

        return timed


class IngestPipeline:
    """Extraction (in ``extractor``'s worker processes), chunking and embedding of documents."""

    def __init__(self, tokenizer_json: str | Path, extractor: Extractor):
        ceilings()  # a bad TRITON_INGEST_CEILING_* fails the model's load, not each request
        self.chunker = TokenChunker(str(tokenizer_json))
        self.extractor = extractor

    async def run(self, data: bytes, filename: str, options: IngestOptions, embed: EmbedFn,
                  reporter: ProgressReporter, cancelled: Callable[[], bool] = lambda: False,
                  on_batch: BatchFn | None = None, keep: bool = True, ocr: OcrFn | None = None,
                  tables: TablesFn | None = None) -> IngestResult:
        """Ingest one document; with ``keep=False`` the result holds the summary only. ``ocr``
        reads page images (scans, images); without it, such pages fail the document. ``tables``
        looks for tables on rendered text-layer pages (``tables: "models"``)."""
        t0 = time.perf_counter()
        deadline = time.monotonic() + options.time_limit_s
        if len(data) > options.max_bytes:
            raise InvalidInputError(
                f"DOCUMENT is {len(data)} bytes; the limit (max_bytes) is {options.max_bytes}", "too_large")
        opened = await self.extractor.open(data, filename, options.extract_settings(), deadline, options.time_limit_s)
        try:
            span = options.page_span(opened.info.page_count)
        except BaseException:
            opened.close()
            raise
        run = _Run(opened.info, options, reporter, with_retries(embed), cancelled, deadline, on_batch, keep, span)
        run.timings["open_ms"] = (time.perf_counter() - t0) * 1000
        feed = self.chunker.with_sizes(options.chunk_size, options.chunk_overlap).feed(options.text_depth, filename)
        feed.sections.resume(opened.info.pdf_structure, span[0])
        try:
            async with aclosing(opened.pages(run.timed_ocr(ocr), span, tables)) as pages:
                while True:
                    t = time.perf_counter()
                    page = await anext(pages, None)
                    chunks = feed.add(page) if page is not None else feed.finish()
                    run.timings["extract_chunk_ms"] += (time.perf_counter() - t) * 1000
                    await run.add(chunks)
                    if page is None:
                        break
            await run.finish()
        finally:  # on failure, let outstanding BLS calls finish before the request ends
            opened.close()
            await asyncio.gather(*(f for f, _ in run.pending), return_exceptions=True)
        summary = _summary(run, filename, time.perf_counter() - t0)
        embeddings = np.vstack(run.vectors) if run.vectors else np.zeros((0, EMBEDDING_DIM), np.float32)
        reporter.finish(summary)
        return IngestResult(run.chunks, embeddings, summary)


def _summary(run: _Run, filename: str, seconds: float) -> dict:
    warnings = list(run.info.warnings)
    if not run.count:
        warnings.append("no text was extracted (an empty document, or images with extract_method \"pdfium\"?)")
    return {
        "source": filename, "kind": run.info.kind, "encoding": run.info.encoding,
        "pages": run.span[1] - run.span[0], "ocr_pages": run.ocr_pages, "chunks": run.count,
        "table_chunks": run.table_chunks, "figure_chunks": run.figure_chunks,
        "embed_model": run.options.embed_model, "options": run.options.as_dict(), "warnings": warnings,
        "timings_ms": {**{k: round(v, 1) for k, v in run.timings.items()}, "total_ms": round(seconds * 1000, 1)},
        **({"page_range": [run.span[0] + 1, run.span[1]], "document_pages": run.info.page_count}
           if run.span != (0, run.info.page_count) else {}),
    }


def _result_lines(batch: list[Chunk], vectors: np.ndarray) -> list[str]:
    lines = []
    for chunk, vector in zip(batch, vectors):
        record = {**asdict(chunk), "embedding": [round(float(x), 7) for x in vector]}
        lines.append(json.dumps(record, ensure_ascii=False))
    return lines


def single(value: np.ndarray | None, name: str) -> bytes | None:
    """The one element of an optional BYTES input tensor, as bytes (None when the input is absent)."""
    if value is None:
        return None
    flat = np.asarray(value, dtype=object).reshape(-1)
    if flat.size != 1:
        raise InvalidInputError(f"{name} must hold exactly one element, got {flat.size}")
    item = flat[0]
    return item if isinstance(item, bytes) else str(item).encode()


def page_reader(ocr: OcrModelFn | None, options: IngestOptions) -> OcrFn | None:
    """The elements of a page image, read by the ``ocr`` model with the document's OCR options:
    paragraphs, and with ``tables`` "auto" the tables and figures found on it."""
    if ocr is None:
        return None

    async def read(image: bytes) -> list[Element]:
        lines, regions = await ocr(image, {"language": options.ocr_language, "max_pixels": options.max_pixels,
                                           "tables": "off" if options.tables == "off" else "auto"})
        return ocr_elements([OcrLine(**line) for line in lines], regions)

    return read


def table_reader(regions: RegionsFn | None, extractor: Extractor, options: IngestOptions) -> TablesFn | None:
    """The tables on a rendered text-layer page: decoded in a worker, then ``regions`` (the
    page-element models' ``RegionReader.read``) with the page's text runs in the cells."""
    if regions is None:
        return None

    async def read(image: bytes, runs: list[OcrLine]) -> list[dict]:
        pixels = await extractor.decode(image, options.max_pixels, "a rendered page", options.time_limit_s)
        return [region.as_dict() for region in await regions(pixels, runs) if region.kind == "table"]

    return read


async def ingest_request(pipeline: IngestPipeline, inputs: Mapping[str, np.ndarray | None],
                         parameters: Mapping[str, object], embedders: Mapping[str, EmbedFn],
                         cancelled: Callable[[], bool] = lambda: False,
                         on_batch: BatchFn | None = None, metrics: IngestMetrics | None = None,
                         ocr: OcrModelFn | None = None, regions: RegionsFn | None = None) -> IngestResult:
    """One ``ingest`` (or, with ``on_batch``, ``ingest_stream``) request from tensors and parameters;
    ``embedders`` are the embedding models served, by name (OPTIONS.embed_model picks one);
    ``ocr`` reads page images and ``regions`` finds tables on rendered pages, when served."""
    reporter = ProgressReporter()
    try:
        nvcf = NvcfRequest.from_parameters(parameters)
        reporter = ProgressReporter(nvcf.output_dir, nvcf.request_id)
        document = single(inputs.get("DOCUMENT"), "DOCUMENT")
        filename = (single(inputs.get("FILENAME"), "FILENAME") or b"").decode("utf-8", errors="replace")
        options = IngestOptions.parse(single(inputs.get("OPTIONS"), "OPTIONS"))
        if options.asset:
            document = nvcf.read_asset(options.asset, options.max_bytes)
            filename = filename or options.asset
        if document is None:
            raise InvalidInputError("DOCUMENT is required")
        embed = embedders.get(options.embed_model)
        if embed is None:
            raise InvalidInputError(f"OPTIONS.embed_model {options.embed_model!r} is not served by this deployment; "
                                    f"it serves {sorted(embedders)}")
        result = await pipeline.run(document, filename, options, embed, reporter, cancelled,
                                    on_batch=on_batch, keep=on_batch is None, ocr=page_reader(ocr, options),
                                    tables=table_reader(regions, pipeline.extractor, options))
    except BaseException as exc:
        reporter.fail(str(exc) if isinstance(exc, TritonIngestError) else "internal error")
        if metrics is not None:
            metrics.failure(exc)
        raise
    if metrics is not None:
        metrics.success(result.summary)
    return result
