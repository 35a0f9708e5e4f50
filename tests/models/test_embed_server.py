"""The real tritonserver serves `embed` over HTTP and gRPC, matching sentence-transformers."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest

from support.clients import cosines, embed, embed_with, run_concurrently

pytestmark = pytest.mark.integration

PARITY_TEXTS = [
    "A man is eating food.",
    "Triton serves models over HTTP and gRPC. " * 80,  # ~800 tokens: truncated at 256
    "Ünïcödé naïve café, 日本語のテキスト, русский текст, عربى",
    "emoji only 🚀🔥👍🏽🇫🇷",
    "",
    "   ",
    "MiXeD CaSe and numbers 1234567890 and punctuation!?;:",
]


def test_server_is_live_ready_and_models_ready(server, clients):
    for client in clients.values():
        assert client.is_server_live() and client.is_server_ready()
        for model in ("tokenizer", "embedder", "embed"):
            assert client.is_model_ready(model)


def test_parity_with_sentence_transformers(clients, protocol, reference_model):
    served = embed(clients, protocol, PARITY_TEXTS)
    expected = reference_model.encode(PARITY_TEXTS, convert_to_numpy=True)
    assert served.shape == (len(PARITY_TEXTS), 384) and served.dtype == np.float32
    assert cosines(served, expected).min() >= 0.9999
    np.testing.assert_allclose(np.linalg.norm(served, axis=1), 1.0, atol=1e-5)


def test_http_and_grpc_agree(clients):
    np.testing.assert_allclose(embed(clients, "http", PARITY_TEXTS), embed(clients, "grpc", PARITY_TEXTS), atol=1e-6)


def test_one_megabyte_text_is_truncated_to_256_tokens(clients, protocol):
    long_text = "lorem ipsum dolor " * 58_000  # ~1 MB
    assert len(long_text.encode()) > 1_000_000
    got, prefix = embed(clients, protocol, [long_text, "lorem ipsum dolor " * 200])
    assert float(got @ prefix) > 0.99999


def test_plain_json_infer_like_curl(server, reference_model):
    body = {"inputs": [{"name": "TEXT", "shape": [2, 1], "datatype": "BYTES", "data": ["hello world", "Triton"]}]}
    request = urllib.request.Request(
        f"http://{server.http_url}/v2/models/embed/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        output = json.load(reply)["outputs"][0]
    assert output["name"] == "EMBEDDING" and output["datatype"] == "FP32" and output["shape"] == [2, 384]
    vectors = np.array(output["data"], dtype=np.float32).reshape(2, 384)
    assert cosines(vectors, reference_model.encode(["hello world", "Triton"])).min() >= 0.9999


def model_stats(client, model: str) -> tuple[int, int]:
    stats = client.get_inference_statistics(model)["model_stats"][0]
    return int(stats["inference_count"]), int(stats["execution_count"])


def test_requests_of_different_lengths_share_embedder_batches(server, clients):
    """Ragged batching: many concurrent requests of mixed lengths -> fewer executions than requests."""
    http = clients["http"]
    before = model_stats(http, "embedder")
    texts = [("word " * n).strip() for n in (1, 5, 20, 60, 120, 200, 250, 3)] * 8
    results = run_concurrently(server, "http", lambda c, t: embed_with(c, "http", [t, t[: len(t) // 2]]), texts, 16)
    after = model_stats(http, "embedder")
    inferences, executions = after[0] - before[0], after[1] - before[1]
    assert inferences == 2 * len(texts)
    assert executions < len(texts), f"{len(texts)} requests ran in {executions} executions"
    solo = embed(clients, "http", [texts[5]])
    np.testing.assert_allclose(results[5][:1], solo, atol=2e-5)


def test_concurrent_requests_get_their_own_results(server, clients, protocol):
    texts = [f"request number {i} about topic {i * 7 % 13}" for i in range(48)]
    expected = embed(clients, protocol, texts)
    got = run_concurrently(server, protocol, lambda c, t: embed_with(c, protocol, [t])[0], texts, 12)
    np.testing.assert_allclose(np.vstack(got), expected, atol=2e-5)


def test_int8_embed_stays_close_to_fp32(clients, protocol):
    from support.clients import text_input

    texts = PARITY_TEXTS + [f"sentence number {i} about {t}" for i, t in enumerate(["cats", "GPUs", "rain", "tax"])]
    int8 = clients[protocol].infer("embed_int8", [text_input(protocol, texts)]).as_numpy("EMBEDDING")
    fp32 = embed(clients, protocol, texts)
    assert int8.shape == fp32.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    # edge cases (empty, whitespace-only) are the worst; make bench reports the real-corpus accuracy
    assert cosines(int8, fp32).mean() >= 0.98 and cosines(int8, fp32).min() >= 0.97


def test_embed_int8_serves_this_cpus_variant_and_a_text_is_the_same_alone_and_in_a_batch(server, clients, protocol):
    """The variant chosen for this CPU is on the metrics port; dynamic batching may put a text with
    any others (here 56 chunks of prose in one request of 64), and its int8 vector does not change."""
    from support.clients import text_input
    from support.waiting import metric
    from triton_ingest.models.corpus import chunk_texts
    from triton_ingest.models.int8_choice import choose, cpu_class

    assert metric(server.metrics_port, "triton_ingest_int8_variant", variant=choose().variant, cpu=cpu_class()) == 1
    texts = PARITY_TEXTS[:8]
    batch = clients[protocol].infer("embed_int8", [text_input(protocol, chunk_texts()[:56] + texts)]).as_numpy("EMBEDDING")
    alone = np.vstack([clients[protocol].infer("embed_int8", [text_input(protocol, [t])]).as_numpy("EMBEDDING")
                       for t in texts])
    np.testing.assert_allclose(batch[56:], alone, atol=1e-6)


def test_served_embed_int8_equals_its_own_onnx_file_run_here_on_the_same_batch(clients, protocol):
    """The served vectors are the chosen variant's file run with the served settings (one text per
    ONNX Runtime call, one thread), on this machine: nothing is lost between the file and the wire."""
    from support.clients import text_input
    from triton_ingest.models.artifacts import TOKENIZER_FILE, artifact, artifact_dir
    from triton_ingest.models.corpus import chunk_texts
    from triton_ingest.models.embedding import EmbedderSettings, OnnxEmbedder
    from triton_ingest.models.int8_choice import choose
    from triton_ingest.models.tokenization import TextTokenizer

    texts = chunk_texts()[:24] + PARITY_TEXTS
    served = clients[protocol].infer("embed_int8", [text_input(protocol, texts)]).as_numpy("EMBEDDING")
    embedder = OnnxEmbedder(artifact_dir() / choose().file, EmbedderSettings(intra_op_threads=1, max_batch_rows=1))
    here = embedder.embed(*TextTokenizer(artifact(TOKENIZER_FILE)).encode(texts))
    np.testing.assert_allclose(served, here, atol=1e-6)
