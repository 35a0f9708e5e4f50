"""Extraction in a bounded pool of worker processes, off the model's event loop.

Every parser and renderer (pdfium, python-docx, python-pptx, Pillow, lexbor) runs in a worker
process (pebble), so extraction of one document overlaps the embedding of another, and a document
that is not done by its deadline (``time_limit_s``) is stopped for real: the worker stuck inside
pdfium or a decoder is killed, the document fails with INVALID_ARG naming the limit, and the pool
starts a fresh worker. Other documents are not affected. Each worker's address space is capped
(``TRITON_INGEST_WORKER_MEMORY_BYTES``, 4 GiB by default), so a document that needs more (a huge
Flate image, a decoder gone wrong) fails alone with INVALID_ARG instead of taking the server down.

The document is written once to a private temporary file, which the workers read by path and which
is deleted when the document is done. PDFs are extracted in ranges of ``PAGES_PER_TASK`` pages, a
few ranges ahead of the chunker; pages that need OCR go to the injected ``ocr`` function as soon as
they are rendered, a bounded number at once, and come back in page order.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Mapping

import numpy as np

from ..errors import InvalidInputError
from .documents import ExtractSettings, Page, open_document, pdf_page_with_tables
from .elements import Element
from .elements import page_text as elements_text
from .images import decode_bgr
from .layout import OcrLine
from .pdf_structure import PdfStructure

PAGES_PER_TASK = 8
TASKS_AHEAD = 2  # extraction ranges in flight ahead of the chunker
OCR_IN_FLIGHT = 4  # pages at the OCR model at once, per document
WORKER_MEMORY_ENV = "TRITON_INGEST_WORKER_MEMORY_BYTES"
DEFAULT_WORKER_MEMORY_BYTES = 4 << 30
OcrFn = Callable[[bytes], Awaitable[list[Element]]]
"""The elements of one page image (encoded): its paragraphs, tables and figures."""
TablesFn = Callable[[bytes, list[OcrLine]], Awaitable[list[dict]]]
"""A rendered text-layer page (encoded) and its text runs (in its pixels) -> the tables the
page-element models find on it (``regions.Region`` as dicts: box in pixels, rows)."""


@dataclass
class DocumentInfo:
    """What opening a document tells (sent back from a worker)."""

    kind: str
    page_count: int
    encoding: str | None
    warnings: list[str]
    pdf_structure: PdfStructure | None = None


def describe(path: str, filename: str, settings: ExtractSettings) -> DocumentInfo:
    """Worker task: open the document, check its limits and say what it is."""
    document = open_document(Path(path).read_bytes(), filename, settings)
    try:
        return DocumentInfo(document.kind, document.page_count, document.encoding, document.warnings,
                            document.pdf_structure)
    finally:
        document.close()


def extract(path: str, filename: str, settings: ExtractSettings, first: int, last: int) -> list[Page]:
    """Worker task: pages ``[first, last)``; a page for OCR carries its image."""
    document = open_document(Path(path).read_bytes(), filename, settings)
    try:
        return list(document.read(first, last))
    finally:
        document.close()


def extract_page_with_tables(path: str, settings: ExtractSettings, index: int, tables: list) -> Page:
    """Worker task: PDF page ``index`` read again around the tables the models found on it."""
    return pdf_page_with_tables(Path(path).read_bytes(), settings, index, tables)


def python_executable() -> str:
    """The interpreter for worker processes. Inside Triton's Python-backend stub, ``sys.executable``
    is the stub itself, so the environment's own ``python`` is used."""
    if Path(sys.executable).name.startswith("python"):
        return sys.executable
    return str(Path(sys.prefix) / "bin" / "python3")


def worker_memory_bytes(env: Mapping[str, str] | None = None) -> int:
    """The address space each worker may use: ``TRITON_INGEST_WORKER_MEMORY_BYTES`` (0: unlimited)."""
    raw = (os.environ if env is None else env).get(WORKER_MEMORY_ENV, "").strip()
    if not raw:
        return DEFAULT_WORKER_MEMORY_BYTES
    if not raw.isdigit():
        raise ValueError(f"{WORKER_MEMORY_ENV} must be a number of bytes (0: unlimited), got {raw!r}")
    return int(raw)


def start_worker(memory_bytes: int, then: Callable[[], None] | None) -> None:
    """Worker initializer: cap the address space (allocations beyond it fail), then ``then``."""
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if then is not None:
        then()


