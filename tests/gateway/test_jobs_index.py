"""Indexing on the server: a job with ``options.index`` has its worker write the chunks into Milvus
(Milvus Lite's server, a separate process) with the SDK's own semantics, and its fetch answers the
summary without chunks or embeddings. Only URIs the operator lists are written to."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess

import pytest
from triton_ingest_client import Client, Index

from support.clients import TRITON_ONLY
from support.commands import CLIENT_CLI
from support.documents import make_pdf
from support.gateway import API_KEY, call, finished, start_gateway, start_worker, stop, submit
from support.milvus import MilvusLiteServer
from support.redis_server import RedisServer
from support.waiting import wait_until

pytestmark = TRITON_ONLY
FACTS = ["The staging cluster's Redis listens on port 6390.", "Invoices are archived after 45 days.",
         "The on-call rotation changes every Tuesday at 09:00 UTC."]


@pytest.fixture(scope="module")
def milvus(tmp_path_factory):
    with MilvusLiteServer(tmp_path_factory.mktemp("milvus")) as server:
        yield server


def rows(uri: str, collection: str) -> int:
    with Index(uri, collection) as index:
        return index.stats()["rows"]


def test_jobs_write_their_chunks_into_the_allowed_index_once_and_fetch_answers_the_summary(server, milvus, tmp_path):
    process, url = start_gateway(server, tmp_path / "gateway.log", "--index-uri", milvus.uri, command="gateway")
    try:
        jobs = [{"data": fact, "filename": f"fact{i}.txt", "options": {"index": {"collection": "server_side"}}}
                for i, fact in enumerate(FACTS)]
        items = finished(url, submit(url, jobs))
        assert [item["status"] for item in items] == ["done"] * 3, items
        for item in items:
            assert item["result"]["chunks"] == []  # in Milvus, not in the answer
            index = item["result"]["summary"]["index"]
            assert (index["uri"], index["collection"], index["rows"]) == (milvus.uri, "server_side", 1)
        assert rows(milvus.uri, "server_side") == 3
        with Client(server.http_url) as client, Index(milvus.uri, "server_side") as index:
            [hit] = client.search("when are invoices archived?", index=index, top_k=1)
        assert hit.text == FACTS[1] and hit.source == "fact1.txt"
        [again] = finished(url, submit(url, jobs[1]))  # the same document again: the same row, rewritten
        assert again["result"]["summary"]["index"]["rows"] == 1 and rows(milvus.uri, "server_side") == 3
        directory = tmp_path / "docs"  # the CLI: a directory of files, indexed by the workers, waited for
        directory.mkdir()
        for i, fact in enumerate(FACTS + ["A fourth fact, only in the CLI's directory."]):
            (directory / f"cli{i}.txt").write_text(fact)
        env = {**os.environ, "TRITON_INGEST_API_KEY": API_KEY}
        cli = subprocess.run([CLIENT_CLI, "--json", "submit", str(directory), "--gateway", url, "--index", milvus.uri,
                              "--collection", "from_cli", "--wait"], env=env, capture_output=True, text=True,
                             timeout=300)
        assert cli.returncode == 0, (cli.stdout, cli.stderr, (tmp_path / "gateway.log").read_text()[-8000:])
        answers = json.loads(cli.stdout)
        assert sorted(a["source"] for a in answers) == [f"cli{i}.txt" for i in range(4)]
        assert all(a["ok"] and a["summary"]["index"]["collection"] == "from_cli" for a in answers)
        assert rows(milvus.uri, "from_cli") == 4
    finally:
        stop(process, tmp_path / "gateway.log")


@pytest.mark.parametrize("index, allowed, message", [
    ({"collection": "c"}, (), "writes to no index; its operator allows URIs with --index-uri"),
    ({"uri": "./elsewhere.db"}, ("http://127.0.0.1:1",), "index uri './elsewhere.db' is not one this server allows"),
    ({"collection": "no-dashes"}, ("http://127.0.0.1:1",), "'options.index.collection' must match"),
    ("milvus", ("http://127.0.0.1:1",), "'options.index' must be {\"uri\": ..., \"collection\": ...}"),
])
def test_an_index_the_operator_did_not_allow_is_refused_at_submit(server, tmp_path, index, allowed, message):
    flags = [flag for uri in allowed for flag in ("--index-uri", uri)]
    process, url = start_gateway(server, tmp_path / "gateway.log", *flags, command="gateway")
    try:
        status, body = call(url, "/v1/submit_job", {"data": "x", "options": {"index": index}})
        assert status == 400 and message in body["error"]["message"] and body["error"]["param"] == "options.index"
    finally:
        stop(process, tmp_path / "gateway.log")


def test_a_worker_killed_mid_job_leaves_each_chunk_in_the_index_once(server, milvus, tmp_path, silent_triton):
    """The first worker holds the job (its Triton never answers) until it is killed; the second
    takes it over and writes every chunk; the index holds each once."""
    redis = RedisServer(tmp_path / "redis")
    jobs, index = ("--jobs", redis.url), ("--index-uri", milvus.uri)
    started = []
    try:
        process, url = start_gateway(server, tmp_path / "gateway.log", *jobs, *index, "--workers", "0",
                                     command="gateway")
        started.append(process)
        doomed = start_worker(server, tmp_path / "doomed.log", *jobs, *index, "--claim-idle", "2",
                              triton_grpc=silent_triton)
        started.append(doomed)
        pdf = make_pdf(6)
        [job_id] = submit(url, {"data": base64.b64encode(pdf).decode(), "filename": "six.pdf",
                                "options": {"chunk_size": 64, "index": {"collection": "taken_over"}}})
        state = lambda: (redis.client().hget(f"triton-ingest:job:{job_id}", "state") or b"").decode()  # noqa: E731
        wait_until(lambda: state() == "running", "the first worker to take the job")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        started.append(start_worker(server, tmp_path / "survivor.log", *jobs, *index, "--claim-idle", "2"))
        [item] = finished(url, [job_id])
        assert item["status"] == "done", item
        with Client(server.http_url) as direct:
            expected = len(direct.ingest(pdf, {"chunk_size": 64}, filename="six.pdf").chunks)
        assert item["result"]["summary"]["index"]["rows"] == expected == rows(milvus.uri, "taken_over")
    finally:
        for process in started:
            process.kill()
            process.wait(10)
        redis.stop()
