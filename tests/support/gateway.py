"""The gateway (``nvcf-local`` / ``gateway``) and job workers as subprocesses in front of the test's Triton."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support.commands import CLIENT_CLI, SERVER_CLI
from support.waiting import wait_until
from triton_ingest.serving.server import free_port, http_ready

API_KEY = "nvcf-test-key-5f2b9c"


def start_gateway(server, log: Path, *extra: str, command: str = "nvcf-local") -> tuple[subprocess.Popen, str]:
    """The gateway on a free port, requiring ``API_KEY``; its output goes to ``log``."""
    port = free_port()
    process = subprocess.Popen(
        [CLIENT_CLI, command, "--triton", server.http_url, "--triton-grpc", server.grpc_url, "--port", str(port), "--work-dir", str(log.parent / "gw"),
         *extra], env={**os.environ, "NVCF_LOCAL_API_KEY": API_KEY}, stdout=open(log, "w"), stderr=subprocess.STDOUT)

    def up() -> bool:
        assert process.poll() is None, log.read_text()  # a gateway that died says why at once
        return http_ready(f"localhost:{port}")

    try:
        wait_until(up, f"{command} to answer its readiness")
    except AssertionError:
        process.kill()
        raise
    return process, f"http://localhost:{port}"


def start_worker(server, log: Path, *extra: str, triton_grpc: str | None = None) -> subprocess.Popen:
    """``triton-ingest-server worker`` on the test's Triton; returns once it reads its store."""
    process = subprocess.Popen([SERVER_CLI, "worker", "--triton-grpc", triton_grpc or server.grpc_url, *extra],
                               stdout=open(log, "w"), stderr=subprocess.STDOUT)

    def consuming() -> bool:
        assert process.poll() is None, log.read_text()
        return " jobs at once from " in log.read_text()

    try:
        wait_until(consuming, "the worker to read its job store", timeout=60)
    except AssertionError:
        process.kill()
        raise
    return process
