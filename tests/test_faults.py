"""Faults against a real tritonserver: a killed Python-backend stub, SIGTERM with work in flight.

Each test starts its own server (faults must not leak into the shared one)."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from conftest import embed_with, ingest_with
from load_harness import write_report
from documents_factory import make_pdf

from triton_ingest_client._errors import TRANSIENT_MESSAGES

from triton_ingest.server import TritonServer
from triton_ingest.watchdog import stub_pids, stubs

pytestmark = pytest.mark.integration
TEXTS = [f"fault test sentence {i} " * 20 for i in range(16)]


def status(server, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://{server.http_url}{path}", timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


def embed_loop(server, stop: threading.Event, outcomes: list) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    while not stop.is_set():
        try:
            embed_with(client, "grpc", TEXTS)
            outcomes.append("ok")
        except Exception as exc:  # noqa: BLE001 - the outcome is what is being measured
            outcomes.append(str(exc))
    client.close()


def kill_stubs_under_load(server, model: str) -> tuple[list, list]:
    """Kill ``model``'s stubs while 4 clients embed; return (outcomes, readiness samples)."""
    stop, outcomes, readiness = threading.Event(), [], []
    workers = [threading.Thread(target=embed_loop, args=(server, stop, outcomes)) for _ in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(1.0)
    for pid in stub_pids(server.process.pid)[model]:
        __import__("os").kill(pid, 9)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not server.watchdog.restarts:
        readiness.append(status(server, "/v2/models/embed/ready"))
        time.sleep(0.05)
    time.sleep(1.0)
    stop.set()
    for worker in workers:
        worker.join()
    return outcomes, readiness


def stub_regions(server) -> set[str]:
    """The /dev/shm regions of this server's stubs."""
    return {region for pids in stubs(server.process.pid).values() for region in pids.values()}


@pytest.mark.parametrize("model", ["embedder", "tokenizer"])
def test_killed_stub_fails_in_flight_requests_clearly_and_the_model_comes_back(tmp_path, model):
    with TritonServer.on_free_ports(work_dir=tmp_path) as server:
        regions = stub_regions(server)
        reference = embed_with(grpcclient.InferenceServerClient(server.grpc_url), "grpc", TEXTS)
        outcomes, readiness = kill_stubs_under_load(server, model)
        assert [m for m, _ in server.watchdog.restarts] == [model]
        assert 200 in readiness and any(code != 200 for code in readiness)  # unready while reloading
        errors = [o for o in outcomes if o != "ok"]
        # every failure names the dead stub: no hang, no wrong result, no traceback
        assert all(any(m in e for m in TRANSIENT_MESSAGES) for e in errors), errors  # all retried by the SDK
        assert all("Traceback" not in e for e in errors)
        assert status(server, "/v2/health/ready") == 200 and status(server, "/v2/models/embed/ready") == 200
        client = grpcclient.InferenceServerClient(server.grpc_url)
        for _ in range(5):  # every later request succeeds, with the same result as before
            np.testing.assert_allclose(embed_with(client, "grpc", TEXTS), reference, atol=1e-5)
        assert outcomes.count("ok") > 0
        write_report(f"fault-kill-{model}", {
            "killed": f"{model} stub, 4 clients embedding", "requests": len(outcomes), "failed_clearly": len(errors),
            "succeeded": outcomes.count("ok"), "reload_seconds": round(server.watchdog.restarts[0][1], 2),
            "embed_readiness_while_recovering": sorted(set(readiness))})
        regions |= stub_regions(server)  # the reloaded stub has a region of its own
    left = {p.name for p in Path("/dev/shm").iterdir()} & regions
    assert len(regions) > 4 and not left  # neither the dead nor the reloaded stub's region survives


def test_killed_ingest_stub_recovers(tmp_path):
    with TritonServer.on_free_ports(work_dir=tmp_path) as server:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        first = ingest_with(client, "grpc", make_pdf(2), "a.pdf")
        for pid in stub_pids(server.process.pid)["ingest"]:
            __import__("os").kill(pid, 9)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not server.watchdog.restarts:
            time.sleep(0.1)
        assert [m for m, _ in server.watchdog.restarts] == ["ingest"]
        again = ingest_with(client, "grpc", make_pdf(2), "a.pdf")
        assert [c["text"] for c in again["chunks"]] == [c["text"] for c in first["chunks"]]


def test_without_the_watchdog_triton_reports_ready_while_every_request_fails(tmp_path):
    """Documents the Python backend's own behaviour, which the watchdog exists to fix."""
    with TritonServer.on_free_ports(work_dir=tmp_path, watch_stubs=False) as server:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        embed_with(client, "grpc", TEXTS)
        for pid in stub_pids(server.process.pid)["embedder"]:
            __import__("os").kill(pid, 9)
        time.sleep(2)
        with pytest.raises(Exception, match="is not healthy"):
            embed_with(client, "grpc", TEXTS)
        assert status(server, "/v2/health/ready") == 200  # the sharp edge: still "ready"


def test_sigterm_drains_in_flight_ingest_before_exit(tmp_path):
    document = make_pdf(40)
    with TritonServer.on_free_ports(work_dir=tmp_path) as server:
        expected = ingest_with(grpcclient.InferenceServerClient(server.grpc_url), "grpc", document, "d.pdf")
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(lambda: ingest_with(grpcclient.InferenceServerClient(server.grpc_url),
                                                      "grpc", document, "d.pdf")) for _ in range(3)]
            time.sleep(1.0)
            server.terminate()  # drain + SIGTERM while all three are in flight
            time.sleep(0.3)
            draining = status(server, "/v2/models/ingest/ready")
            results = [f.result(timeout=120) for f in futures]
        assert server.process.wait(timeout=60) == 0
    assert draining != 200  # load balancers stop sending while the in-flight documents finish
    for result in results:
        assert [c["text"] for c in result["chunks"]] == [c["text"] for c in expected["chunks"]]
        np.testing.assert_allclose(result["embeddings"], expected["embeddings"], atol=1e-5)
