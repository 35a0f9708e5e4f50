"""The job API at scale: its overhead on Redis vs on disk, the speed-up of splitting a large PDF
across two Tritons, and Redis memory per stored chunk. Each compares runs made here, in one go.

    python benchmarks/jobs_throughput.py [--jobs 200] [--pages 1151] [--json build/bench/jobs.json]

1. **Job overhead.** ``--jobs`` one-page jobs are submitted in batches of 20 and fetched until
   done. The gateway runs them with 4 in-process workers, once on the disk store and once on
   Redis (a real ``redis-server`` with AOF, ``appendfsync always``). Reported as jobs/s, and
   Redis / disk (goal >= 0.9).
2. **Split speed-up.** A ``--pages`` prose PDF runs as one job on one Triton pinned to core 0
   (``taskset``; ``split_pages`` 0). Then it runs split into 32-page sub-jobs, on two Tritons
   pinned to cores 0 and 1, one worker each. Reported as pages/s, and split / unsplit (goal
   >= 1.6). Both results are checked to hold the same chunks.
3. **Redis memory** (``INFO used_memory``) before the split run and after it: the bytes per
   1,000 stored chunks of its result. The sub-jobs' own results are discarded once merged.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from ingest_throughput import make_prose_pdf  # noqa: E402
from report import cpu_features, write_json  # noqa: E402
from support.redis_server import RedisServer  # noqa: E402

from triton_ingest.serving.server import free_port, http_ready  # noqa: E402

CLI = str(Path(sys.executable).parent / "triton-ingest-server")


def start(command: list[str], log: Path, ready) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                               env={k: v for k, v in os.environ.items() if k != "NVCF_LOCAL_API_KEY"})
    deadline = time.monotonic() + 300
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{command[:3]} did not start; see {log}")
        time.sleep(0.1)
    return process


def triton(work: Path, name: str, core: int | None) -> tuple[subprocess.Popen, str, str]:
    """``triton-ingest-server serve`` (tritonserver and its stubs), pinned to ``core`` when given; its
    HTTP and gRPC addresses."""
    http, grpc, metrics = free_port(), free_port(), free_port()
    pin = ["taskset", "-c", str(core)] if core is not None else []
    process = start([*pin, CLI, "serve", "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port",
                     str(metrics)], work / f"{name}.log", lambda: http_ready(f"localhost:{http}"))
    return process, f"localhost:{http}", f"localhost:{grpc}"


def gateway(work: Path, name: str, triton_at: tuple, *flags: str) -> tuple[subprocess.Popen, str]:
    """A gateway in front of ``triton_at`` (a :func:`triton`), ready when that Triton is."""
    port = free_port()
    process = start([CLI, "gateway", "--triton", triton_at[1], "--triton-grpc", triton_at[2], "--port", str(port),
                     "--work-dir", str(work / name),
                     *flags], work / f"{name}.log", lambda: http_ready(f"localhost:{port}"))
    return process, f"http://localhost:{port}"


def worker(work: Path, name: str, grpc: str, redis_url: str) -> subprocess.Popen:
    log = work / f"{name}.log"
    return start([CLI, "worker", "--jobs", redis_url, "--triton-grpc", grpc, "--concurrency", "4"], log,
                 lambda: " jobs at once from " in log.read_text())


def call(url: str, path: str, body=None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url + path, data=data), timeout=600) as reply:
        return json.loads(reply.read())


def run_jobs(url: str, jobs: list[dict]) -> tuple[float, list[dict]]:
    """Seconds from the first submit until every job ended, and their items."""
    started, ids = time.perf_counter(), []
    for first in range(0, len(jobs), 20):
        ids += call(url, "/v1/submit_job", jobs[first:first + 20])["job_ids"]
    items: dict[str, dict] = {}
    while len(items) < len(ids):
        waiting = [i for i in ids if i not in items][:500]
        for item in call(url, "/v1/fetch_job", {"job_ids": waiting})["results"]:
            if item["status"] != "pending":
                items[item["job_id"]] = item
        time.sleep(0.05)
    return time.perf_counter() - started, [items[i] for i in ids]


def overhead(work: Path, redis_url: str, count: int) -> dict:
    served = triton(work, "triton-overhead", None)
    jobs = [{"data": f"One-page job number {i}: a short note about queues and workers.", "filename": f"{i}.txt"}
            for i in range(count)]
    found = {}
    try:
        for store, flags in (("disk", ()), ("redis", ("--jobs", redis_url))):
            process, url = gateway(work, f"gateway-{store}", served, "--workers", "4", *flags)
            try:
                run_jobs(url, jobs[:20])  # warm-up
                seconds, items = run_jobs(url, jobs)
                assert all(item["status"] == "done" for item in items), items[:3]
                found[f"{store}_jobs_per_s"] = round(count / seconds, 1)
            finally:
                process.terminate()
                process.wait(60)
    finally:
        served[0].terminate()
        served[0].wait(120)
    found["redis_vs_disk"] = round(found["redis_jobs_per_s"] / found["disk_jobs_per_s"], 3)
    return found


def split_speedup(work: Path, redis: RedisServer, pages: int) -> dict:
    pdf = base64.b64encode(make_prose_pdf(pages)).decode()
    tritons = [triton(work, f"triton-core{core}", core) for core in (0, 1)]
    processes = [served[0] for served in tritons]
    try:
        front, url = gateway(work, "gateway-split", tritons[0], "--jobs", redis.url, "--workers", "0")
        processes.append(front)
        processes.append(worker(work, "worker-core0", tritons[0][2], redis.url))
        whole_s, [whole] = run_jobs(url, [{"data": pdf, "filename": "big.pdf", "options": {"split_pages": 0}}])
        processes.append(worker(work, "worker-core1", tritons[1][2], redis.url))
        used_before = redis.client().info("memory")["used_memory"]
        split_s, [split] = run_jobs(url, [{"data": pdf, "filename": "big.pdf"}])
        used_after = redis.client().info("memory")["used_memory"]
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(120)
    assert whole["status"] == split["status"] == "done", (whole.get("error"), split.get("error"))
    same = [c["text"] for c in whole["result"]["chunks"]] == [c["text"] for c in split["result"]["chunks"]]
    chunks = len(split["result"]["chunks"])
    return {"pages": pages, "chunks": chunks, "same_chunks": same, "parts": split["result"]["summary"]["split"]["parts"],
            "unsplit_pages_per_s": round(pages / whole_s, 1), "split_pages_per_s": round(pages / split_s, 1),
            "split_vs_unsplit": round(whole_s / split_s, 3),
            "redis_bytes_per_1000_chunks": round((used_after - used_before) / chunks * 1000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--pages", type=int, default=1151)
    parser.add_argument("--json", type=Path, default=Path("build/bench/jobs.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        redis = RedisServer(work / "redis")
        try:
            results = {"cpu": cpu_features(), "cores": os.cpu_count(), **overhead(work, redis.url, args.jobs)}
            results.update(split_speedup(work, redis, args.pages) if (os.cpu_count() or 1) >= 2 else
                           {"split": "skipped: one core (two pinned Tritons need two)"})
        finally:
            redis.stop()
    print(f"\n{results['cpu']}, {results['cores']} cores")
    print(f"  {args.jobs} one-page jobs, disk store   {results['disk_jobs_per_s']:8.1f} jobs/s")
    print(f"  {args.jobs} one-page jobs, Redis store  {results['redis_jobs_per_s']:8.1f} jobs/s")
    print(f"  Redis / disk                   {results['redis_vs_disk']:8.3f} (goal >= 0.9: "
          f"{'ok' if results['redis_vs_disk'] >= 0.9 else 'MISSED'})")
    if "split_vs_unsplit" in results:
        print(f"  {results['pages']}-page PDF, one Triton on core 0  {results['unsplit_pages_per_s']:8.1f} pages/s")
        print(f"  split in {results['parts']}, Tritons on cores 0+1  {results['split_pages_per_s']:8.1f} pages/s "
              f"(same chunks: {results['same_chunks']})")
        print(f"  split / unsplit                {results['split_vs_unsplit']:8.3f} (goal >= 1.6: "
              f"{'ok' if results['split_vs_unsplit'] >= 1.6 else 'MISSED'})")
        print(f"  Redis memory per 1,000 stored chunks: {results['redis_bytes_per_1000_chunks'] / 1e6:.2f} MB")
    write_json(args.json, results)


if __name__ == "__main__":
    main()
