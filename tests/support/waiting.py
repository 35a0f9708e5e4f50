"""Waiting for observable server state instead of sleeping and hoping.

Budgets here are upper bounds for a busy 2-core machine, never expectations: a condition that
holds sooner ends the wait sooner.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Callable

from triton_ingest.pipeline.progress import read_progress

POLL_SECONDS = 0.02


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Return as soon as ``condition()`` holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(POLL_SECONDS)


def progress_of(output_dir: Path) -> int:
    """``progress`` of the NVCF progress file in ``output_dir``; -1 while there is none yet."""
    body = read_progress(output_dir)
    return -1 if body is None else int(body["progress"])


def metric(metrics_port: int, family: str, **labels: str) -> float:
    """The value of one Prometheus sample on Triton's metrics port (0 when absent)."""
    with urllib.request.urlopen(f"http://localhost:{metrics_port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    for line in text.splitlines():
        if line.startswith(family + "{") and all(w in line.split("}", 1)[0] for w in wanted):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
