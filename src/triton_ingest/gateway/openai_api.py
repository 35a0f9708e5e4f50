"""OpenAI-compatible ``POST /v1/embeddings`` and ``GET /v1/models`` in front of Triton's ``embed``.

- ``input``: a string or a list of 1..2,048 strings (token arrays are refused). Sent to Triton in
  requests of at most 64, concurrently, over KServe v2 HTTP with binary outputs.
- ``model``: a name in :data:`MODELS` (404 otherwise); ``encoding_format``: ``float`` or
  ``base64`` (little-endian float32); ``dimensions``: only 384.
- NIM's extensions: ``input_type`` (``query`` or ``passage``: the model embeds both alike) and
  ``truncate`` (``END``, the default, cuts at 256 tokens; ``NONE`` makes a longer input a 400).
- ``usage``: the tokens the model reads, counted with its own tokenizer ([CLS] and [SEP] included).
- Errors: OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any, Callable

import numpy as np
from aiohttp import ClientSession, web

from ..contracts import EMBED, EMBED_INT8, EMBEDDING_DIM, MAX_SEQ_LENGTH
from ..models.tokenization import TextTokenizer

MODELS = {"all-MiniLM-L6-v2": EMBED.name, "sentence-transformers/all-MiniLM-L6-v2": EMBED.name,
          "all-MiniLM-L6-v2-int8": EMBED_INT8.name}
"""OpenAI model names and the Triton ensembles behind them."""
MAX_INPUTS = 2048
MAX_INPUT_CHARS = 1_000_000
CREATED = int(time.time())


class OpenAIError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def response(self) -> web.Response:
        kind = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
                413: "invalid_request_error", 429: "rate_limit_error"}.get(self.status, "server_error")
        return web.json_response({"error": {"message": self.message, "type": kind, "param": self.param,
                                            "code": self.code}}, status=self.status)


def parse_request(body: Any) -> dict:
    """The validated fields of an embeddings request; OpenAIError names the first problem."""
    if not isinstance(body, dict):
        raise OpenAIError(400, "the request body must be a JSON object")
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts:
        raise OpenAIError(400, "'input' must be a string or a non-empty list of strings", "input")
    if not all(isinstance(t, str) for t in texts):
        raise OpenAIError(400, "'input' must hold strings; token arrays are not supported", "input")
    if len(texts) > MAX_INPUTS:
        raise OpenAIError(400, f"'input' holds {len(texts)} items; the limit is {MAX_INPUTS}", "input")
    if any(len(t) > MAX_INPUT_CHARS for t in texts):
        raise OpenAIError(400, f"an input is longer than {MAX_INPUT_CHARS} characters", "input")
    name = body.get("model")
    if name not in MODELS:
        raise OpenAIError(404, f"The model '{name}' does not exist; available: {sorted(MODELS)}", "model",
                          "model_not_found")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise OpenAIError(400, "'encoding_format' must be 'float' or 'base64'", "encoding_format")
    if body.get("dimensions", EMBEDDING_DIM) != EMBEDDING_DIM:
        raise OpenAIError(400, f"{name} gives {EMBEDDING_DIM} dimensions; 'dimensions' cannot change that",
                          "dimensions")
    if body.get("input_type", "query") not in ("query", "passage"):
        raise OpenAIError(400, "'input_type' must be 'query' or 'passage'", "input_type")
    truncate = body.get("truncate", "END")
    if truncate not in ("NONE", "END"):
        raise OpenAIError(400, "'truncate' must be 'NONE' or 'END'", "truncate")
    return {"texts": texts, "name": name, "model": MODELS[name], "encoding": encoding, "truncate": truncate}


def _embedding(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector.tolist()


class EmbeddingsAPI:
    """The routes; ``session`` is the gateway's aiohttp session to Triton at ``triton`` (HTTP)."""

    def __init__(self, triton: str, tokenizer_json: str, session: Callable[[], ClientSession]):
        self.triton, self._session = triton, session
        self.tokenizer = TextTokenizer(tokenizer_json, max_length=1 << 20)  # counts, never truncates

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.models)

    async def models(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": name, "object": "model", "created": CREATED, "owned_by": "triton-ingest"} for name in MODELS]})

    async def embeddings(self, request: web.Request) -> web.Response:
        try:
            try:
                body = json.loads(await request.read())
            except ValueError as exc:
                raise OpenAIError(400, f"the request body is not valid JSON ({exc})") from None
            parsed = parse_request(body)
            tokens = await asyncio.to_thread(self._count, parsed["texts"], parsed["truncate"])
            vectors = await self._embed(parsed["model"], parsed["texts"])
        except OpenAIError as exc:
            return exc.response()
        data = [{"object": "embedding", "index": i, "embedding": _embedding(v, parsed["encoding"])}
                for i, v in enumerate(vectors)]
        return web.json_response({"object": "list", "data": data, "model": parsed["name"],
                                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def _count(self, texts: list[str], truncate: str) -> int:
        counts = self.tokenizer.count_tokens(texts)
        if truncate == "NONE":
            for i, count in enumerate(counts):
                if count > MAX_SEQ_LENGTH:
                    raise OpenAIError(400, f"input[{i}] has {count} tokens; the model reads at most {MAX_SEQ_LENGTH} "
                                           "and 'truncate' is 'NONE'", "input")
        return sum(min(count, MAX_SEQ_LENGTH) for count in counts)

    async def _embed(self, model: str, texts: list[str]) -> np.ndarray:
        size = EMBED.max_batch_size
        parts = await asyncio.gather(*(self._infer(model, texts[i : i + size]) for i in range(0, len(texts), size)))
        return np.vstack(parts)

    async def _infer(self, model: str, texts: list[str]) -> np.ndarray:
        request = {"inputs": [{"name": "TEXT", "shape": [len(texts), 1], "datatype": "BYTES", "data": texts}],
                   "outputs": [{"name": "EMBEDDING", "parameters": {"binary_data": True}}]}
        session = self._session()
        try:
            async with session.post(f"http://{self.triton}/v2/models/{model}/infer", json=request) as reply:
                payload = await reply.read()
                if reply.status != 200:
                    raise OpenAIError(_status(reply.status), _triton_message(payload), "input")
                header_length = int(reply.headers.get("Inference-Header-Content-Length", len(payload)))
        except OSError as exc:
            raise OpenAIError(503, f"Triton at {self.triton} is unreachable: {exc}") from None
        return np.frombuffer(payload[header_length:], dtype="<f4").reshape(len(texts), EMBEDDING_DIM)


def _status(triton_status: int) -> int:
    return triton_status if triton_status in (400, 404, 429, 503) else 500


def _triton_message(payload: bytes) -> str:
    try:
        return str(json.loads(payload).get("error", "Triton error"))
    except ValueError:
        return "Triton error"
