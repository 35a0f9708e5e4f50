"""Extraction in worker processes: pages in order with OCR filled in, and a hard time limit that
kills a stuck worker without harming other documents (a real pebble pool, no server)."""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path

import psutil
import pytest

from support.documents import make_pdf
from support.hanging import MARKER, PID_FILE, hang_on_marked_pages
from support.scans import PROSE, mixed_pdf
from support.waiting import wait_until
from triton_ingest.errors import InvalidInputError
from triton_ingest.pipeline.documents import ExtractSettings
from triton_ingest.pipeline.elements import Element
from triton_ingest.pipeline.extraction import PAGES_PER_TASK, WORKER_MEMORY_ENV, Extractor, worker_memory_bytes


@pytest.fixture(scope="module")
def hanging_pool(tmp_path_factory):
    """Two workers that hang on any page saying HANG-THE-EXTRACTOR (and write down their pid)."""
    os.environ[PID_FILE] = str(tmp_path_factory.mktemp("hanging") / "pid")
    extractor = Extractor(workers=2, initializer=hang_on_marked_pages)
    yield extractor
    extractor.close()


async def extract(extractor: Extractor, data: bytes, time_limit_s: int = 600, ocr=None) -> list:
    opened = await extractor.open(data, "doc.pdf", ExtractSettings(), time.monotonic() + time_limit_s, time_limit_s)
    try:
        return [page async for page in opened.pages(ocr)]
    finally:
        opened.close()


def test_pages_arrive_in_order_with_ocr_text_filled_in(hanging_pool):
    layout = [("text", PROSE[0]), ("scan", PROSE[1]), ("text", PROSE[2]), ("scan", PROSE[3])]
    read, finished, later_page_done = [], [], asyncio.Event()

    async def ocr(image: bytes) -> list[Element]:
        read.append(image[:8])
        call = len(read)
        if call == 1:  # page 2 finishes only after page 4 has: the order must still hold
            await asyncio.wait_for(later_page_done.wait(), 60)
        finished.append(call)
        later_page_done.set()
        return [Element("paragraph", f"ocr text {call}")]

    pages = asyncio.run(extract(hanging_pool, mixed_pdf(layout), ocr=ocr))
    assert finished == [2, 1]  # really out of order
    assert [(p.number, p.method) for p in pages] == [(1, "text"), (2, "ocr"), (3, "text"), (4, "ocr")]
    assert read == [b"\x89PNG\r\n\x1a\n"] * 2 and all(p.image is None for p in pages)
    assert pages[0].text.startswith("Triton") and (pages[1].text, pages[3].text) == ("ocr text 1", "ocr text 2")


def test_a_long_pdf_is_extracted_in_ranges_in_order(hanging_pool):
    pages = asyncio.run(extract(hanging_pool, make_pdf(3 * PAGES_PER_TASK + 1, paragraphs=1)))
    assert [p.number for p in pages] == list(range(1, 3 * PAGES_PER_TASK + 2))


def test_a_page_that_needs_ocr_without_an_ocr_model_fails_clearly(hanging_pool):
    with pytest.raises(InvalidInputError, match="needs OCR"):
        asyncio.run(extract(hanging_pool, mixed_pdf([("scan", PROSE[0])])))


def test_a_stuck_worker_is_killed_at_the_time_limit_and_others_are_unharmed(hanging_pool):
    stuck = mixed_pdf([("text", PROSE[0]), ("text", f"{MARKER} {PROSE[1]}")])
    good = make_pdf(2 * PAGES_PER_TASK)

    async def both():
        return await asyncio.gather(extract(hanging_pool, stuck, time_limit_s=3), extract(hanging_pool, good),
                                    return_exceptions=True)

    failed, pages = asyncio.run(both())
    assert isinstance(failed, InvalidInputError) and failed.reason == "time_limit"
    assert "not done after 3 s (time_limit_s)" in str(failed)
    assert [p.number for p in pages] == list(range(1, 2 * PAGES_PER_TASK + 1))
    stuck_worker = int(Path(os.environ[PID_FILE]).read_text())
    wait_until(lambda: not psutil.pid_exists(stuck_worker), "the stuck worker to be killed")
    again = asyncio.run(extract(hanging_pool, make_pdf(1)))  # the pool replaced the killed worker
    assert [p.number for p in again] == [1]


def white_png(side: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (side, side), 255).save(out, "PNG")
    return out.getvalue()


def test_a_document_over_the_worker_memory_limit_fails_alone():
    """A 15,000 x 15,000 PNG (a few hundred KB) needs about 1.6 GB to decode: over a 1 GiB worker
    limit it is INVALID_ARG naming the limit, and the pool's next document is complete."""
    settings = ExtractSettings(max_pixels=500_000_000)
    extractor = Extractor(workers=1, memory_bytes=1 << 30)

    async def pages(data: bytes, name: str) -> list:
        opened = await extractor.open(data, name, settings, time.monotonic() + 120, 120)
        try:
            return [page async for page in opened.pages(lambda image: asyncio.sleep(0, [Element("paragraph", "read")]))]
        finally:
            opened.close()

    try:
        with pytest.raises(InvalidInputError, match="ran out of memory; the worker memory limit is 1024 MiB"):
            asyncio.run(pages(white_png(15_000), "huge.png"))
        assert [page.text for page in asyncio.run(pages(white_png(1_000), "small.png"))] == ["read"]
        assert len(asyncio.run(pages(make_pdf(3), "doc.pdf"))) == 3
    finally:
        extractor.close()


def test_the_worker_memory_limit_is_the_operators():
    assert worker_memory_bytes({}) == 4 << 30 and worker_memory_bytes({WORKER_MEMORY_ENV: "0"}) == 0
    with pytest.raises(ValueError, match="TRITON_INGEST_WORKER_MEMORY_BYTES must be a number of bytes"):
        worker_memory_bytes({WORKER_MEMORY_ENV: "4G"})
