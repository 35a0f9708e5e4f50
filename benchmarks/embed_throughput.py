"""Served `embed` and `embed_int8` next to in-process ONNX Runtime and sentence-transformers.

    python benchmarks/embed_throughput.py [--texts 384] [--out build/bench]

One run, one machine, the same real texts (chunk-sized prose from the Python standard
library's docstrings). It starts tritonserver on free ports and measures:
(a) sentence-transformers ``encode`` (PyTorch on CPU, batch 32);
(b) in-process ONNX Runtime with the embedder's own code and served parameters (int8: the variant
    this CPU serves), on all cores: 16 texts per call, and all texts in one call (the ceiling);
(c) served ``embed`` over HTTP and gRPC at concurrency 1, 4, 8, 16 and 32, with 16 texts
    and with 1 text per request, and ``embed_int8`` over gRPC;
(d) ``embed`` and ``embed_int8`` in paired rounds (gRPC, 16 texts/request, c=8 and 16, three rounds,
    the two models one after the other): the int8 speed-up, compared under the same machine load;
plus the int8 accuracy against fp32 on those texts, and both models against sentence-transformers on
the export's check set (mean/min cosine, top-10 neighbour agreement), next to the CPU's SIMD features
and the int8 variant served on it.
It prints a table and the ratios against the targets, and writes JSON and PNG plots.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

sys.path.insert(0, str(Path(__file__).parent))
from report import cpu_features, plot, print_report  # noqa: E402

from triton_ingest.contracts import EMBED, EMBED_INT8  # noqa: E402
from triton_ingest.models.artifacts import ONNX_FILE, TOKENIZER_FILE, artifact, artifact_dir  # noqa: E402
from triton_ingest.models.embedding import load_embedder  # noqa: E402
from triton_ingest.models.corpus import chunk_texts  # noqa: E402
from triton_ingest.models.int8_check import neighbour_agreement  # noqa: E402
from triton_ingest.models.int8_choice import Variant, choose, measure  # noqa: E402
from triton_ingest.models.tokenization import TextTokenizer  # noqa: E402
from triton_ingest.paths import DEFAULT_MODEL_REPOSITORY  # noqa: E402
from triton_ingest.serving.repository import load_config  # noqa: E402
from triton_ingest.serving.server import TritonServer  # noqa: E402

CONCURRENCY = (1, 4, 8, 16, 32)


def batches(texts: list[str], size: int) -> list[list[str]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]


def summarize(name: str, texts: list[str], n_tokens: int, seconds: float, latencies: list[float], **extra) -> dict:
    lat = np.array(latencies) * 1000
    return {
        "name": name, "texts": len(texts), "seconds": round(seconds, 3),
        "texts_per_s": round(len(texts) / seconds, 1), "tokens_per_s": round(n_tokens / seconds),
        "p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1),
        **extra,
    }


def timed_calls(fn, groups) -> tuple[float, list[float]]:
    latencies, start = [], time.perf_counter()
    for group in groups:
        t0 = time.perf_counter()
        fn(group)
        latencies.append(time.perf_counter() - t0)
    return time.perf_counter() - start, latencies


def sentence_transformers_run(texts: list[str], n_tokens: int) -> tuple[dict, np.ndarray]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    from triton_ingest.models.export import source_model_dir

    model = SentenceTransformer(str(source_model_dir()), device="cpu")
    model.encode(texts[:32], batch_size=32)
    seconds, latencies = timed_calls(lambda g: model.encode(g, batch_size=32), batches(texts, 32))
    return summarize("sentence-transformers, batch 32", texts, n_tokens, seconds, latencies, kind="reference"), \
        model.encode(texts, batch_size=32)


def served_embedder(model: str):
    """``model``'s embedder as its ``config.pbtxt`` describes it, on all of this machine's cores."""
    config = load_config(DEFAULT_MODEL_REPOSITORY / model / "config.pbtxt")
    params = {key: value.string_value for key, value in config.parameters.items()}
    return load_embedder({**params, "intra_op_threads": str(len(os.sched_getaffinity(0)))})


def in_process(texts: list[str], n_tokens: int, precision: str, per_call: int) -> tuple[dict, np.ndarray]:
    tokenizer, embedder = TextTokenizer(artifact(TOKENIZER_FILE)), served_embedder(
        "embedder_int8" if precision == "int8" else "embedder")
    embedder.embed(*tokenizer.encode(texts[:16]))  # warm-up
    outputs = []
    seconds, latencies = timed_calls(lambda g: outputs.append(embedder.embed(*tokenizer.encode(g))), batches(texts, per_call))
    how = "all texts in one call" if per_call >= len(texts) else f"{per_call}/call"
    return summarize(f"in-process ORT {precision}, {how}", texts, n_tokens, seconds, latencies, kind="in-process",
                     precision=precision, per_call=per_call), np.vstack(outputs)


def served(server: TritonServer, model: str, protocol: str, texts: list[str], n_tokens: int,
           per_request: int, concurrency: int) -> dict:
    module, url = (httpclient, server.http_url) if protocol == "http" else (grpcclient, server.grpc_url)
    local, clients = threading.local(), []

    def call(group: list[str]) -> float:
        if not hasattr(local, "client"):
            local.client = module.InferenceServerClient(url)
            clients.append(local.client)
        data = np.array([[t.encode()] for t in group], dtype=object)
        tensor = module.InferInput("TEXT", list(data.shape), "BYTES")
        tensor.set_data_from_numpy(data)
        t0 = time.perf_counter()
        local.client.infer(model, [tensor]).as_numpy("EMBEDDING")
        return time.perf_counter() - t0

    groups = batches(texts, per_request)
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(call, groups[: concurrency * 2]))  # warm-up, one client per thread
        start = time.perf_counter()
        latencies = list(pool.map(call, groups))
        seconds = time.perf_counter() - start
    for client in clients:
        client.close()
    return summarize(f"served {model} {protocol}, c={concurrency}, {per_request}/request", texts, n_tokens, seconds,
                     latencies, kind="served", model=model, protocol=protocol, concurrency=concurrency,
                     per_request=per_request)


def paired_rounds(server: TritonServer, texts: list[str], n_tokens: int, levels, rounds: int) -> dict:
    """``embed`` and ``embed_int8`` over gRPC, 16 texts/request, one after the other in each round at
    each concurrency: texts/s by concurrency and model, measured under the same machine load."""
    measured: dict = {}
    for _ in range(rounds):
        for concurrency in levels:
            for model in (EMBED.name, EMBED_INT8.name):
                row = served(server, model, "grpc", texts, n_tokens, 16, concurrency)
                measured.setdefault(str(concurrency), {}).setdefault(model, []).append(row["texts_per_s"])
    return measured


def int8_accuracy(fp32: np.ndarray, int8: np.ndarray, k: int = 10) -> dict:
    cos = np.sum(fp32 * int8, axis=1)
    agreement = neighbour_agreement(fp32, int8, k)
    return {"texts": len(cos), "mean_cosine": round(float(cos.mean()), 4), "min_cosine": round(float(cos.min()), 4),
            f"top{k}_agreement": round(float(agreement), 3)}


def check_set_accuracy() -> dict:
    """Both served models against sentence-transformers on the export's check set (every kind of
    text), with the vectors the export stored."""
    choice = choose()
    served = {"fp32": Variant("fp32", ONNX_FILE, False), "int8": Variant(choice.variant, choice.file, False)}
    return {precision: asdict(measure(artifact_dir(), variant)) for precision, variant in served.items()
            if variant.file is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=384)
    parser.add_argument("--single-texts", type=int, default=192, help="texts for the 1-text-per-request runs")
    parser.add_argument("--out", type=Path, default=Path("build/bench"))
    parser.add_argument("--smoke", action="store_true", help="a few texts and levels: checks that it runs")
    args = parser.parse_args()
    levels = (1, 4) if args.smoke else CONCURRENCY
    if args.smoke:
        args.texts, args.single_texts = 32, 8
    texts = (chunk_texts() * 4)[: args.texts]
    singles = texts[: args.single_texts]
    tokenizer = TextTokenizer(artifact(TOKENIZER_FILE))
    n_tokens, n_single = sum(tokenizer.count_tokens(texts)), sum(tokenizer.count_tokens(singles))
    print(f"{len(texts)} texts, {n_tokens / len(texts):.0f} tokens/text on average; cores: {os.cpu_count()}")
    st_row, st_vectors = sentence_transformers_run(texts, n_tokens)
    rows = [st_row]
    vectors = {}
    int8 = choose()
    print(int8.line())
    precisions = ("fp32", "int8") if int8.variant else ("fp32",)  # int8 may not be served on this CPU
    for precision in precisions:
        row, _ = in_process(texts, n_tokens, precision, 16)
        ceiling, vectors[precision] = in_process(texts, n_tokens, precision, len(texts))
        rows += [row, ceiling]
    with TritonServer.on_free_ports() as server:
        for protocol in ("http", "grpc"):
            for concurrency in levels:
                rows.append(served(server, EMBED.name, protocol, texts, n_tokens, 16, concurrency))
                rows.append(served(server, EMBED.name, protocol, singles, n_single, 1, concurrency))
        for concurrency in (levels if args.smoke else (1, 8, 16)) if int8.variant else ():
            rows.append(served(server, EMBED_INT8.name, "grpc", texts, n_tokens, 16, concurrency))
        paired = {} if not int8.variant else \
            paired_rounds(server, texts, n_tokens, levels if args.smoke else (8, 16), 1 if args.smoke else 3)
    accuracy = int8_accuracy(vectors["fp32"], vectors["int8"]) if int8.variant else {}
    parity = float(np.min(np.sum(st_vectors * vectors["fp32"], axis=1)))
    results = {"machine": f"{os.cpu_count()} cores, no GPU", "cpu": cpu_features(), "int8_served": int8.line(),
               "rows": rows, "paired": paired,
               "int8_accuracy": accuracy, "fp32_min_cosine_vs_sentence_transformers": round(parity, 6),
               "check_set": check_set_accuracy()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "embed.json").write_text(json.dumps(results, indent=2) + "\n")
    print_report(results)
    plot(results, args.out)
    print(f"\nwrote {args.out / 'embed.json'}, {args.out / 'throughput.png'}, {args.out / 'latency.png'}")


if __name__ == "__main__":
    main()
