"""A local directory of finished job results, so ``submit`` and ``fetch`` work across processes
without NVCF: one ``<id>.json`` per job, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from . import _errors
from ._errors import NotFoundError, TritonIngestClientError
from ._results import IngestResult, JobResult


def save(directory: Path, job: JobResult) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    record = {"id": job.id, "source": job.source, "ok": job.ok}
    if job.ok:
        record.update(summary=job.result.summary, chunks=job.result.chunks,
                      embeddings=job.result.embeddings.round(7).tolist())
    else:
        record["error"] = {"type": type(job.error).__name__, "message": str(job.error), "status": job.error.status}
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".job-")
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle)
    os.replace(tmp, directory / f"{job.id}.json")


def load(directory: Path, job_id: str) -> JobResult:
    path = directory / f"{Path(job_id).name}.json"
    if not path.is_file():
        return JobResult(job_id, "", error=NotFoundError(f"no job {job_id} in {directory}"))
    record = json.loads(path.read_text())
    if record["ok"]:
        result = IngestResult(record["chunks"], np.array(record["embeddings"], dtype=np.float32).reshape(-1, 384),
                              record["summary"])
        return JobResult(job_id, record["source"], result=result)
    error_type = getattr(_errors, record["error"]["type"], TritonIngestClientError)
    return JobResult(job_id, record["source"], error=error_type(record["error"]["message"], record["error"]["status"]))
