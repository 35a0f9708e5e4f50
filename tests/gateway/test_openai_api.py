"""The gateway's OpenAI-compatible /v1/embeddings and /v1/models, with the official ``openai`` client,
against the real Triton: the same vectors as Triton's ``embed``, OpenAI's error shape."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import numpy as np
import openai
import pytest

from support.clients import TRITON_ONLY, embed_with
from support.gateway import API_KEY, start_gateway
from triton_ingest.models.artifacts import TOKENIZER_FILE, artifact
from triton_ingest.models.tokenization import TextTokenizer

pytestmark = TRITON_ONLY
MODEL = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def gateway(server, tmp_path_factory):
    log = tmp_path_factory.mktemp("openai-gateway") / "gateway.log"
    process, url = start_gateway(server, log, command="gateway")
    yield url, log
    process.terminate()
    process.wait(10)


@pytest.fixture
def client(gateway):
    with openai.OpenAI(base_url=gateway[0] + "/v1", api_key=API_KEY, max_retries=0) as made:
        yield made


def direct(clients, texts: list[str], model: str = "embed") -> np.ndarray:
    return np.vstack([embed_with(clients["http"], "http", texts[i : i + 64], model) for i in range(0, len(texts), 64)])


def test_one_input_as_float_and_base64_equals_triton(client, clients):
    text = "Triton serves embeddings behind an OpenAI-compatible API."
    floats = client.embeddings.create(model=MODEL, input=text, encoding_format="float")
    raw = client.embeddings.create(model=MODEL, input=text, encoding_format="base64")
    decoded = np.frombuffer(base64.b64decode(raw.data[0].embedding), dtype="<f4")
    np.testing.assert_allclose(np.array(floats.data[0].embedding), direct(clients, [text])[0], atol=1e-6)
    np.testing.assert_allclose(decoded, floats.data[0].embedding, atol=1e-6)
    assert floats.model == MODEL and floats.object == "list" and floats.data[0].index == 0
    tokens = TextTokenizer(artifact(TOKENIZER_FILE)).count_tokens([text])[0]
    assert floats.usage.prompt_tokens == floats.usage.total_tokens == tokens


def test_langchain_openai_embeddings_work_with_only_a_base_url(gateway, clients):
    """LangChain's OpenAIEmbeddings; ``check_embedding_ctx_length=False`` sends the texts themselves
    (otherwise it sends OpenAI tiktoken ids, which only OpenAI's own models read)."""
    from langchain_openai import OpenAIEmbeddings

    embeddings = OpenAIEmbeddings(model=MODEL, base_url=gateway[0] + "/v1", api_key=API_KEY, max_retries=0,
                                  check_embedding_ctx_length=False)
    documents = ["Triton batches requests dynamically.", "Milvus stores the vectors.", "Ünïcödé text too."]
    vectors = np.array(embeddings.embed_documents(documents), dtype=np.float32)
    query = np.array(embeddings.embed_query("Where are vectors stored?"), dtype=np.float32)
    np.testing.assert_allclose(vectors, direct(clients, documents), atol=1e-6)
    np.testing.assert_allclose(query, direct(clients, ["Where are vectors stored?"])[0], atol=1e-6)
    assert int(np.argmax(vectors @ query)) == 1


def test_2048_inputs_come_back_in_order_equal_to_triton(client, clients):
    texts = [f"passage {i}: {'short' if i % 3 else 'a somewhat longer passage about batching'} text" for i in range(2048)]
    created = client.embeddings.create(model=MODEL, input=texts)  # the openai package asks for base64 and decodes it
    vectors = np.array([d.embedding for d in created.data], dtype=np.float32)
    assert [d.index for d in created.data] == list(range(2048))
    np.testing.assert_allclose(vectors, direct(clients, texts), atol=1e-6)


def test_the_int8_model_and_nim_extensions(client, clients):
    text = "int8 embeddings"
    created = client.embeddings.create(model="all-MiniLM-L6-v2-int8", input=[text], encoding_format="float",
                                       extra_body={"input_type": "passage", "truncate": "END"})
    np.testing.assert_allclose(np.array(created.data[0].embedding), direct(clients, [text], "embed_int8")[0], atol=1e-6)
    long = "word " * 400
    truncated = client.embeddings.create(model=MODEL, input=long, encoding_format="float")
    assert truncated.usage.prompt_tokens == 256


@pytest.mark.parametrize("kwargs, error, message", [
    ({"model": "text-embedding-3-small", "input": "x"}, openai.NotFoundError, "does not exist"),
    ({"model": MODEL, "input": "x", "dimensions": 128}, openai.BadRequestError, "'dimensions' cannot change"),
    ({"model": MODEL, "input": []}, openai.BadRequestError, "non-empty list"),
    ({"model": MODEL, "input": ["x"] * 2049}, openai.BadRequestError, "2049 items; the limit is 2048"),
    ({"model": MODEL, "input": [[101, 102]]}, openai.BadRequestError, "token arrays are not supported"),
    ({"model": MODEL, "input": "word " * 400, "extra_body": {"truncate": "NONE"}}, openai.BadRequestError,
     "input\\[0\\] is longer than the 256 tokens the model reads"),
    ({"model": MODEL, "input": "x", "extra_body": {"input_type": "document"}}, openai.BadRequestError, "input_type"),
    ({"model": MODEL, "input": "x", "encoding_format": "int8"}, openai.BadRequestError, "encoding_format"),
])
def test_bad_requests_get_openai_errors(client, kwargs, error, message):
    with pytest.raises(error, match=message) as raised:
        client.embeddings.create(**kwargs)
    body = raised.value.body
    assert set(body) == {"message", "type", "param", "code"} and body["type"] == "invalid_request_error"


def test_models_list_bad_json_and_auth(gateway, client):
    assert {m.id for m in client.models.list()} == {MODEL, "sentence-transformers/" + MODEL, MODEL + "-int8"}
    url, log = gateway
    request = urllib.request.Request(url + "/v1/embeddings", data=b"{not json", method="POST",
                                     headers={"Authorization": f"Bearer {API_KEY}"})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    assert raised.value.code == 400 and "not valid JSON" in json.loads(raised.value.read())["error"]["message"]
    with openai.OpenAI(base_url=url + "/v1", api_key="wrong-key", max_retries=0) as stranger:
        with pytest.raises(openai.AuthenticationError) as refused:
            stranger.embeddings.create(model=MODEL, input="x")
    assert refused.value.body["code"] == "invalid_api_key"
    assert API_KEY not in log.read_text() and "wrong-key" not in log.read_text()
