"""Jobs at scale on Redis, with every part a real process: front-only gateways (``--workers 0``),
``worker`` processes, a real ``redis-server`` and Triton. Each fault has its own test; each waits on
state it can observe (a job's state in Redis, a log line), never on a sleep."""

from __future__ import annotations

import base64
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from triton_ingest_client import Client

from support.clients import TRITON_ONLY
from support.commands import SLOW_INGEST
from support.documents import make_pdf
from support.gateway import fetch, finished, start_gateway, start_worker, submit
from support.redis_server import RedisServer
from support.waiting import wait_until
from triton_ingest.serving.server import free_port

pytestmark = TRITON_ONLY


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def processes():
    """Every process a test starts; whatever is left is killed at its end."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def front(server, redis, tmp_path, processes, name: str) -> tuple[subprocess.Popen, str]:
    process, url = start_gateway(server, tmp_path / f"{name}.log", "--jobs", redis.url, "--workers", "0",
                                 command="gateway")
    processes.append(process)
    return process, url


def worker(server, redis, tmp_path, processes, name: str, *extra: str, triton_grpc: str | None = None
           ) -> subprocess.Popen:
    """A worker process, on the test's Triton unless ``triton_grpc`` says otherwise."""
    process = start_worker(server, tmp_path / f"{name}.log", "--jobs", redis.url, *extra, triton_grpc=triton_grpc)
    processes.append(process)
    return process


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` with ``labels`` at a ``/metrics`` URL (0 when there are none)."""
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and labels.items() <= sample.labels.items())


def job_field(redis, job_id: str, field: str) -> str:
    value = redis.client().hget(f"triton-ingest:job:{job_id}", field)
    return value.decode() if value else ""


def test_a_worker_killed_mid_job_has_its_job_finished_by_another(server, redis, tmp_path, processes, silent_triton):
    _, url = front(server, redis, tmp_path, processes, "gateway")
    doomed = worker(server, redis, tmp_path, processes, "doomed", "--claim-idle", "2", triton_grpc=silent_triton)
    [job_id] = submit(url, {"data": "Taken over after its first worker died.", "filename": "t.txt"})
    wait_until(lambda: job_field(redis, job_id, "state") == "running", "the first worker to take the job")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(10)
    assert fetch(url, [job_id])[0]["status"] == "pending"
    port = free_port()
    worker(server, redis, tmp_path, processes, "survivor", "--claim-idle", "2", "--metrics-port", str(port))
    [item] = finished(url, [job_id])
    assert item["status"] == "done", item
    assert metric(f"http://127.0.0.1:{port}/metrics", "triton_ingest_jobs_reclaimed_total") == 1
    with Client(server.http_url) as direct:
        assert [c["text"] for c in item["result"]["chunks"]] == direct.ingest(b"Taken over after its first worker "
                                                                              b"died.", filename="t.txt").texts
    assert redis.client().xlen("triton-ingest:queue") == 0


def test_a_worker_stopped_with_sigterm_hands_its_job_back_within_its_grace(server, redis, tmp_path, processes,
                                                                          silent_triton):
    """The take-over idle time is 300 s: only a hand-back lets the second worker run the job at once."""
    _, url = front(server, redis, tmp_path, processes, "gateway")
    stopping = worker(server, redis, tmp_path, processes, "stopping", "--claim-idle", "300", "--grace", "1",
                      triton_grpc=silent_triton)
    [job_id] = submit(url, {"data": "Handed back on SIGTERM.", "filename": "h.txt"})
    wait_until(lambda: job_field(redis, job_id, "state") == "running", "the first worker to take the job")
    started = time.monotonic()
    stopping.send_signal(signal.SIGTERM)
    assert stopping.wait(30) == 0
    log = (tmp_path / "stopping.log").read_text()
    assert f"job {job_id} handed back" in log and "stopped" in log, log
    print(f"SIGTERM to exit with a job in flight: {time.monotonic() - started:.1f} s (grace 1 s)")
    assert job_field(redis, job_id, "state") == "queued"
    worker(server, redis, tmp_path, processes, "next", "--claim-idle", "300")
    assert finished(url, [job_id])[0]["status"] == "done"


def test_one_of_two_gateways_killed_the_other_answers_for_every_id(server, redis, tmp_path, processes):
    first, first_url = front(server, redis, tmp_path, processes, "first")
    _, second_url = front(server, redis, tmp_path, processes, "second")
    worker(server, redis, tmp_path, processes, "worker")
    ids = submit(first_url, [{"data": f"Submitted to the first gateway, number {i}."} for i in range(4)])
    ids += submit(second_url, [{"data": f"Submitted to the second gateway, number {i}."} for i in range(2)])
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    items = finished(second_url, ids)
    assert [item["status"] for item in items] == ["done"] * 6
    assert items[1]["result"]["chunks"][0]["text"] == "Submitted to the first gateway, number 1."


def test_queued_jobs_survive_a_redis_restart_and_the_gateway_reconnects(server, redis, tmp_path, processes):
    _, url = front(server, redis, tmp_path, processes, "gateway")
    ids = submit(url, [{"data": f"Queued across a Redis restart, {i}."} for i in range(3)])
    redis.restart()
    assert [item["status"] for item in fetch(url, ids)] == ["pending"] * 3
    wait_until(lambda: metric(url + "/metrics", "triton_ingest_jobs_queued") == 3, "the queued gauge to show 3",
               timeout=60)  # store-wide, read every 5 s: a front-only gateway shows the whole queue
    assert metric(url + "/metrics", "triton_ingest_jobs_oldest_age_seconds") > 0
    worker(server, redis, tmp_path, processes, "worker")
    items = finished(url, ids)
    assert [item["result"]["chunks"][0]["text"] for item in items] == [f"Queued across a Redis restart, {i}."
                                                                       for i in range(3)]


def test_jobs_on_an_unreachable_triton_fail_as_unavailable_and_none_is_lost(server, redis, tmp_path, processes):
    _, url = front(server, redis, tmp_path, processes, "gateway")
    port = free_port()
    worker(server, redis, tmp_path, processes, "worker", "--concurrency", "2", "--metrics-port", str(port),
           triton_grpc=f"localhost:{free_port()}")  # nothing listens there: each call fails, and is retried
    ids = submit(url, [{"data": f"No Triton for job {i}."} for i in range(3)])
    items = finished(url, ids, timeout=180)  # each job waits out the client's retries (about 8 to 16 s)
    assert [(item["status"], item["error"]["reason"]) for item in items] == [("failed", "unavailable")] * 3
    assert redis.client().xlen("triton-ingest:queue") == 0
    metrics = f"http://127.0.0.1:{port}/metrics"
    assert metric(metrics, "triton_ingest_jobs_finished_total", status="failed", reason="unavailable") == 3
    assert metric(metrics, "triton_ingest_job_stage_seconds_count", stage="ingest") == 3
    assert metric(metrics, "triton_ingest_job_stage_seconds_sum", stage="ingest") >= 3 * 3.5  # retried first


def test_a_burst_from_sixteen_submitters_through_two_gateways_and_three_workers(server, redis, tmp_path, processes):
    """500 one-line jobs: every job ends exactly once, each with its own document's text."""
    urls = [front(server, redis, tmp_path, processes, f"gateway{n}")[1] for n in range(2)]
    ports = [free_port() for _ in range(3)]
    for n, port in enumerate(ports):
        worker(server, redis, tmp_path, processes, f"worker{n}", "--concurrency", "4", "--metrics-port", str(port))

    def submitter(n: int) -> list[tuple[str, str]]:
        texts = [f"Burst job {n}-{i}: submitter {n}, item {i}." for i in range(500 // 16 + (n < 500 % 16))]
        ids = []
        for start in range(0, len(texts), 8):
            ids += submit(urls[n % 2], [{"data": t} for t in texts[start:start + 8]])
        return list(zip(ids, texts))

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        jobs = [job for batch in pool.map(submitter, range(16)) for job in batch]
    assert len(jobs) == 500 and len({job_id for job_id, _ in jobs}) == 500
    items = []
    for start in range(0, 500, 100):
        items += finished(urls[start // 100 % 2], [job_id for job_id, _ in jobs[start:start + 100]], timeout=600)
    print(f"500 jobs through 2 gateways and 3 workers: {time.monotonic() - started:.1f} s")
    assert [item["result"]["chunks"][0]["text"] for item in items] == [text for _, text in jobs]
    assert all(item["status"] == "done" and len(item["result"]["chunks"]) == 1 for item in items)
    runs = sum((tmp_path / f"worker{n}.log").read_text().count(" done: ") for n in range(3))
    assert runs == 500  # each job ran once: none twice, none lost
    workers = [f"http://127.0.0.1:{port}/metrics" for port in ports]
    assert sum(metric(w, "triton_ingest_jobs_finished_total", status="done") for w in workers) == 500
    assert sum(metric(w, "triton_ingest_job_stage_seconds_count", stage="wait") for w in workers) == 500
    assert sum(metric(u + "/metrics", "triton_ingest_jobs_submitted_total") for u in urls) == 500


def test_a_worker_killed_mid_stream_leaves_triton_serving_streams(server, redis, tmp_path, processes):
    """The worker is SIGKILLed while Triton streams it a 150-page PDF one chunk per embed call (its
    progress in Redis shows the stream is under way): Triton stays ready and serves the next
    ``ingest_stream`` at once."""
    _, url = front(server, redis, tmp_path, processes, "gateway")
    doomed = worker(server, redis, tmp_path, processes, "doomed")
    [job_id] = submit(url, {"data": base64.b64encode(make_pdf(150)).decode(), "filename": "long.pdf",
                            "options": {**SLOW_INGEST, "split_pages": 0}})
    wait_until(lambda: float(job_field(redis, job_id, "progress") or 0) > 0, "the stream to be under way")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(10)
    with Client(server.grpc_url, "grpc") as direct:
        assert direct.health()["ready"]
        result = direct.ingest(b"Served right after a worker died mid-stream.", filename="next.txt", stream=True)
    assert result.texts == ["Served right after a worker died mid-stream."]
