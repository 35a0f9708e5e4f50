"""The gateway's overhead: OpenAI ``/v1/embeddings`` through the gateway vs Triton's ``embed`` directly.

    python benchmarks/gateway_throughput.py [--rounds 4] [--json build/bench/gateway.json]

The same prose texts (benchmarks/corpus.py, about 390), 16 per request, 16 requests in flight, over HTTP,
one run each, alternated: Triton's KServe v2 ``embed`` with tritonclient, and the gateway's
``/v1/embeddings`` with ``encoding_format: base64`` (what the ``openai`` package asks for). The goal
is gateway throughput at least 0.9 x direct.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient

sys.path.insert(0, str(Path(__file__).parent))
from report import write_json  # noqa: E402

from triton_ingest.contracts import EMBED  # noqa: E402
from triton_ingest.models.corpus import chunk_texts  # noqa: E402
from triton_ingest.serving.server import TritonServer, free_port, http_ready  # noqa: E402

PER_REQUEST, IN_FLIGHT = 16, 16


def groups(texts: list[str], rounds: int) -> list[list[str]]:
    return [texts[i : i + PER_REQUEST] for _ in range(rounds) for i in range(0, len(texts), PER_REQUEST)]


def direct(url: str, batches: list[list[str]]) -> float:
    client = httpclient.InferenceServerClient(url, concurrency=IN_FLIGHT, network_timeout=600)

    def call(batch: list[str]) -> None:
        data = np.array([[t.encode()] for t in batch], dtype=object)
        tensor = httpclient.InferInput("TEXT", list(data.shape), "BYTES")
        tensor.set_data_from_numpy(data)
        client.infer(EMBED.name, [tensor])

    return _timed(call, batches, client.close)


def through_gateway(url: str, batches: list[list[str]]) -> float:
    def call(batch: list[str]) -> None:
        body = json.dumps({"model": "all-MiniLM-L6-v2", "input": batch, "encoding_format": "base64"}).encode()
        request = urllib.request.Request(url + "/v1/embeddings", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as reply:
            assert len(json.loads(reply.read())["data"]) == len(batch)

    return _timed(call, batches, lambda: None)


def _timed(call, batches: list[list[str]], close) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        list(pool.map(call, batches))
    seconds = time.perf_counter() - started
    close()
    return sum(len(b) for b in batches) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="passes over the texts per measurement")
    parser.add_argument("--json", type=Path, default=Path("build/bench/gateway.json"))
    args = parser.parse_args()
    batches = groups(chunk_texts(), args.rounds)
    port = free_port()
    with TritonServer.on_free_ports() as server, tempfile.TemporaryDirectory() as work:
        gateway = subprocess.Popen([str(Path(sys.executable).parent / "triton-ingest-server"), "gateway", "--triton",
                                    server.http_url, "--port", str(port), "--work-dir", work],
                                   env={k: v for k, v in os.environ.items() if k != "NVCF_LOCAL_API_KEY"},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            while not http_ready(f"localhost:{port}"):
                if gateway.poll() is not None:
                    raise SystemExit(f"the gateway exited with {gateway.returncode} before it was ready")
                time.sleep(0.1)
            url = f"http://localhost:{port}"
            direct(server.http_url, batches[:IN_FLIGHT])  # warm-up, both paths
            through_gateway(url, batches[:IN_FLIGHT])
            results = {"texts": sum(len(b) for b in batches), "per_request": PER_REQUEST, "in_flight": IN_FLIGHT,
                       "direct_texts_per_s": round(direct(server.http_url, batches), 1),
                       "gateway_texts_per_s": round(through_gateway(url, batches), 1)}
        finally:
            gateway.terminate()
            gateway.wait(30)
    results["ratio"] = round(results["gateway_texts_per_s"] / results["direct_texts_per_s"], 3)
    print(f"\n{results['texts']} texts, {PER_REQUEST} per request, {IN_FLIGHT} in flight, HTTP:")
    print(f"  Triton embed directly     {results['direct_texts_per_s']:8.1f} texts/s")
    print(f"  gateway /v1/embeddings    {results['gateway_texts_per_s']:8.1f} texts/s")
    print(f"  gateway / direct          {results['ratio']:8.3f} (goal >= 0.9: {'ok' if results['ratio'] >= 0.9 else 'MISSED'})")
    write_json(args.json, results)


if __name__ == "__main__":
    main()
