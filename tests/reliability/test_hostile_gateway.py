"""Hostile clients against the real gateway in front of the real Triton: a maximum-size
/v1/embeddings request keeps the gateway's memory within what its configuration allows, every route
refuses a body over its ceiling, a non-ASCII Authorization header is a 401, and the gateway keeps
serving after each."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from pathlib import Path
from typing import Iterable

import pytest
from triton_ingest_client import Client

from support.clients import TRITON_ONLY
from support.gateway import API_KEY, start_gateway
from triton_ingest.contracts import MAX_SEQ_LENGTH
from triton_ingest.gateway.openai_api import MAX_INPUTS

pytestmark = TRITON_ONLY
MiB = 1 << 20
EMBEDDINGS_CEILING = 16 * MiB  # the default, given explicitly: the memory bound below is computed from it
PEXEC_CEILING = SUBMIT_CEILING = 1_000_000
PEAK_GROWTH = 2 * EMBEDDINGS_CEILING + 64 * MiB
"""What one request may add to the gateway's peak RSS: its body twice (the bytes read, then the
texts decoded from them) and a fixed allowance for the batches in flight and the answer being
written. Set by the ceiling, not by the body: before the bounded count, a 16 MB body added 574 MB."""
PROSE = ("Triton batches requests dynamically while the gateway parses and queues them; every input "
         "is cut to the model's window, and a long one costs the gateway no more than a short one. ") * 200
MODEL = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def gateway(server, tmp_path_factory):
    log = tmp_path_factory.mktemp("hostile-gateway") / "gateway.log"
    process, url = start_gateway(server, log, "--max-embeddings-body-bytes", str(EMBEDDINGS_CEILING),
                                 "--max-pexec-body-bytes", str(PEXEC_CEILING), "--max-body-bytes", str(SUBMIT_CEILING),
                                 command="gateway")
    yield process, url
    process.terminate()
    process.wait(10)


def post(url: str, path: str, body: bytes | Iterable[bytes], headers: dict | None = None) -> tuple[int, dict]:
    """A POST with ``http.client`` (an iterable body goes chunked, without Content-Length); status, JSON."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    try:
        connection.request("POST", path, body=body, headers={"Authorization": f"Bearer {API_KEY}",
                                                              "Content-Type": "application/json", **(headers or {})})
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read() or b"{}")
    finally:
        connection.close()


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def largest_request(ceiling: int, **fields) -> bytes:
    """MAX_INPUTS long, distinct texts whose JSON body just fits under ``ceiling``."""
    def body(chars: int) -> bytes:
        texts = [PROSE[i % 97 : i % 97 + chars] for i in range(MAX_INPUTS)]
        return json.dumps({"model": MODEL, "input": texts, **fields}).encode()

    chars = (ceiling - 200) // MAX_INPUTS - 4  # each text also takes its quotes, a comma and a space
    made = body(chars)
    assert ceiling - MAX_INPUTS < len(made) <= ceiling
    return made


def embed(url: str, texts: list[str]) -> dict:
    status, answer = post(url, "/v1/embeddings", json.dumps({"model": MODEL, "input": texts}).encode())
    assert status == 200, answer
    return answer


def test_a_maximum_size_embeddings_request_keeps_the_gateway_s_memory_bounded(gateway):
    process, url = gateway
    embed(url, [PROSE[:5000]] * 64)  # warm: the first request's one-off allocations are not the request's
    before = peak_rss(process.pid)
    too_long = post(url, "/v1/embeddings", largest_request(EMBEDDINGS_CEILING, truncate="NONE"))  # counted only
    status, answer = post(url, "/v1/embeddings", largest_request(EMBEDDINGS_CEILING, encoding_format="float"))
    growth = peak_rss(process.pid) - before
    assert growth <= PEAK_GROWTH, f"peak RSS grew {growth / MiB:.0f} MiB; the bound is {PEAK_GROWTH / MiB:.0f} MiB"
    assert too_long[0] == 400 and "input[0] is longer than the 256 tokens" in too_long[1]["error"]["message"]
    assert status == 200, answer
    assert [d["index"] for d in answer["data"]] == list(range(MAX_INPUTS))
    assert {len(d["embedding"]) for d in answer["data"]} == {384}
    tokens = MAX_INPUTS * MAX_SEQ_LENGTH
    assert answer["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    status, answer = post(url, "/v1/embeddings", b" " * (EMBEDDINGS_CEILING + 1))
    assert status == 413 and answer["error"]["code"] == "request_too_large"
    assert "--max-embeddings-body-bytes" in answer["error"]["message"]
    assert http_status(url, "/v2/health/ready") == 200
    assert embed(url, ["still serving"])["usage"]["prompt_tokens"] == 4
    print(f"peak RSS growth under a {EMBEDDINGS_CEILING / MiB:.0f} MiB request: {growth / MiB:.0f} MiB")


def http_status(url: str, path: str, headers: dict | None = None) -> int:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("GET", path, headers=headers or {})
        return connection.getresponse().status
    finally:
        connection.close()


def chunks(total: int, size: int = 1 << 16) -> Iterable[bytes]:
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


@pytest.mark.parametrize("path, ceiling, flag", [
    ("/v2/nvcf/pexec/functions/embed", PEXEC_CEILING, "--max-pexec-body-bytes"),
    ("/v1/embeddings", EMBEDDINGS_CEILING, "--max-embeddings-body-bytes"),
    ("/v1/submit_job", SUBMIT_CEILING, "--max-body-bytes"),
    ("/v1/fetch_job", 128 << 10, "room for 1000 ids"),
])
def test_each_route_refuses_a_body_over_its_ceiling_sized_or_chunked(gateway, path, ceiling, flag):
    _, url = gateway
    for body in (b"x" * (ceiling + 1), chunks(ceiling + (1 << 16))):
        status, answer = post(url, path, body)
        message = answer["error"]["message"] if isinstance(answer["error"], dict) else answer["error"]
        assert status == 413 and f"over {ceiling} bytes ({flag})" in message, (status, answer)
    with Client.nvcf({"embed": "embed"}, api_key=API_KEY, base_url=url) as client:
        assert client.embed(["still serving"]).shape == (1, 384)


@pytest.mark.parametrize("path", ["/v1/models", "/v1/fetch_job?job_ids=x", "/v2/nvcf/pexec/status/x"])
def test_a_non_ascii_authorization_header_is_a_401(gateway, path):
    _, url = gateway
    for key in ("Bearer clé", "Bearer clé".encode(), b"Bearer \xff\xfe", f"Bearer {API_KEY}\u00e9"):
        assert http_status(url, path, {"Authorization": key}) == 401, key  # str: sent as latin-1 bytes
    assert http_status(url, "/v1/models", {"Authorization": f"Bearer {API_KEY}"}) == 200
