"""Turn a triton-ingest NVCF ``progress`` file into :class:`Progress` callbacks."""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path

from ._results import Progress, ProgressCallback


LOCAL_PROGRESS_DIR = Path(tempfile.gettempdir()) / "triton-ingest-nvcf-local" / "progress"
"""Where local progress directories go by default: inside the root that a server started on this
machine allows for NVCF-LARGE-OUTPUT-DIR (``triton_ingest.pipeline.nvcf.LOCAL_NVCF_DIR``)."""
REFUSED_OUTPUT_DIR = "NVCF-LARGE-OUTPUT-DIR"


def local_job_dir(progress_dir: Path | None) -> tuple[Path, dict[str, str]]:
    """A new private directory for one request's progress file, and the headers that name it."""
    parent = progress_dir or LOCAL_PROGRESS_DIR
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    job_dir = Path(tempfile.mkdtemp(prefix="ingest-", dir=parent))
    return job_dir, {"nvcf-reqid": job_dir.name, "nvcf-large-output-dir": str(job_dir)}


def parse_progress(body: dict) -> Progress:
    partial = body.get("partialResponse") or {}
    summary = partial.get("summary") or {}
    return Progress(
        percent=float(body.get("progress", 0)),
        pages_done=partial.get("pages_done", summary.get("pages")),
        pages_total=partial.get("pages_total", summary.get("pages")),
        chunks_done=partial.get("chunks_done", summary.get("chunks")),
    )


class ProgressWatcher:
    """Polls ``<dir>/progress`` in a thread (as a context manager) and calls back whenever it changes."""

    def __init__(self, directory: Path, callback: ProgressCallback, interval: float = 0.1):
        self.path, self.callback, self.interval = Path(directory) / "progress", callback, interval
        self._stop = threading.Event()
        self._last: Progress | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def poll(self) -> None:
        """Call back if the file changed since the last poll."""
        try:
            progress = parse_progress(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            return
        if progress != self._last:
            self._last = progress
            self.callback(progress)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def __enter__(self) -> "ProgressWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()  # the last state, so callers always see the final progress
