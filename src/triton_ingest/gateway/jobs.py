"""The job API's pure part: what a submitted job may hold (the stores are in :mod:`triton_ingest.jobs`).

A job is ``{"data": <base64 document, or text>, "filename": str, "options": {...}}``, or
``{"path": <file under the gateway's --documents-dir>, ...}`` for documents too large for a request
body. ``encoding`` (``"auto"``, the default, ``"base64"`` or ``"text"``) says how to read ``data``:
``auto`` takes strict base64 when ``data`` is valid base64, else UTF-8 text (prose, with its spaces
and punctuation, never is).

``options.split_pages`` (default 32, 0: never) splits a longer PDF into page-range sub-jobs (see
:mod:`.job_split`). ``options.index`` (``{"uri": …, "collection": …}``) has the worker write the chunks into Milvus
instead of returning them. The operator lists the URIs it may write to (``--index-uri``, on the
gateway and the workers): a client only picks one of them (the first, when it names none).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triton_ingest_client.index import COLLECTION_NAME, DEFAULT_COLLECTION

ENCODINGS = ("auto", "base64", "text")
JOB_KEYS = {"data", "path", "filename", "options", "encoding"}
SPLIT_PAGES = 32  # options.split_pages: a PDF with more pages runs as sub-jobs of this many (0: never)
MAX_SPLIT_PAGES = 100_000


class JobRequestError(ValueError):
    """A submit body the API refuses; ``status`` is the HTTP status (400, 413)."""

    def __init__(self, message: str, status: int = 400, param: str | None = None):
        super().__init__(message)
        self.status, self.param = status, param


@dataclass(frozen=True)
class JobSpec:
    """One validated job: the document's bytes (or its path on the server), name and options."""

    data: bytes | None
    path: str | None
    filename: str
    options: dict


def index_target(options: dict, allowed: tuple[str, ...], where: str) -> tuple[str, str] | None:
    """``(uri, collection)`` of a job's ``options.index``, None without one; JobRequestError when
    it is malformed or names a URI the operator did not allow."""
    raw = options.get("index")
    if raw is None:
        return None
    param = "options.index"
    if not isinstance(raw, dict) or set(raw) - {"uri", "collection"}:
        raise JobRequestError(f"{where}: 'options.index' must be {{\"uri\": ..., \"collection\": ...}}", param=param)
    if not allowed:
        raise JobRequestError(f"{where}: this server writes to no index; its operator allows URIs with --index-uri",
                              param=param)
    uri, collection = raw.get("uri", allowed[0]), raw.get("collection", DEFAULT_COLLECTION)
    if uri not in allowed:
        raise JobRequestError(f"{where}: index uri {str(uri)[:200]!r} is not one this server allows (--index-uri)",
                              param=param)
    if not isinstance(collection, str) or not COLLECTION_NAME.fullmatch(collection):
        raise JobRequestError(f"{where}: 'options.index.collection' must match {COLLECTION_NAME.pattern}", param=param)
    return uri, collection


def split_pages_of(options: dict, where: str) -> int:
    """The job's ``split_pages``; JobRequestError when it is not an integer in [0, MAX_SPLIT_PAGES]."""
    value = options.get("split_pages", SPLIT_PAGES)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SPLIT_PAGES:
        raise JobRequestError(f"{where}: 'options.split_pages' must be an integer in [0, {MAX_SPLIT_PAGES}] "
                              f"(0: never split), got {str(value)[:50]!r}", param="options.split_pages")
    return value


def parse_jobs(body: Any, documents_dir: Path | None, max_jobs: int,
               index_uris: tuple[str, ...] = ()) -> list[JobSpec]:
    """The jobs of a submit body (one job or a list); JobRequestError names the first problem."""
    jobs = body if isinstance(body, list) else [body]
    if not jobs:
        raise JobRequestError("the body holds no jobs")
    if len(jobs) > max_jobs:
        raise JobRequestError(f"{len(jobs)} jobs in one submit; the limit is {max_jobs} (--max-jobs-per-submit)",
                              413)
    specs = [_parse_job(job, i, documents_dir) for i, job in enumerate(jobs)]
    for i, spec in enumerate(specs):
        index_target(spec.options, index_uris, f"job {i}")
        split_pages_of(spec.options, f"job {i}")
    return specs


def _parse_job(job: Any, i: int, documents_dir: Path | None) -> JobSpec:
    where = f"job {i}"
    if not isinstance(job, dict):
        raise JobRequestError(f"{where} must be a JSON object")
    unknown = set(job) - JOB_KEYS
    if unknown:
        raise JobRequestError(f"{where} has unknown key(s) {sorted(unknown)}; allowed: {sorted(JOB_KEYS)}")
    if ("data" in job) == ("path" in job):
        raise JobRequestError(f"{where} needs exactly one of 'data' (the document) or 'path' (a file on the server)")
    filename, options = job.get("filename", ""), job.get("options", {})
    if not isinstance(filename, str):
        raise JobRequestError(f"{where}: 'filename' must be a string", param="filename")
    if not isinstance(options, dict):
        raise JobRequestError(f"{where}: 'options' must be a JSON object", param="options")
    if "path" in job:
        path = _served_path(job["path"], where, documents_dir)
        return JobSpec(None, str(path), filename or path.name, options)
    return JobSpec(_decode(job["data"], job.get("encoding", "auto"), where), None, filename, options)


def _decode(data: Any, encoding: Any, where: str) -> bytes:
    if not isinstance(data, str):
        raise JobRequestError(f"{where}: 'data' must be a string (base64, or text)", param="data")
    if encoding not in ENCODINGS:
        raise JobRequestError(f"{where}: 'encoding' must be one of {list(ENCODINGS)}", param="encoding")
    if encoding == "text":
        return data.encode()
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        if encoding == "base64":
            raise JobRequestError(f"{where}: 'data' is not valid base64", param="data") from None
        return data.encode()


def _served_path(raw: Any, where: str, documents_dir: Path | None) -> Path:
    if documents_dir is None:
        raise JobRequestError(f"{where}: 'path' jobs need the gateway started with --documents-dir", param="path")
    if not isinstance(raw, str) or not raw:
        raise JobRequestError(f"{where}: 'path' must be a non-empty string", param="path")
    root = documents_dir.resolve()
    path = (root / raw).resolve()
    if not path.is_relative_to(root):
        raise JobRequestError(f"{where}: 'path' must lie under the gateway's --documents-dir", param="path")
    if not path.is_file():
        raise JobRequestError(f"{where}: no file {raw!r} under the gateway's --documents-dir", param="path")
    return path
