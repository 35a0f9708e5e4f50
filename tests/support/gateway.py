"""The gateway (``nvcf-local`` / ``gateway``) and job workers as subprocesses in front of the test's Triton."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
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


def stop(process: subprocess.Popen, log: Path, timeout: float = 30.0) -> int:
    """SIGTERM, then its exit status. One still running after ``timeout`` s is made to print every
    thread's stack (SIGUSR1: faulthandler), killed, and the failure shows its log's end."""
    process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)
        try:
            wait_until(lambda: "most recent call first" in log.read_text(errors="replace"), "the stacks", 10)
        finally:
            process.kill()
            process.wait()
        raise AssertionError(f"{process.args[:2]} still ran {timeout:.0f} s after SIGTERM; the end of "
                             f"{log}:\n{log.read_text(errors='replace')[-12000:]}") from None


def call(url: str, path: str, body=None, key: str | None = API_KEY, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, data=data, headers=headers), timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def submit(url: str, jobs) -> list[str]:
    status, body = call(url, "/v1/submit_job", jobs)
    assert status == 200, body
    assert all(uuid.UUID(i).version == 4 for i in body["job_ids"])
    return body["job_ids"]


def fetch(url: str, ids: list[str]) -> list[dict]:
    status, body = call(url, "/v1/fetch_job?" + urllib.parse.urlencode({"job_ids": ",".join(ids)}))
    assert status == 200, body
    assert [item["job_id"] for item in body["results"]] == ids
    return body["results"]


def finished(url: str, ids: list[str], timeout: float = 120.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        items = fetch(url, ids)
        if all(item["status"] != "pending" for item in items):
            return items
        assert time.monotonic() < deadline, f"jobs still pending after {timeout:.0f} s: {items}"
        time.sleep(0.1)
