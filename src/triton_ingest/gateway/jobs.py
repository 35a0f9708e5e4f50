"""The job API's pure parts: what a submitted job may hold, and where jobs live on disk.

A job is ``{"data": <base64 document, or text>, "filename": str, "options": {...}}``, or
``{"path": <file under the gateway's --documents-dir>, ...}`` for documents too large for a request
body. ``encoding`` (``"auto"``, the default, ``"base64"`` or ``"text"``) says how to read ``data``:
``auto`` takes strict base64 when ``data`` is valid base64, else UTF-8 text (prose, with its spaces
and punctuation, never is).

On disk, under ``<work dir>/jobs/<id>/``: ``job.json`` (filename, options, path, state ``queued`` or
``running``), ``document`` (the bytes, until the job ends) and, once it ends, ``result.json``: the
exact item ``fetch_job`` answers. Every file is written to a temporary name, synced and renamed,
so a reader never sees half of one. ``result.json``'s modification time starts its TTL.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

ENCODINGS = ("auto", "base64", "text")
JOB_KEYS = {"data", "path", "filename", "options", "encoding"}


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

    def meta(self) -> dict:
        return {"path": self.path, "filename": self.filename, "options": self.options}


def parse_jobs(body: Any, documents_dir: Path | None, max_jobs: int) -> list[JobSpec]:
    """The jobs of a submit body (one job or a list); JobRequestError names the first problem."""
    jobs = body if isinstance(body, list) else [body]
    if not jobs:
        raise JobRequestError("the body holds no jobs")
    if len(jobs) > max_jobs:
        raise JobRequestError(f"{len(jobs)} jobs in one submit; the limit is {max_jobs} (--max-jobs-per-submit)",
                              413)
    return [_parse_job(job, i, documents_dir) for i, job in enumerate(jobs)]


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


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` at ``path``, all or nothing: a synced temporary file renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class JobStore:
    """Jobs on disk under ``root`` (one directory each)."""

    def __init__(self, root: Path):
        self.root = root

    def _dir(self, job_id: str) -> Path:
        return self.root / job_id

    def create(self, job_id: str, spec: JobSpec) -> None:
        directory = self._dir(job_id)
        directory.mkdir(parents=True)
        if spec.data is not None:
            write_atomically(directory / "document", spec.data)
        write_atomically(directory / "job.json", json.dumps({**spec.meta(), "state": "queued"}).encode())

    def meta(self, job_id: str) -> dict:
        return json.loads((self._dir(job_id) / "job.json").read_text())

    def start(self, job_id: str) -> tuple[dict, bytes]:
        """Mark the job running; its ``job.json`` and document."""
        meta = self.meta(job_id)
        write_atomically(self._dir(job_id) / "job.json", json.dumps({**meta, "state": "running"}).encode())
        document = Path(meta["path"]).read_bytes() if meta["path"] else (self._dir(job_id) / "document").read_bytes()
        return meta, document

    def finish(self, job_id: str, item: dict) -> None:
        """Store the job's final ``fetch_job`` item; its document is no longer needed."""
        write_atomically(self._dir(job_id) / "result.json", json.dumps(item, ensure_ascii=False).encode())
        (self._dir(job_id) / "document").unlink(missing_ok=True)

    def result(self, job_id: str) -> bytes | None:
        try:
            return (self._dir(job_id) / "result.json").read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def unfinished(self) -> Iterator[tuple[str, dict]]:
        """Jobs without a result, oldest first, with their ``job.json``."""
        if not self.root.is_dir():
            return
        jobs = []
        for directory in self.root.iterdir():
            meta_file = directory / "job.json"
            if (directory / "result.json").exists() or not meta_file.exists():
                continue
            jobs.append((meta_file.stat().st_mtime, directory.name, json.loads(meta_file.read_text())))
        for _, job_id, meta in sorted(jobs):
            yield job_id, meta

    def expire(self, ttl: float, now: float | None = None) -> list[str]:
        """Delete jobs whose result is older than ``ttl`` seconds, and leftovers of failed creates."""
        now = time.time() if now is None else now
        removed = []
        for directory in self.root.iterdir() if self.root.is_dir() else ():
            result, meta = directory / "result.json", directory / "job.json"
            stale = result.exists() and now - result.stat().st_mtime > ttl
            orphan = not meta.exists() and now - directory.stat().st_mtime > ttl
            if stale or orphan:
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory.name)
        return removed
