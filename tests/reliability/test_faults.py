"""Faults against a real tritonserver: a killed Python-backend stub, SIGTERM with work in flight.

Each test starts its own server (faults must not leak into the shared one). Nothing sleeps and
hopes: each step waits for the state it needs (requests answered, stubs gone, a progress file)."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from triton_ingest_client._errors import TRANSIENT_MESSAGES

from support.clients import embed_with, ingest_with, nvcf_request_headers
from support.commands import SLOW_INGEST
from support.documents import make_pdf
from support.load import write_report
from support.waiting import POLL_SECONDS, progress_of, wait_until
from triton_ingest.serving.server import TritonServer, http_ready
from triton_ingest.serving.watchdog import stub_pids, stubs

pytestmark = pytest.mark.integration
TEXTS = [f"fault test sentence {i} " * 20 for i in range(16)]


def embed_loop(server, stop: threading.Event, outcomes: list) -> None:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    while not stop.is_set():
        try:
            embed_with(client, "grpc", TEXTS)
            outcomes.append("ok")
        except Exception as exc:  # noqa: BLE001 - the outcome is what is being measured
            outcomes.append(str(exc))
    client.close()


def kill(pids) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def kill_stubs_under_load(server, model: str) -> tuple[list, list]:
    """Kill ``model``'s stubs while 4 clients embed; return (outcomes, embed readiness samples)."""
    stop, outcomes, readiness = threading.Event(), [], []
    workers = [threading.Thread(target=embed_loop, args=(server, stop, outcomes)) for _ in range(4)]
    for worker in workers:
        worker.start()
    wait_until(lambda: outcomes.count("ok") >= len(workers), "the clients' first answers")
    kill(stub_pids(server.process.pid)[model])
    deadline = time.monotonic() + 120
    while not server.watchdog.restarts:
        assert time.monotonic() < deadline, "the watchdog never reloaded the model"
        readiness.append(http_ready(server.http_url, "/v2/models/embed/ready"))
        time.sleep(POLL_SECONDS)
    served_before = outcomes.count("ok")
    wait_until(lambda: outcomes.count("ok") >= served_before + len(workers), "answers after the reload")
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
        assert False in readiness  # unready while reloading
        errors = [o for o in outcomes if o != "ok"]
        # every failure names the dead stub: no hang, no wrong result, no traceback
        assert all(any(m in e for m in TRANSIENT_MESSAGES) for e in errors), errors  # all retried by the SDK
        assert all("Traceback" not in e for e in errors)
        assert http_ready(server.http_url) and http_ready(server.http_url, "/v2/models/embed/ready")
        client = grpcclient.InferenceServerClient(server.grpc_url)
        for _ in range(5):  # every later request succeeds, with the same result as before
            np.testing.assert_allclose(embed_with(client, "grpc", TEXTS), reference, atol=1e-5)
        assert outcomes.count("ok") > 0
        write_report(f"fault-kill-{model}", {
            "killed": f"{model} stub, 4 clients embedding", "requests": len(outcomes), "failed_clearly": len(errors),
            "succeeded": outcomes.count("ok"), "reload_seconds": round(server.watchdog.restarts[0][1], 2),
            "embed_ready_samples_while_recovering": {"ready": readiness.count(True), "unready": readiness.count(False)}})
        regions |= stub_regions(server)  # the reloaded stub has a region of its own
    left = {p.name for p in Path("/dev/shm").iterdir()} & regions
    assert len(regions) > 4 and not left  # neither the dead nor the reloaded stub's region survives


def test_killed_ingest_stub_recovers(tmp_path):
    with TritonServer.on_free_ports(work_dir=tmp_path) as server:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        first = ingest_with(client, "grpc", make_pdf(2), "a.pdf")
        kill(stub_pids(server.process.pid)["ingest"])
        wait_until(lambda: server.watchdog.restarts, "the watchdog to reload ingest")
        assert [m for m, _ in server.watchdog.restarts] == ["ingest"]
        again = ingest_with(client, "grpc", make_pdf(2), "a.pdf")
        assert [c["text"] for c in again["chunks"]] == [c["text"] for c in first["chunks"]]


def test_without_the_watchdog_triton_reports_ready_while_every_request_fails(tmp_path):
    """Documents the Python backend's own behaviour, which the watchdog exists to fix."""
    with TritonServer.on_free_ports(work_dir=tmp_path, watch_stubs=False) as server:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        embed_with(client, "grpc", TEXTS)
        kill(stub_pids(server.process.pid)["embedder"])
        wait_until(lambda: "embedder" not in stub_pids(server.process.pid), "the embedder stub to be gone")
        with pytest.raises(Exception, match="is not healthy"):
            embed_with(client, "grpc", TEXTS)
        assert http_ready(server.http_url)  # the sharp edge: still "ready"


def test_sigterm_drains_in_flight_ingest_before_exit(tmp_path):
    document, out = make_pdf(20), [tmp_path / f"request-{i}" for i in range(3)]
    with TritonServer.on_free_ports(work_dir=tmp_path) as server:
        def ingest(index: int) -> dict:
            client = grpcclient.InferenceServerClient(server.grpc_url)
            headers = None if index < 0 else nvcf_request_headers("grpc", f"request-{index}", out[index])
            return ingest_with(client, "grpc", document, "d.pdf", SLOW_INGEST, headers)

        expected = ingest(-1)
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(ingest, i) for i in range(3)]
            wait_until(lambda: all(progress_of(d) >= 0 for d in out), "all three documents to be in flight")
            server.terminate()  # drain + SIGTERM while all three are in flight
            wait_until(lambda: not http_ready(server.http_url, "/v2/models/ingest/ready"), "ingest to turn unready")
            in_flight_while_unready = [progress_of(d) for d in out]  # read after: progress only rises
            results = [f.result(timeout=300) for f in futures]
        assert server.process.wait(timeout=120) == 0
    # load balancers stop sending while the in-flight documents finish
    assert min(in_flight_while_unready) < 100, in_flight_while_unready
    for result in results:
        assert [c["text"] for c in result["chunks"]] == [c["text"] for c in expected["chunks"]]
        np.testing.assert_allclose(result["embeddings"], expected["embeddings"], atol=1e-5)
