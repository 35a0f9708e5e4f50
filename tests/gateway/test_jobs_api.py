"""The gateway's job API (NV-Ingest's shape) against the real Triton: submit, fetch across processes,
partial failure, progress, restarts, TTL, limits and auth. Every API test runs on both job stores:
the disk store (a gateway running its own jobs) and Redis (a front-only gateway, ``--workers 0``,
with a separate ``worker`` process, on a real ``redis-server``)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import numpy as np
import pytest
from triton_ingest_client import Client, GatewayJobs

from support.clients import TRITON_ONLY
from support.commands import CLIENT_CLI
from support.documents import make_docx, make_pdf
from support.gateway import API_KEY, call, fetch, finished, start_gateway, start_worker, stop, submit
from support.redis_server import RedisServer
from support.waiting import wait_until

pytestmark = TRITON_ONLY


@pytest.fixture(scope="module")
def documents_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("served-documents")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    redis = RedisServer(tmp_path_factory.mktemp("jobs-redis"))
    yield redis.url
    redis.stop()


@pytest.fixture(params=["disk", "redis"])
def store(request, tmp_path):
    """A test's own gateway's store flags: none (its work dir), or a Redis of its own."""
    if request.param == "disk":
        yield ()
        return
    redis = RedisServer(tmp_path / "redis")
    yield "--jobs", redis.url
    redis.stop()


@pytest.fixture(scope="module", params=["disk", "redis"])
def gateway(request, server, tmp_path_factory, documents_dir):
    log = tmp_path_factory.mktemp("jobs-gateway") / "gateway.log"
    flags = ("--documents-dir", str(documents_dir), "--max-body-bytes", "3000000", "--max-jobs-per-submit", "20")
    worker = None
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_url")
        flags += ("--jobs", redis_url, "--workers", "0")
        worker = start_worker(server, log.parent / "worker.log", "--jobs", redis_url)
    process, url = start_gateway(server, log, *flags, command="gateway")
    yield url, log
    stop(process, log)
    if worker is not None:
        stop(worker, log.parent / "worker.log")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_one_job_gives_triton_s_own_chunks_and_vectors(gateway, server):
    url, _ = gateway
    pdf = make_pdf(3)
    [job_id] = submit(url, {"data": b64(pdf), "filename": "three.pdf", "options": {"chunk_size": 96}})
    [item] = finished(url, [job_id])
    assert item["status"] == "done" and item["progress"] == 100 and item["filename"] == "three.pdf"
    with Client(server.http_url) as direct:
        expected = direct.ingest(pdf, {"chunk_size": 96}, filename="three.pdf")
    chunks = item["result"]["chunks"]
    assert [c["text"] for c in chunks] == expected.texts and item["result"]["summary"]["pages"] == 3
    np.testing.assert_allclose(np.array([c["embedding"] for c in chunks]), expected.embeddings, atol=2e-5)


def test_a_batch_of_ten_with_two_bad_documents_and_unknown_ids(gateway):
    url, _ = gateway
    jobs = [{"data": f"Document number {i} is plain text about job queues.", "filename": f"doc{i}.txt"}
            for i in range(10)]
    jobs[3] = {"data": b64(make_pdf(4)[:900]), "filename": "truncated.pdf"}
    jobs[7] = {"data": b64(b"PK\x03\x04 not really a zip"), "filename": "broken.docx"}
    jobs[5] = {"data": b64(make_docx(["A real DOCX paragraph."])), "filename": "real.docx"}
    ids = submit(url, jobs)
    unknown = [str(uuid.uuid4()), "not-a-job-id"]
    items = finished(url, [unknown[0], *ids, unknown[1]])
    assert [i["status"] for i in items] == ["not_found"] + ["done"] * 3 + ["failed"] + ["done"] * 3 + ["failed"] \
        + ["done"] * 2 + ["not_found"]
    bad = [items[4], items[8]]
    assert [b["error"]["reason"] for b in bad] == ["invalid_input", "invalid_input"]
    assert "PDF" in bad[0]["error"]["message"] and "DOCX" in bad[1]["error"]["message"].upper()
    assert "Traceback" not in json.dumps(items)
    assert items[6]["result"]["chunks"][0]["text"] == "A real DOCX paragraph."
    assert "never submitted here" in items[0]["error"]["message"]


def test_fetch_from_another_process_with_the_cli(gateway, tmp_path):
    url, _ = gateway
    jobs_file = tmp_path / "jobs.json"
    (tmp_path / "a.txt").write_text("First document for the CLI.")
    jobs_file.write_text(json.dumps([str(tmp_path / "a.txt"), {"data": "Second document, inline.", "filename": "b.txt"},
                                     {"data": "%PDF-1.4 corrupt", "filename": "c.pdf"}]))
    env = {**os.environ, "TRITON_INGEST_API_KEY": API_KEY}
    submitted = subprocess.run([CLIENT_CLI, "submit", "--gateway", url, "--file", str(jobs_file)], env=env,
                               capture_output=True, text=True, timeout=120)
    assert submitted.returncode == 0, submitted.stderr
    ids = submitted.stdout.split()
    fetched = subprocess.run([CLIENT_CLI, "--json", "fetch", "--gateway", url, "--ids", ",".join(ids), "--wait", "120"],
                             env=env, capture_output=True, text=True, timeout=180)
    rows = json.loads(fetched.stdout)
    assert fetched.returncode == 1 and [r["ok"] for r in rows] == [True, True, False]  # one failed document: exit 1
    assert [r["source"] for r in rows] == ["a.txt", "b.txt", "c.pdf"]
    assert rows[2]["error"]["type"] == "InvalidInputError" and "PDF" in rows[2]["error"]["message"]
    first, again, third = GatewayJobs(url, api_key=API_KEY).fetch([ids[0], ids[0], ids[2]])  # an id asked twice
    assert first.ok and first.result.texts == ["First document for the CLI."] and first.result.embeddings.shape == (1, 384)
    assert again.ok and again.id == ids[0] and np.array_equal(again.result.embeddings, first.result.embeddings)
    assert third.id == ids[2] and not third.ok


def test_progress_never_falls_on_a_long_pdf(gateway):
    """Sampled by polling, so how many samples fall mid-way depends on the machine: only the order
    and the end are certain (the responses it comes from are counted in test_async_client)."""
    url, _ = gateway
    [job_id] = submit(url, {"data": b64(make_pdf(150)), "filename": "long.pdf"})
    seen = []
    while (item := fetch(url, [job_id])[0])["status"] == "pending":
        seen.append(item["progress"])
        time.sleep(0.05)
    assert item["status"] == "done" and item["result"]["summary"]["pages"] == 150 and item["progress"] == 100
    assert seen == sorted(seen) and all(0 <= p <= 100 for p in seen), seen  # 100 may show before "done"


def test_a_document_by_path_under_the_documents_dir(gateway, documents_dir):
    url, _ = gateway
    (documents_dir / "big.pdf").write_bytes(make_pdf(5))
    [item] = finished(url, submit(url, {"path": "big.pdf", "options": {"chunk_size": 128}}))
    assert item["status"] == "done" and item["filename"] == "big.pdf" and item["result"]["summary"]["pages"] == 5
    status, body = call(url, "/v1/submit_job", {"path": "../../etc/passwd"})
    assert status == 400 and "must lie under" in body["error"]["message"]


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 400, "not valid JSON"),
    (json.dumps({"data": "x", "path": "y"}).encode(), 400, "job 0 needs exactly one of"),
    (json.dumps([{"data": "ok"}, {"data": "bad!", "encoding": "base64"}]).encode(), 400, "job 1: 'data' is not valid base64"),
    (json.dumps([{"data": "x"}] * 21).encode(), 413, "21 jobs in one submit; the limit is 20"),
    (json.dumps({"data": "A" * 3_100_000}).encode(), 413, "over 3000000 bytes"),
])
def test_bad_submits_are_refused_whole_in_openai_s_error_shape(gateway, body, status, message):
    url, _ = gateway
    got, answer = call(url, "/v1/submit_job", raw=body)
    assert got == status and message in answer["error"]["message"], answer
    assert set(answer["error"]) == {"message", "type", "param", "code"}


def test_fetch_needs_ids_and_auth_is_required_and_never_logged(gateway):
    url, log = gateway
    assert call(url, "/v1/fetch_job")[0] == 400
    status, body = call(url, "/v1/submit_job", {"data": "x"}, key=None)
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    assert call(url, "/v1/fetch_job?job_ids=x", key="wrong-key")[0] == 401
    assert API_KEY not in log.read_text()
    assert urllib.request.urlopen(url + "/v2/health/live", timeout=10).status == 200  # no key needed


def test_a_full_queue_answers_429(server, tmp_path, store, silent_triton):
    """Jobs against a Triton that never answers stay unfinished: the queue fills."""
    process, url = start_gateway(server, tmp_path / "gateway.log", "--triton-grpc", silent_triton,
                                 "--job-concurrency", "1", "--max-queued-jobs", "3", *store, command="gateway")
    try:
        submit(url, [{"data": "one"}, {"data": "two"}, {"data": "three"}])
        status, body = call(url, "/v1/submit_job", {"data": "four"})
        assert status == 429 and "limit of 3 (--max-queued-jobs)" in body["error"]["message"], body
    finally:
        process.kill()
        process.wait(10)


def job_state(work_dir, job_id: str) -> str:
    meta = work_dir / "jobs" / job_id / "job.json"
    return json.loads(meta.read_text())["state"] if meta.exists() else ""


def test_a_restart_keeps_finished_results_fails_running_jobs_and_runs_queued_ones(server, tmp_path, silent_triton):
    """A finished job survives; the job running when the gateway is killed (held by a Triton that
    never answers) fails as interrupted; the one queued behind it runs after the restart."""
    work_dir, one_at_a_time = tmp_path / "gw", ("--job-concurrency", "1")
    process, url = start_gateway(server, tmp_path / "first.log", command="gateway")
    [done_id] = submit(url, {"data": "Finished before the restart.", "filename": "done.txt"})
    [before] = finished(url, [done_id])
    stop(process, tmp_path / "first.log")
    process, url = start_gateway(server, tmp_path / "second.log", "--triton-grpc", silent_triton,
                                 *one_at_a_time, command="gateway")
    try:
        running_id, queued_id = submit(url, [{"data": b64(make_pdf(5)), "filename": "running.pdf"},
                                             {"data": "Queued behind the running one.", "filename": "queued.txt"}])
        wait_until(lambda: job_state(work_dir, running_id) == "running", "the first job to run")
        assert job_state(work_dir, queued_id) == "queued"
    finally:
        process.send_signal(signal.SIGKILL)  # a crash: nothing is flushed on the way out
        process.wait(10)
    process, url = start_gateway(server, tmp_path / "third.log", *one_at_a_time, command="gateway")
    try:
        after, running, queued = finished(url, [done_id, running_id, queued_id])
        assert after == before
        assert running["status"] == "failed" and running["error"]["reason"] == "interrupted"
        assert running["filename"] == "running.pdf" and "submit it again" in running["error"]["message"]
        assert queued["status"] == "done" and queued["result"]["chunks"][0]["text"] == "Queued behind the running one."
    finally:
        stop(process, tmp_path / "third.log")


def test_results_expire_after_the_ttl(server, tmp_path, store):
    process, url = start_gateway(server, tmp_path / "gateway.log", "--job-ttl", "1", *store, command="gateway")
    try:
        [job_id] = submit(url, {"data": "Short-lived."})
        assert finished(url, [job_id])[0]["status"] == "done"
        wait_until(lambda: fetch(url, [job_id])[0]["status"] == "not_found", "the result to expire", timeout=30)
        # its result.json goes first: a fetch may come between that and the directory's removal
        wait_until(lambda: not (tmp_path / "gw" / "jobs" / job_id).exists(), "the job's directory to go", timeout=30)
    finally:
        stop(process, tmp_path / "gateway.log")


def test_fetch_answers_each_distinct_id_once_in_the_order_first_asked(gateway):
    url, _ = gateway
    first, second = submit(url, [{"data": "First of two."}, {"data": "Second of two."}])
    finished(url, [first, second])
    query = urllib.parse.urlencode({"job_ids": f"{second},{first},{second},{first}"})
    status, body = call(url, "/v1/fetch_job?" + query)
    assert status == 200 and [item["job_id"] for item in body["results"]] == [second, first]
    status, body = call(url, "/v1/fetch_job", {"job_ids": [first] * 500 + [second, first]})
    assert status == 200 and [item["job_id"] for item in body["results"]] == [first, second]


def test_a_post_fetch_takes_a_thousand_ids_a_request_line_cannot(gateway):
    url, _ = gateway
    [job_id] = submit(url, {"data": "One among a thousand."})
    finished(url, [job_id])
    ids = [str(uuid.uuid4()) for _ in range(999)]
    ids.insert(500, job_id)
    assert len(urllib.parse.urlencode({"job_ids": ",".join(ids)})) > 8190  # over aiohttp's request line
    status, body = call(url, "/v1/fetch_job", {"job_ids": ids})
    assert status == 200 and [item["job_id"] for item in body["results"]] == ids
    assert [item["status"] for item in body["results"]] == ["not_found"] * 500 + ["done"] + ["not_found"] * 499
    status, body = call(url, "/v1/fetch_job", {"job_ids": ids + [str(uuid.uuid4())]})
    assert status == 400 and "1001 job ids; at most 1000" in body["error"]["message"]
    status, body = call(url, "/v1/fetch_job", {"job_ids": ["x" * 200_000]})
    assert status == 413 and "over 131072 bytes" in body["error"]["message"]
    status, body = call(url, "/v1/fetch_job", {"ids": [job_id]})
    assert status == 400 and body["error"]["param"] == "job_ids"


def test_a_store_error_on_a_job_s_way_out_does_not_stop_its_worker(server, tmp_path, silent_triton):
    """A queued job's document becomes a directory while the gateway is down: reading it fails, and so
    does the store on the job's way out (a directory is not unlinked). The only worker goes on."""
    work_dir, one_at_a_time = tmp_path / "gw", ("--job-concurrency", "1")
    process, url = start_gateway(server, tmp_path / "first.log", "--triton-grpc", silent_triton,
                                 *one_at_a_time, command="gateway")
    try:  # the first job is held by a Triton that never answers: the others stay queued
        held, broken, after = submit(url, [{"data": "Held.", "filename": "held.txt"},
                                           {"data": "Broken.", "filename": "broken.txt"},
                                           {"data": "After the broken one.", "filename": "after.txt"}])
        wait_until(lambda: job_state(work_dir, held) == "running", "the first job to run")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    document = work_dir / "jobs" / broken / "document"
    document.unlink()
    document.mkdir()
    process, url = start_gateway(server, tmp_path / "second.log", *one_at_a_time, command="gateway")
    try:
        _, failed, done = finished(url, [held, broken, after])
        assert failed["status"] == "failed" and "cannot read the document: Is a directory" in failed["error"]["message"]
        assert done["status"] == "done" and done["result"]["chunks"][0]["text"] == "After the broken one."
        [later] = finished(url, submit(url, {"data": "Submitted later."}))
        assert later["status"] == "done"
        assert f"job {broken}: its outcome could not be stored" in (tmp_path / "second.log").read_text()
    finally:
        stop(process, tmp_path / "second.log")


