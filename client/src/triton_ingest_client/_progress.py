"""Turn a triton-ingest NVCF ``progress`` file into :class:`Progress` callbacks."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ._results import Progress, ProgressCallback


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
