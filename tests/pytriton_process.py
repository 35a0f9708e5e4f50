"""``python -m pytriton_app`` as a subprocess on free ports, with TritonServer's interface."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

from triton_ingest.server import REPO_ROOT, LocalEndpoints, ServerStartError, free_port


@dataclass
class PyTritonProcess(LocalEndpoints):
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    kind: str = "pytriton"
    env: dict | None = None  # extra environment, e.g. PYTRITON_ACCESS_TOKEN
    process: subprocess.Popen | None = None

    def is_ready(self) -> bool:
        try:
            for path in ("/v2/health/ready", "/v2/models/ingest/ready", "/v2/models/ingest_stream/ready"):
                with urllib.request.urlopen(f"http://{self.http_url}{path}", timeout=2) as reply:
                    if reply.status != 200:
                        return False
            return True
        except OSError:
            return False

    def start(self, timeout: float = 180) -> "PyTritonProcess":
        self.log = REPO_ROOT / "build" / "pytriton" / f"pytriton-{self.http_port}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytriton_app", "--http-port", str(self.http_port), "--grpc-port",
             str(self.grpc_port), "--metrics-port", str(self.metrics_port)],
            cwd=REPO_ROOT, stdout=open(self.log, "w"), stderr=subprocess.STDOUT, env={**os.environ, **(self.env or {})})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(f"pytriton_app exited: {self.log.read_text()[-3000:]}")
            if self.is_ready():
                return self
            time.sleep(0.5)
        self.stop()
        raise ServerStartError(f"pytriton_app not ready after {timeout} s: {self.log.read_text()[-3000:]}")

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