class Extractor:
    """A pool of ``workers`` extraction processes, shared by every document of one model instance;
    each may use ``memory_bytes`` of address space (default: :func:`worker_memory_bytes`)."""

    def __init__(self, workers: int = 1, initializer: Callable[[], None] | None = None,
                 memory_bytes: int | None = None):
        import pebble

        self.memory_bytes = worker_memory_bytes() if memory_bytes is None else memory_bytes
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        context.set_executable(python_executable())
        self.pool = pebble.ProcessPool(max_workers=workers, context=context,
                                       initializer=functools.partial(start_worker, self.memory_bytes, initializer))

    def close(self) -> None:
        self.pool.stop()
        self.pool.join()

    async def decode(self, data: bytes, max_pixels: int, what: str, time_limit_s: int) -> np.ndarray:
        """An encoded image's first frame as BGR pixels (``images.decode_bgr``), decoded in a worker."""
        return await self._run(time.monotonic() + time_limit_s, time_limit_s, decode_bgr, data, max_pixels, what,
                               what=what)

    async def _run(self, deadline: float, time_limit_s: int, function, *args, what: str = "DOCUMENT"):
        """``function(*args)`` in a worker; killed, and the document failed, at ``deadline``."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _over_time(time_limit_s, what)
        from pebble import ProcessExpired

        future = self.pool.schedule(function, args=args)
        try:  # the deadline covers waiting for a worker too; cancelling stops the worker running it
            return await asyncio.wait_for(asyncio.wrap_future(future), remaining)
        except asyncio.TimeoutError:
            raise _over_time(time_limit_s, what) from None
        except (MemoryError, ProcessExpired) as exc:  # a new worker takes the dead one's place
            raise self._out_of_memory(exc) from None
        except OSError as exc:
            if exc.errno == errno.ENOMEM:
                raise self._out_of_memory(MemoryError()) from None
            raise
        finally:
            future.cancel()

    def _out_of_memory(self, exc: BaseException) -> InvalidInputError:
        how = "ran out of memory" if isinstance(exc, MemoryError) else f"died ({exc})"
        limit = f"{self.memory_bytes >> 20} MiB ({WORKER_MEMORY_ENV})" if self.memory_bytes else "unlimited"
        return InvalidInputError(f"DOCUMENT could not be extracted: its worker process {how}; the worker "
                                 f"memory limit is {limit}", "worker_memory")

    async def open(self, data: bytes, filename: str, settings: ExtractSettings, deadline: float,
                   time_limit_s: int) -> "OpenedDocument":
        """Write the document to a private file and describe it in a worker."""
        handle, path = tempfile.mkstemp(prefix="triton-ingest-document-")
        opened = OpenedDocument(self, path, filename, settings, deadline, time_limit_s)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            opened.info = await self._run(deadline, time_limit_s, describe, path, filename, settings)
            opened.settings = replace(settings, pdf_structure=opened.info.pdf_structure)
        except BaseException:
            opened.close()
            raise
        return opened


def _points(box: list[float], scale: float, pad: float = 1.5) -> tuple[float, float, float, float]:
    """A box in a rendering's pixels as PDF points, ``pad`` points wider on every side, so that no
    glyph at the table's edge is read again as text beside it."""
    left, top, right, bottom = (value / scale for value in box)
    return left - pad, top - pad, right + pad, bottom + pad


def _over_time(time_limit_s: int, what: str = "DOCUMENT") -> InvalidInputError:
    return InvalidInputError(f"{what} was not done after {time_limit_s} s (time_limit_s); split it or "
                             "raise the limit", "time_limit")


class OpenedDocument:
    """A document being extracted: its file, what it is, and its pages as they come."""

    def __init__(self, extractor: Extractor, path: str, filename: str, settings: ExtractSettings, deadline: float,
                 time_limit_s: int):
        self.extractor, self.path, self.filename, self.settings = extractor, path, filename, settings
        self.deadline, self.time_limit_s = deadline, time_limit_s
        self.info: DocumentInfo | None = None

    def close(self) -> None:
        Path(self.path).unlink(missing_ok=True)

    def _ranges(self, start: int, stop: int) -> deque[tuple[int, int]]:
        step = PAGES_PER_TASK if self.info.kind == "pdf" else max(stop - start, 1)
        return deque((first, min(first + step, stop)) for first in range(start, stop, step))

    async def pages(self, ocr: OcrFn | None, span: tuple[int, int] | None = None,
                    tables: TablesFn | None = None) -> AsyncIterator[Page]:
        """Every page in order (those of ``span``, ``[first, last)``, when given), text filled in;
        extraction, OCR and the table models run ahead of the consumer."""
        ranges, extracting, ready = self._ranges(*(span or (0, self.info.page_count))), deque(), deque()
        limit = asyncio.Semaphore(OCR_IN_FLIGHT)
        try:
            while ranges or extracting or ready:
                while ranges and len(extracting) < TASKS_AHEAD:
                    first, last = ranges.popleft()
                    extracting.append(asyncio.ensure_future(self.extractor._run(
                        self.deadline, self.time_limit_s, extract, self.path, self.filename, self.settings, first, last)))
                if not ready:
                    for page in await extracting.popleft():
                        ready.append(asyncio.ensure_future(self._read(page, ocr, tables, limit)))
                    continue
                yield await ready.popleft()
        finally:
            for pending in (*extracting, *ready):
                pending.cancel()

    async def _read(self, page: Page, ocr: OcrFn | None, tables: TablesFn | None, limit: asyncio.Semaphore) -> Page:
        """``page`` with its text: OCR'd when it carries an image; a rendered text-layer page is
        given to the table models."""
        if page.image is None:
            return page
        if page.runs is not None:
            return await self._with_tables(page, tables, limit)
        if ocr is None:
            raise InvalidInputError("DOCUMENT needs OCR (a scanned page or an image), which this server does not "
                                    'serve; send OPTIONS {"extract_method": "pdfium"} to skip those pages',
                                    "ocr_unavailable")
        async with limit:
            elements = await ocr(page.image)
        return Page(page.number, elements_text(elements), "ocr", elements=elements)

    async def _with_tables(self, page: Page, tables: TablesFn | None, limit: asyncio.Semaphore) -> Page:
        """A text-layer page read again around the tables the models find on it (as it was without)."""
        if tables is None:
            raise InvalidInputError('OPTIONS.tables "models" needs the page_elements and table_structure models, '
                                    'which this server does not serve; send "auto"', "models_unavailable")
        async with limit:
            found = await tables(page.image, page.runs)
        given = [(_points(t["box"], page.scale), t["rows"]) for t in found if t["kind"] == "table"]
        if not given:
            return replace(page, image=None, runs=None)
        return await self.extractor._run(self.deadline, self.time_limit_s, extract_page_with_tables, self.path,
                                         self.settings, page.number - 1, given)
