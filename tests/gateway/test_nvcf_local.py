"""The NVCF flow end to end on one machine: client -> nvcf-local gateway -> real Triton."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request

import numpy as np
import pytest
from triton_ingest_client import AuthenticationError, Client, InvalidInputError, NotFoundError

from support.clients import cosines
from support.commands import CLIENT_CLI
from support.documents import make_pdf
from support.gateway import API_KEY, start_gateway
from support.waiting import wait_until

pytestmark = pytest.mark.integration

CLI = CLIENT_CLI


@pytest.fixture(scope="module")
def gateway(server, tmp_path_factory):
    log = tmp_path_factory.mktemp("gateway") / "gateway.log"
    process, url = start_gateway(server, log, "--large-result-bytes", "200000")
    yield url, log
    process.terminate()
    process.wait(10)


def test_202_polling_reports_progress_and_returns_the_same_result(gateway):
    url, _ = gateway
    pdf, seen = make_pdf(80), []
    with Client.nvcf("ingest", api_key=API_KEY, base_url=url, poll_seconds=0) as client:
        result = client.ingest(pdf, on_progress=seen.append)
    # the first reply is always a 202 (NVCF-POLL-SECONDS 0); how many more the job lasts depends on
    # the machine, so only the order is certain (a progress file's rise is tested on the server)
    percents = [p.percent for p in seen]
    assert percents and percents == sorted(percents) and all(0 <= p <= 100 for p in percents)
    assert result.summary["pages"] == 80
    with Client.nvcf({"embed": "embed"}, api_key=API_KEY, base_url=url) as embedder:
        np.testing.assert_allclose(embedder.embed(result.texts[:5]), result.embeddings[:5], atol=2e-5)


def test_large_results_come_through_a_302_redirect(gateway):
    url, _ = gateway
    with Client.nvcf("ingest", api_key=API_KEY, base_url=url) as client:
        result = client.ingest(make_pdf(150))  # about 600 KB of result: over the 200 KB limit
    assert result.summary["chunks"] == 150 and result.embeddings.shape == (150, 384)


def test_errors_keep_their_meaning_through_nvcf(gateway):
    url, _ = gateway
    with Client.nvcf("ingest", api_key=API_KEY, base_url=url) as client:
        with pytest.raises(InvalidInputError, match="corrupt or truncated PDF"):
            client.ingest(b"%PDF-1.4 corrupt")
    with Client.nvcf("ingest", api_key="wrong-key", base_url=url, retries=0) as client:
        with pytest.raises(AuthenticationError):
            client.ingest(b"text")
    with Client.nvcf("no-such-function", api_key=API_KEY, base_url=url) as client:
        with pytest.raises(NotFoundError):
            client.ingest(b"text")


def status_code(url: str, request_id: str) -> int:
    """What the gateway answers for one request id now (without polling for it)."""
    request = urllib.request.Request(f"{url}/v2/nvcf/pexec/status/{request_id}",
                                     headers={"Authorization": f"Bearer {API_KEY}", "NVCF-POLL-SECONDS": "0"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_finished_results_expire_after_the_ttl(server, tmp_path):
    process, url = start_gateway(server, tmp_path / "ttl.log", "--ttl", "5")
    try:
        with Client.nvcf("ingest", api_key=API_KEY, base_url=url) as client:
            [job_id] = client.submit([make_pdf(2)])
            [done] = client.fetch([job_id], timeout=300)  # fetched as soon as it finished, inside the TTL
            assert done.ok and done.result.summary["pages"] == 2
            assert status_code(url, job_id) == 200  # kept after delivery until the TTL runs out
            wait_until(lambda: status_code(url, job_id) == 404, "the gateway to forget the finished request")
            [job] = client.fetch([job_id], timeout=10)
        assert isinstance(job.error, NotFoundError) and "expired" in str(job.error)
    finally:
        process.terminate()
        process.wait(10)


def run_cli(*args: str, env_key: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "NVCF_API_KEY": API_KEY} if env_key else dict(os.environ)
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300, env=env)


def test_cli_submit_and_fetch_across_processes_through_nvcf(gateway, tmp_path):
    url, log = gateway
    good = tmp_path / "good.pdf"
    good.write_bytes(make_pdf(4))
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.7 definitely not a pdf")
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([str(good), {"path": str(bad)}, {"path": str(good), "options": {"chunk_size": 64, "chunk_overlap": 8}}]))
    nvcf = ["--nvcf-function-id", "ingest", "--nvcf-base-url", url]
    submitted = run_cli(*nvcf, "submit", "--file", str(jobs))
    assert submitted.returncode == 0, submitted.stderr
    ids = submitted.stdout.split()
    assert len(ids) == 3
    fetched = run_cli(*nvcf, "--json", "fetch", "--ids", ",".join(ids), "--out", str(tmp_path / "out.jsonl"))
    rows = json.loads(fetched.stdout)
    assert fetched.returncode == 1  # one job failed
    assert [r["ok"] for r in rows] == [True, False, True]
    assert rows[1]["error"]["type"] == "InvalidInputError" and "corrupt" in rows[1]["error"]["message"]
    assert rows[2]["summary"]["chunks"] > rows[0]["summary"]["chunks"]
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == rows[0]["summary"]["chunks"] + rows[2]["summary"]["chunks"]
    for output in (submitted.stdout, submitted.stderr, fetched.stdout, fetched.stderr, log.read_text()):
        assert API_KEY not in output


def test_cli_without_a_key_is_refused_and_says_so(gateway):
    url, _ = gateway
    done = run_cli("--nvcf-function-id", "ingest", "--nvcf-base-url", url, "--retries", "0", "embed", "x", env_key=False)
    assert done.returncode == 1 and "AuthenticationError" in done.stderr


def test_grpc_nvcf_mode_sends_function_id_and_bearer_metadata(server, reference_model):
    """NVCF's gRPC endpoint routes on metadata; Triton accepts (and here ignores) it."""
    with Client.nvcf("ingest", api_key=API_KEY, protocol="grpc", grpc_url=server.grpc_url) as client:
        transport = client._transport
        assert transport.headers == {"function-id": "ingest", "authorization": f"Bearer {API_KEY}"}
        assert cosines(client.embed(["over grpc"]), reference_model.encode(["over grpc"])).min() >= 0.9999
        assert API_KEY not in repr(client)
