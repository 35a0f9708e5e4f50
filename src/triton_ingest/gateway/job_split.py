"""Large PDFs as page-range sub-jobs: the plan, and one result put back together.

A job whose PDF has more than ``split_pages`` pages (a job option: default 32, 0 turns it off)
becomes sub-jobs of ``split_pages`` pages each, run by any workers at once through ingest's
``first_page``/``last_page`` OPTIONS. The parent's progress is the mean of its sub-jobs'; its
result is theirs in page order with chunk indices renumbered, which equals the unsplit result:
chunks never cross pages at ``text_depth: "page"``. So only such jobs are split (not
``text_depth: "document"``, nor jobs that name their own page range or write to an index). A
failed sub-job fails the parent, with a reason that names its page range.
"""

from __future__ import annotations

from typing import Any

import numpy as np

JOB_ONLY_OPTIONS = ("split_pages", "index")  # job options that are not ingest's OPTIONS


def ingest_options(options: dict) -> dict:
    """The OPTIONS ingest gets: the job's, without the job-only keys."""
    return {k: v for k, v in options.items() if k not in JOB_ONLY_OPTIONS}


def may_split(data: bytes, options: dict) -> bool:
    """Whether splitting keeps the result: a PDF, at page depth, over its whole page range."""
    return (b"%PDF-" in data[:1024] and options.get("text_depth", "page") == "page" and "index" not in options
            and "first_page" not in options and "last_page" not in options)


MAX_PARTS = 64
"""Sub-jobs one job may become: a client's ``split_pages: 1`` on a 5,000-page PDF gets 64 parts of
79 pages, not 5,000 sub-jobs past the unfinished-jobs limit (sub-jobs do not count against it)."""


def page_ranges(page_count: int, split_pages: int) -> list[tuple[int, int]]:
    """1-based inclusive ``(first, last)`` ranges of ``split_pages`` pages (more where that would
    make over :data:`MAX_PARTS` parts) covering the document."""
    split_pages = max(split_pages, -(-page_count // MAX_PARTS))
    return [(first, min(first + split_pages - 1, page_count)) for first in range(1, page_count + 1, split_pages)]


def child_options(options: dict, first: int, last: int) -> dict:
    return {**ingest_options(options), "first_page": first, "last_page": last}


def failure(items: list[dict], ranges: list[tuple[int, int]]) -> dict | None:
    """The parent's error for its first failed sub-job (``reason`` kept, the range named), or None."""
    for item, (first, last) in zip(items, ranges):
        if item["status"] in ("failed", "not_found"):
            error = item.get("error") or {}
            return {"reason": error.get("reason", "server_error"),
                    "message": f"pages {first}-{last}: {error.get('message', 'the sub-job failed')}"}
    return None


def progress(items: list[dict | None]) -> float:
    """The parent's progress: its sub-jobs' mean (one not yet seen counts 0, one finished 100)."""
    done = [100.0 if item and item["status"] != "pending" else float(item["progress"]) if item else 0.0
            for item in items]
    return sum(done) / len(done)


def merged(job_id: str, filename: str, items: list[dict], split_pages: int, seconds: float
           ) -> tuple[dict[str, Any], np.ndarray]:
    """The parent's ``done`` item from its sub-jobs' (in page order), and the embeddings apart."""
    chunks, vectors = [], []
    for item in items:
        for chunk in item["result"]["chunks"]:
            chunk = dict(chunk)
            vectors.append(chunk.pop("embedding"))
            chunks.append({**chunk, "chunk_index": len(chunks)})
    summaries = [item["result"]["summary"] for item in items]
    first = summaries[0]
    summary = {k: v for k, v in first.items() if k not in ("page_range", "document_pages", "timings_ms")}
    summary.update(
        pages=sum(s["pages"] for s in summaries), ocr_pages=sum(s.get("ocr_pages", 0) for s in summaries),
        table_chunks=sum(s.get("table_chunks", 0) for s in summaries),
        figure_chunks=sum(s.get("figure_chunks", 0) for s in summaries),
        chunks=len(chunks), warnings=list(dict.fromkeys(w for s in summaries for w in s.get("warnings", []))),
        options={**first.get("options", {}), "first_page": 1, "last_page": 0},
        timings_ms={"total_ms": round(seconds * 1000, 1)},
        split={"parts": len(items), "split_pages": split_pages})
    embeddings = np.array(vectors, dtype=np.float32) if vectors else np.zeros((0, 0), np.float32)
    return {"job_id": job_id, "status": "done", "progress": 100, "filename": filename,
            "result": {"summary": summary, "chunks": chunks}}, embeddings
