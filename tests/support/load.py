"""Shared pieces of the load, overload and soak tests: workloads with verifiable answers,
latency percentiles, process-tree RSS and readiness sampling."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

from triton_ingest.paths import BUILD
from triton_ingest.serving.server import http_ready

REPORT_DIR = BUILD / "reliability"
WORDS = ("triton batches requests dynamically while tokenizers split text into word pieces and "
         "embeddings land in a vector index for search over documents pages and chunks").split()


def embed_texts(index: int, rng: np.random.Generator) -> list[str]:
    """1-16 texts, mostly 3-40 words and one in ten 150-250 (truncated at 256 tokens); each
    names its request and row, so a mix-up cannot pass."""
    count = int(rng.choice([1, 1, 1, 2, 2, 3, 4, 16]))
    lengths = [int(rng.integers(150, 250)) if rng.random() < 0.1 else int(rng.integers(3, 40)) for _ in range(count)]
    return [f"request {index} row {row}: " + " ".join(rng.choice(WORDS, n)) for row, n in enumerate(lengths)]


def ingest_document(index: int, rng: np.random.Generator) -> tuple[str, bytes]:
    """A small Markdown or text document (1-3 chunks) carrying its own marker."""
    body = "\n\n".join(" ".join(rng.choice(WORDS, 120)) for _ in range(int(rng.integers(1, 4))))
    name = f"doc-{index}.{'md' if index % 2 else 'txt'}"
    return name, f"# document {index} marker\n\n{body}\n".encode()


def percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"count": 0}
    values = np.asarray(seconds) * 1000
    return {"count": len(values), "p50_ms": round(float(np.percentile(values, 50)), 1),
            "p99_ms": round(float(np.percentile(values, 99)), 1), "max_ms": round(float(values.max()), 1)}


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children (tritonserver + stubs), MiB.

    Raises when the process itself cannot be measured, so a memory bound can never pass on a
    zero; a child that exits while it is being measured no longer holds memory and is skipped."""
    root = psutil.Process(pid)  # psutil.NoSuchProcess (an error) when the server is gone
    total = root.memory_info().rss
    for child in root.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return round(total / 2**20, 1)


@dataclass
class ReadinessProbe:
    """Polls ``/v2/health/ready`` every ``interval`` seconds in a thread; records when it failed."""

    http_url: str
    interval: float = 0.2
    timeout: float = 5.0  # a busy 2-core machine answers slowly; slow is not unready
    checks: int = 0
    failures: list = field(default_factory=list)

    def __enter__(self) -> "ReadinessProbe":
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.interval):
            self.checks += 1
            if not http_ready(self.http_url, timeout=self.timeout):
                self.failures.append(f"not ready at {time.monotonic() - started:.1f} s")

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def write_report(name: str, report: dict) -> Path:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = REPORT_DIR / f"{name}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\n{name}: {json.dumps(report)}")
    return path


QUEUE_FULL = "Exceeds maximum queue size"


class QueueFullRetries:
    """Sends a request again, after a short backoff, when a full queue refused it (503 /
    UNAVAILABLE, the documented backpressure the SDK retries), and counts how often."""

    def __init__(self, attempts: int = 8):
        self.attempts, self.count, self._lock = attempts, 0, threading.Lock()

    def __call__(self, fn, *args):
        for attempt in range(self.attempts):
            try:
                return fn(*args)
            except Exception as exc:
                if QUEUE_FULL not in str(exc) or attempt == self.attempts - 1:
                    raise
                with self._lock:
                    self.count += 1
                time.sleep(min(4.0, 0.25 * 2**attempt))
        raise AssertionError("unreachable")


def timed(fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started
