"""NVCF partial progress: ``<NVCF-LARGE-OUTPUT-DIR>/progress`` and a ``*.jsonl.partial`` result.

Every progress update is written atomically (temporary file + rename), so a
concurrent reader always sees complete JSON; progress never decreases and
reaches 100 only when the result file has been renamed to its final name.
On failure the partial result is deleted and progress records the error.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

PARTIAL_LIMIT_BYTES = 250_000
PROGRESS_FILE = "progress"


def read_progress(output_dir: Path) -> dict | None:
    """The ``progress`` file in ``output_dir`` (``{"id", "progress", "partialResponse"}``), or None
    while there is none. Writes are atomic, so a file that exists always parses."""
    try:
        return json.loads((Path(output_dir) / PROGRESS_FILE).read_text())
    except FileNotFoundError:
        return None


def write_json_atomically(path: Path, value: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w") as handle:
            json.dump(value, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def bounded(partial: dict, limit: int = PARTIAL_LIMIT_BYTES) -> dict:
    """``partial`` with its ``recent_chunks`` list trimmed until it serialises under ``limit`` bytes."""
    partial = dict(partial)
    recent = list(partial.get("recent_chunks", []))
    while True:
        partial["recent_chunks"] = recent
        if len(json.dumps(partial).encode()) < limit or not recent:
            return partial
        recent = recent[len(recent) // 2 + 1 :]


class ProgressReporter:
    """Writes NVCF progress and JSONL results for one request; inert without an output dir."""

    def __init__(self, output_dir: Path | None = None, request_id: str = ""):
        """``output_dir`` and ``request_id`` as checked by :class:`.nvcf.NvcfRequest`."""
        self.request_id = request_id
        self.dir = output_dir
        self.progress = 0
        self._results = None
        if self.dir is not None:
            self.result_path = self.dir / f"{self.request_id or 'result'}.jsonl"
            self.partial_path = self.result_path.with_name(self.result_path.name + ".partial")
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                self._results = open(self.partial_path, "w", encoding="utf-8")
            except OSError as exc:
                raise InvalidInputError(f"NVCF-LARGE-OUTPUT-DIR {str(self.dir)!r} cannot be written: "
                                        f"{exc.strerror}") from None

    @property
    def active(self) -> bool:
        return self.dir is not None

    def update(self, progress: float, partial: dict) -> None:
        """Record progress (clamped to [current, 99] until finished) and a bounded partial response."""
        if not self.active:
            return
        self.progress = max(self.progress, min(99, int(progress)))
        body = {"id": self.request_id, "progress": self.progress, "partialResponse": bounded(partial)}
        write_json_atomically(self.dir / PROGRESS_FILE, body)

    def write_results(self, lines: list[str]) -> None:
        if self._results is not None:
            self._results.write("".join(line + "\n" for line in lines))

    def finish(self, summary: dict) -> None:
        """Rename the result to its final name, then report 100."""
        if not self.active:
            return
        self._results.close()
        os.replace(self.partial_path, self.result_path)
        self.progress = 100
        partial = {"status": "complete", "result_file": self.result_path.name, "summary": summary}
        write_json_atomically(self.dir / PROGRESS_FILE, {"id": self.request_id, "progress": 100, "partialResponse": partial})

    def fail(self, message: str) -> None:
        """Delete the partial result; progress keeps its value and records the failure."""
        if not self.active:
            return
        self._results.close()
        self.partial_path.unlink(missing_ok=True)
        body = {"id": self.request_id, "progress": self.progress,
                "partialResponse": {"status": "failed", "error": message}}
        write_json_atomically(self.dir / PROGRESS_FILE, body)