def test_a_long_pdf_runs_as_sub_jobs_whose_result_equals_the_unsplit_one(gateway):
    url, log = gateway
    pdf, options = make_pdf(70), {"chunk_size": 96}
    split, whole = submit(url, [{"data": b64(pdf), "filename": "seventy.pdf", "options": options},
                                {"data": b64(pdf), "filename": "seventy.pdf", "options": {**options, "split_pages": 0}}])
    seen = []
    while (item := fetch(url, [split])[0])["status"] == "pending":
        seen.append(item["progress"])
        time.sleep(0.05)
    assert seen == sorted(seen), seen
    [unsplit] = finished(url, [whole])
    assert item["status"] == unsplit["status"] == "done", item
    parts, one = item["result"], unsplit["result"]
    assert parts["summary"]["split"] == {"parts": 3, "split_pages": 32} and "split" not in one["summary"]
    assert parts["summary"]["pages"] == one["summary"]["pages"] == 70
    assert parts["summary"]["options"] == one["summary"]["options"]
    without = lambda chunks: [{k: v for k, v in c.items() if k != "embedding"} for c in chunks]  # noqa: E731
    assert without(parts["chunks"]) == without(one["chunks"])  # page order, indices renumbered 0..n-1
    np.testing.assert_allclose(np.array([c["embedding"] for c in parts["chunks"]]),
                               np.array([c["embedding"] for c in one["chunks"]]), atol=2e-5)
    logs = log.read_text() + ((log.parent / "worker.log").read_text() if (log.parent / "worker.log").exists() else "")
    assert f"job {split}: 70 pages split into 3 sub-jobs of 32" in logs


def test_split_pages_must_be_a_page_count(gateway):
    url, _ = gateway
    status, body = call(url, "/v1/submit_job", {"data": "x", "options": {"split_pages": -1}})
    assert status == 400 and "'options.split_pages' must be an integer in [0, 100000]" in body["error"]["message"]


def test_a_result_over_the_chunk_cap_fails_pointing_to_server_side_indexing(server, tmp_path, store):
    process, url = start_gateway(server, tmp_path / "gateway.log", "--max-result-chunks", "2", *store,
                                 command="gateway")
    try:
        three_pages = {"data": b64(make_pdf(3)), "options": {"chunk_size": 32, "chunk_overlap": 4}}
        small, large = finished(url, submit(url, [{"data": "One short chunk."}, three_pages]))
        assert small["status"] == "done"
        assert large["status"] == "failed" and large["error"]["reason"] == "invalid_input"
        assert "holds at most 2 (--max-result-chunks)" in large["error"]["message"]
        assert "options.index" in large["error"]["message"]
    finally:
        stop(process, tmp_path / "gateway.log")
