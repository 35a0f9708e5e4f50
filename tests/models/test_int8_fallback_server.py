"""A machine where no int8 variant is accurate: the real tritonserver loads, the fp32 path serves,
and ``embed_int8`` (directly, through ``ingest``, the SDK and the OpenAI-style gateway) answers a
clear UNAVAILABLE that names the CPU and what was measured. The artefacts' int8 variants are
ONNX Runtime's default quantisation (mean cosine about 0.93 on any CPU), so the check that runs
when ``embedder_int8`` loads refuses both, as an AVX2 CPU refuses the 8-bit one."""

from __future__ import annotations

import json

import numpy as np
import openai
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from triton_ingest_client import Client, NotServedError

from support.artefacts import degraded_int8
from support.clients import embed_with, ingest_with
from support.documents import make_pdf
from support.gateway import API_KEY, start_gateway
from support.waiting import metric
from triton_ingest.models.artifacts import MANIFEST_FILE, ONNX_FILE, TOKENIZER_FILE, artifact
from triton_ingest.models.embedding import OnnxEmbedder
from triton_ingest.models.int8_choice import CACHE_KEY, cache_key, cpu_class
from triton_ingest.models.tokenization import TextTokenizer
from triton_ingest.serving.server import TritonServer

pytestmark = pytest.mark.integration
UNAVAILABLE = {"http": "503", "grpc": "StatusCode.UNAVAILABLE"}


@pytest.fixture(scope="module")
def fallback(tmp_path_factory):
    artefacts = degraded_int8(tmp_path_factory.mktemp("no-int8"))
    with TritonServer.on_free_ports(env={"TRITON_INGEST_ARTIFACTS": str(artefacts)}) as server:
        clients = {"http": httpclient.InferenceServerClient(server.http_url),
                   "grpc": grpcclient.InferenceServerClient(server.grpc_url)}
        yield server, artefacts, clients
        for client in clients.values():
            client.close()  # an open keep-alive connection would hold the drain


def says_why(message: str) -> bool:
    return all(part in message for part in ("embed_int8 is not served on this machine", f"on this CPU ({cpu_class()})",
                                            "measured u8s8", "mean cosine 0.9", "use embed (fp32)"))


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_fp32_serves_and_embed_int8_is_unavailable_with_the_reason(fallback, protocol):
    server, _, direct = fallback
    texts = ["a text for the fp32 model", "東京の天気"]
    fp32 = OnnxEmbedder(artifact(ONNX_FILE)).embed(*TextTokenizer(artifact(TOKENIZER_FILE)).encode(texts))
    np.testing.assert_allclose(embed_with(direct[protocol], protocol, texts), fp32, atol=1e-5)
    with pytest.raises(Exception) as caught:
        embed_with(direct[protocol], protocol, texts, "embed_int8")
    assert str(caught.value.status()) == UNAVAILABLE[protocol] and says_why(str(caught.value))
    assert direct[protocol].is_server_ready()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_ingest_serves_fp32_and_refuses_embed_int8_with_the_reason(fallback, protocol):
    server, _, direct = fallback
    pdf = make_pdf(2)
    done = ingest_with(direct[protocol], protocol, pdf, "doc.pdf")
    assert done["summary"]["embed_model"] == "embed" and len(done["chunks"]) == done["embeddings"].shape[0] >= 2
    with pytest.raises(Exception) as caught:
        ingest_with(direct[protocol], protocol, pdf, "doc.pdf", {"embed_model": "embed_int8"})
    assert str(caught.value.status()) == UNAVAILABLE[protocol] and says_why(str(caught.value))


def test_the_sdk_raises_not_served_at_once_and_the_choice_is_logged_and_cached(fallback):
    server, artefacts, _ = fallback
    with Client(server.grpc_url, protocol="grpc", retries=5) as client:
        with pytest.raises(NotServedError) as caught:  # not retried: its retryable is False
            client.embed(["x"], model="embed_int8")
        assert says_why(caught.value.message) and not caught.value.retryable
        assert client.embed(["x"]).shape == (1, 384)
    record = json.loads((artefacts / MANIFEST_FILE).read_text())[CACHE_KEY][cache_key(cpu_class())]
    assert record["variant"] is None and set(record["measured"]) >= {"u8s8_7bit"}
    assert "no variant passed: embed_int8 unavailable" in server.log_path.read_text()
    assert metric(server.metrics_port, "triton_ingest_int8_variant", variant="none", cpu=cpu_class()) == 1


def test_the_gateway_answers_503_for_the_int8_model(fallback, tmp_path):
    server, _, _ = fallback
    process, url = start_gateway(server, tmp_path / "gateway.log", command="gateway")
    try:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0)
        assert len(client.embeddings.create(model="all-MiniLM-L6-v2", input=["fine"]).data) == 1
        with pytest.raises(openai.InternalServerError) as caught:
            client.embeddings.create(model="all-MiniLM-L6-v2-int8", input=["refused"])
        assert caught.value.status_code == 503 and says_why(str(caught.value))
    finally:
        process.terminate()
        process.wait(timeout=30)
