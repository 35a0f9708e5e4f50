"""The gateway's own ceilings: no key off loopback (the real CLI), the Kubernetes key Secret, and the
real gateway in front of a Triton that hangs or drops the connection (timeouts, invocation caps)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import yaml

from support.commands import CLIENT_CLI, SERVER_CLI
from support.gateway import API_KEY, start_gateway
from support.waiting import wait_until
from triton_ingest.gateway import nvcf_local
from triton_ingest.gateway.limits import insecure_refusal, is_loopback
from triton_ingest.paths import REPO_ROOT
from triton_ingest.serving.server import free_port, http_ready

NO_KEY = {k: v for k, v in os.environ.items() if k != "NVCF_LOCAL_API_KEY"}


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True),
                                            ("localhost", True), ("0.0.0.0", False), ("::", False), ("", False),
                                            ("10.1.2.3", False), ("gateway.example.org", False)])
def test_only_loopback_addresses_may_serve_without_a_key(host, loopback):
    assert is_loopback(host) is loopback
    assert (insecure_refusal(host, None, False, "KEY") is None) is loopback
    assert insecure_refusal(host, "a-key", False, "KEY") is None and insecure_refusal(host, None, True, "KEY") is None


@pytest.mark.parametrize("cli, command", [(SERVER_CLI, "gateway"), (CLIENT_CLI, "nvcf-local")])
def test_a_gateway_on_every_address_without_a_key_refuses_to_start(cli, command, tmp_path):
    done = subprocess.run([cli, command, "--host", "0.0.0.0", "--port", str(free_port()), "--work-dir", str(tmp_path)],
                          env=NO_KEY, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "refusing to serve on 0.0.0.0 without an API key" in done.stderr
    assert "$NVCF_LOCAL_API_KEY" in done.stderr and "--insecure" in done.stderr and "--host 127.0.0.1" in done.stderr


@pytest.mark.integration
@pytest.mark.parametrize("extra, env", [(["--insecure"], NO_KEY), ([], {**NO_KEY, "NVCF_LOCAL_API_KEY": API_KEY})])
def test_insecure_or_a_key_lets_it_serve_on_every_address(extra, env, tmp_path):
    port = free_port()
    process = subprocess.Popen([SERVER_CLI, "gateway", "--host", "0.0.0.0", "--port", str(port), "--work-dir",
                                str(tmp_path), *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def live() -> bool:
            assert process.poll() is None, process.stderr.read().decode()
            return http_ready(f"127.0.0.1:{port}", "/v2/health/live")

        wait_until(live, "the gateway to serve on 0.0.0.0")
    finally:
        process.terminate()
        process.wait(10)


def test_the_k8s_gateway_needs_its_key_secret_to_listen_on_every_address():
    documents = yaml.safe_load_all((REPO_ROOT / "deploy" / "k8s" / "gateway.yaml").read_text())
    [deployment] = [d for d in documents if d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    parser = argparse.ArgumentParser()
    nvcf_local.add_arguments(parser)
    args = parser.parse_args(container["command"][2:])
    [key] = container["env"]
    secret = key["valueFrom"]["secretKeyRef"]
    assert key["name"] == args.api_key_env and secret.get("optional", False) is False  # no Secret: the pod waits
    assert args.host == "0.0.0.0" and not args.insecure
    assert insecure_refusal(args.host, None, args.insecure, args.api_key_env)  # it would not start without it
    assert insecure_refusal(args.host, "from-the-secret", args.insecure, args.api_key_env) is None


class HostileTriton(BaseHTTPRequestHandler):
    """A Triton that is ready, reads each inference request whole, then never answers it (until the
    test ends) or, for a model named ``drop``, closes the connection without a word."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if "/drop/" not in self.path:
            self.server.released.wait()
        self.close_connection = True

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def triton():
    server = ThreadingHTTPServer(("127.0.0.1", 0), HostileTriton)
    server.daemon_threads, server.released = True, threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield SimpleNamespace(http_url=f"127.0.0.1:{server.server_port}", grpc_url=f"127.0.0.1:{free_port()}")
    server.released.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def gateway(triton, tmp_path):
    """Start a gateway with extra flags in front of the hostile Triton; stopped at the end."""
    started = []

    def start(*extra: str) -> str:
        process, url = start_gateway(triton, tmp_path / f"gateway{len(started)}.log", "--function", "hang=hang",
                                     "--function", "drop=drop", *extra, command="gateway")
        started.append(process)
        return url

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def invoke(url: str, function: str, poll_seconds: int) -> tuple[int, dict, dict]:
    """One pexec invocation: status, headers and JSON body (empty when there is none)."""
    request = urllib.request.Request(f"{url}/v2/nvcf/pexec/functions/{function}", data=b'{"inputs": []}',
                                     headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json",
                                              "NVCF-POLL-SECONDS": str(poll_seconds)})
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, dict(reply.headers), {}
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")


@pytest.mark.integration
def test_a_triton_that_never_answers_ends_in_504_after_the_timeout(gateway):
    url = gateway("--triton-timeout", "1")
    status, _, body = invoke(url, "hang", poll_seconds=60)
    assert status == 504 and "did not answer within 1 s (--triton-timeout)" in body["error"]
    body = json.dumps({"model": "all-MiniLM-L6-v2", "input": "x"}).encode()
    request = urllib.request.Request(f"{url}/v1/embeddings", data=body, headers={"Authorization": f"Bearer {API_KEY}"})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=60)
    error = json.loads(raised.value.read())["error"]
    assert raised.value.code == 504 and "--triton-timeout" in error["message"] and error["type"] == "server_error"


@pytest.mark.integration
def test_a_dropped_connection_ends_the_invocation_instead_of_leaving_it_pending(gateway):
    url = gateway()
    status, headers, body = invoke(url, "drop", poll_seconds=60)
    assert status == 502 and "Triton broke off the request" in body["error"], (status, body)
    assert headers["NVCF-STATUS"] == "fulfilled"


@pytest.mark.integration
def test_invocations_in_flight_have_a_ceiling(gateway):
    url = gateway("--max-pending-invocations", "2")
    assert [invoke(url, "hang", poll_seconds=0)[0] for _ in range(2)] == [202, 202]
    status, headers, body = invoke(url, "hang", poll_seconds=0)
    assert status == 429 and headers["Retry-After"] == "5" and "--max-pending-invocations" in body["error"]


@pytest.mark.integration
def test_invocations_kept_have_a_ceiling(gateway):
    url = gateway("--max-invocations", "2", "--ttl", "600")
    assert [invoke(url, "drop", poll_seconds=60)[0] for _ in range(2)] == [502, 502]  # finished, kept for --ttl
    status, headers, body = invoke(url, "drop", poll_seconds=60)
    assert status == 429 and "--max-invocations" in body["error"] and 590 <= int(headers["Retry-After"]) <= 600

