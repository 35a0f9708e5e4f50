"""``python -m pytriton_app`` as a subprocess on free ports, with TritonServer's interface."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from pytriton_app.__main__ import READY_PATHS
from triton_ingest.paths import BUILD, REPO_ROOT
from triton_ingest.serving.server import LocalEndpoints, ServerStartError, free_port, http_ready

READY_LINE = "pytriton_app: ready"


@dataclass
class PyTritonProcess(LocalEndpoints):
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    kind: str = "pytriton"
    env: dict | None = None  # extra environment, e.g. PYTRITON_ACCESS_TOKEN
    process: subprocess.Popen | None = None

    def is_ready(self) -> bool:
        return all(http_ready(self.http_url, path) for path in READY_PATHS)

    def start(self, timeout: float = 180) -> "PyTritonProcess":
        self.log_path = BUILD / "pytriton" / f"pytriton-{self.http_port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytriton_app", "--http-port", str(self.http_port), "--grpc-port",
             str(self.grpc_port), "--metrics-port", str(self.metrics_port)],
            cwd=REPO_ROOT, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT, env={**os.environ, **(self.env or {})})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(f"pytriton_app exited: {self.log_path.read_text()[-3000:]}")
            if READY_LINE in self.log_path.read_text(errors="replace"):
                assert self.is_ready(), "pytriton_app said ready before every model answered"
                return self
            time.sleep(0.5)
        self.stop()
        raise ServerStartError(f"pytriton_app not ready after {timeout} s: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "PyTritonProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
