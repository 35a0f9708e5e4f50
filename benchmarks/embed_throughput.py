"""Served `embed` throughput next to in-process ONNX Runtime, same texts, same run.

    python benchmarks/embed_throughput.py [--texts 384] [--json build/bench/embed.json]

Starts tritonserver on free ports, then measures:
- in-process ONNX Runtime with the embedder's own code (same ONNX file, tokenizer,
  packing): 16 texts per call, and all texts in one call (sorted by length: the ceiling);
- served `embed` over HTTP and gRPC at concurrency 1 and 8, 16 texts per request.
Prints texts/s, tokens/s, p50/p99 latency and ratios to in-process at 16 texts/call.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

sys.path.insert(0, str(Path(__file__).parent))
from corpus import chunk_texts  # noqa: E402

from triton_ingest.artifacts import ONNX_FILE, TOKENIZER_FILE, artifact  # noqa: E402
from triton_ingest.contracts import EMBED  # noqa: E402
from triton_ingest.embedding import OnnxEmbedder  # noqa: E402
from triton_ingest.server import TritonServer  # noqa: E402
from triton_ingest.tokenization import TextTokenizer  # noqa: E402


def batches(texts: list[str], size: int) -> list[list[str]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]


def summarize(name: str, n_texts: int, n_tokens: int, seconds: float, latencies: list[float]) -> dict:
    lat = np.array(latencies) * 1000
    return {
        "name": name, "texts": n_texts, "seconds": round(seconds, 3),
        "texts_per_s": round(n_texts / seconds, 1), "tokens_per_s": round(n_tokens / seconds),
        "p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1),
    }


def in_process(texts: list[str], per_call: int, n_tokens: int) -> dict:
    """ORT in this process with the server's own embedder code and default settings.

    ``per_call`` = all texts is the ceiling: the whole set sorted by length before packing.
    """
    tokenizer, embedder = TextTokenizer(artifact(TOKENIZER_FILE)), OnnxEmbedder(artifact(ONNX_FILE))
    embedder.embed(*tokenizer.encode(texts[:16]))  # warm-up
    latencies, start = [], time.perf_counter()
    for group in batches(texts, per_call):
        t0 = time.perf_counter()
        embedder.embed(*tokenizer.encode(group))
        latencies.append(time.perf_counter() - t0)
    name = "in-process ORT, all texts in one call" if per_call >= len(texts) else f"in-process ORT, {per_call}/call"
    return summarize(name, len(texts), n_tokens, time.perf_counter() - start, latencies)


def served(server: TritonServer, protocol: str, texts: list[str], per_request: int, concurrency: int, n_tokens: int) -> dict:
    module, url = (httpclient, server.http_url) if protocol == "http" else (grpcclient, server.grpc_url)
    local, clients = threading.local(), []

    def call(group: list[str]) -> float:
        if not hasattr(local, "client"):
            local.client = module.InferenceServerClient(url)
            clients.append(local.client)
        data = np.array([[t.encode()] for t in group], dtype=object)
        tensor = module.InferInput("TEXT", list(data.shape), EMBED.input("TEXT").wire_dtype)
        tensor.set_data_from_numpy(data)
        t0 = time.perf_counter()
        local.client.infer(EMBED.name, [tensor]).as_numpy("EMBEDDING")
        return time.perf_counter() - t0

    groups = batches(texts, per_request)
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(call, groups[: concurrency * 2]))  # warm-up, one client per thread
        before = embedder_counts(server)
        start = time.perf_counter()
        latencies = list(pool.map(call, groups))
        seconds = time.perf_counter() - start
        after = embedder_counts(server)
    for client in clients:
        client.close()
    row = summarize(f"served {protocol}, c={concurrency}, {per_request}/request", len(texts), n_tokens, seconds, latencies)
    row["embedder_requests"] = after[0] - before[0]
    row["embedder_executions"] = after[1] - before[1]
    return row


def embedder_counts(server: TritonServer) -> tuple[int, int]:
    """(requests, executions) of the embedder so far, from Triton's statistics."""
    client = httpclient.InferenceServerClient(server.http_url)
    try:
        stats = client.get_inference_statistics("embedder")["model_stats"][0]
    finally:
        client.close()
    return int(stats["inference_stats"]["success"]["count"]), int(stats["execution_count"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=384)
    parser.add_argument("--json", type=Path, default=Path("build/bench/embed.json"))
    args = parser.parse_args()
    texts = (chunk_texts() * 4)[: args.texts]
    n_tokens = sum(TextTokenizer(artifact(TOKENIZER_FILE)).count_tokens(texts))
    print(f"{len(texts)} texts, {n_tokens / len(texts):.0f} tokens/text on average")
    rows = [in_process(texts, 16, n_tokens), in_process(texts, len(texts), n_tokens)]
    with TritonServer.on_free_ports() as server:
        for protocol in ("http", "grpc"):
            for concurrency in (1, 8):
                rows.append(served(server, protocol, texts, 16, concurrency, n_tokens))
    baseline = rows[0]["texts_per_s"]
    print(f"\n{'run':38} {'texts/s':>8} {'tokens/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs in-proc':>10} {'embedder req/exec':>18}")
    for row in rows:
        row["ratio_vs_in_process"] = round(row["texts_per_s"] / baseline, 3)
        print(f"{row['name']:38} {row['texts_per_s']:8.1f} {row['tokens_per_s']:9d} "
              f"{row['p50_ms']:8.1f} {row['p99_ms']:8.1f} {row['ratio_vs_in_process']:10.3f}"
              + (f" {row['embedder_requests']:>8}/{row['embedder_executions']}" if "embedder_requests" in row else ""))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
