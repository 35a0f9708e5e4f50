"""OpenAI-compatible ``POST /v1/embeddings`` and ``GET /v1/models`` in front of Triton's ``embed``.

- ``input``: a string or a list of 1..2,048 strings (token arrays are refused). Sent to Triton in
  requests of at most 64, ``IN_FLIGHT`` at a time, over KServe v2 HTTP with binary outputs. The
  body is at most ``--max-embeddings-body-bytes`` (16 MiB; 413 past it).
- ``model``: a name in :data:`MODELS` (404 otherwise); ``encoding_format``: ``float`` or
  ``base64`` (little-endian float32); ``dimensions``: only 384.
- NIM's extensions: ``input_type`` (``query`` or ``passage``: the model embeds both alike) and
  ``truncate`` (``END``, the default, cuts at 256 tokens; ``NONE`` makes a longer input a 400).
- ``usage``: the tokens the model reads, counted with its own tokenizer ([CLS] and [SEP] included).
  :class:`TokenCounter` counts at most ``MAX_SEQ_LENGTH + 1`` per input, a segment at a time, so
  the gateway's memory follows the inputs in flight, never their length.
- Errors: OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from typing import Any, Callable, Sequence

import numpy as np
from aiohttp import ClientError, ClientSession, web
from tokenizers import Tokenizer

from ..contracts import EMBED, EMBED_INT8, EMBEDDING_DIM, MAX_SEQ_LENGTH
from .limits import BodyTooLarge, read_body

MODELS = {"all-MiniLM-L6-v2": EMBED.name, "sentence-transformers/all-MiniLM-L6-v2": EMBED.name,
          "all-MiniLM-L6-v2-int8": EMBED_INT8.name}
"""OpenAI model names and the Triton ensembles behind them."""
MAX_INPUTS = 2048
MAX_INPUT_CHARS = 1_000_000
CREATED = int(time.time())
IN_FLIGHT = 4
"""Requests of one /v1/embeddings call at Triton at once (each of at most ``EMBED.max_batch_size``)."""
COUNT_LIMIT = MAX_SEQ_LENGTH + 1
"""Tokens counted per input at most: one more than the model reads tells ``truncate: NONE`` it is too long."""
SEGMENT_CHARS = 8 * COUNT_LIMIT
"""Characters tokenized per input and round; a round's tokens (and memory) are at most this many."""
_LAST_SPACE = re.compile(r".*[ \t\n\r]", re.DOTALL)


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


class TokenCounter:
    """Tokens the model reads per text (specials included), counted up to :data:`COUNT_LIMIT`.

    A text is tokenized a segment at a time (at most :data:`SEGMENT_CHARS` characters, cut before
    an ASCII whitespace where its second half has one) until the count reaches the limit or the
    text ends. The model's normalizer works per character and its pre-tokenizer splits at
    whitespace, so the segments' tokens are the text's tokens: the count is exact. (A run of
    over ``SEGMENT_CHARS / 2`` characters without whitespace is cut where the segment ends, which
    can change the pieces of the one word cut.)
    """

    def __init__(self, tokenizer_json: str):
        self._tok = Tokenizer.from_file(tokenizer_json)
        self._tok.no_padding()
        self._tok.no_truncation()
        self.specials = self._tok.num_special_tokens_to_add(False)

    def count(self, texts: Sequence[str]) -> list[int]:
        """min(tokens, COUNT_LIMIT) for each text."""
        counts, starts, todo = [self.specials] * len(texts), [0] * len(texts), list(range(len(texts)))
        while todo:
            segments = [_segment(texts[i], starts[i]) for i in todo]
            found = self._tok.encode_batch(segments, add_special_tokens=False)
            for i, segment, encoding in zip(todo, segments, found):
                counts[i] = min(COUNT_LIMIT, counts[i] + len(encoding.ids))
                starts[i] += len(segment)
            todo = [i for i in todo if counts[i] < COUNT_LIMIT and starts[i] < len(texts[i])]
        return counts


def _segment(text: str, start: int) -> str:
    """The next segment of ``text`` from ``start`` (see :class:`TokenCounter`)."""
    end = start + SEGMENT_CHARS
    if end >= len(text):
        return text[start:]
    half = start + SEGMENT_CHARS // 2
    space = _LAST_SPACE.match(text, half, end)
    return text[start : space.end() - 1 if space else end]


def _embedding(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector.tolist()


class EmbeddingsAPI:
    """The routes; ``session`` is the gateway's aiohttp session to Triton at ``triton`` (HTTP)."""

    def __init__(self, triton: str, tokenizer_json: str, session: Callable[[], ClientSession],
                 max_body_bytes: int = 16 << 20):
        self.triton, self._session, self.max_body_bytes = triton, session, max_body_bytes
        self.counter = TokenCounter(tokenizer_json)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.models)

    async def models(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": name, "object": "model", "created": CREATED, "owned_by": "triton-ingest"} for name in MODELS]})

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        try:
            parsed = parse_request(await self._body(request))
            tokens = await asyncio.to_thread(self._count, parsed["texts"], parsed["truncate"])
            vectors = await self._embed(parsed["model"], parsed.pop("texts"))  # the texts go once sent
        except OpenAIError as exc:
            return exc.response()
        return await self._respond(request, vectors, parsed, {"prompt_tokens": tokens, "total_tokens": tokens})

    async def _respond(self, request: web.Request, vectors: np.ndarray, parsed: dict,
                       usage: dict) -> web.StreamResponse:
        """OpenAI's list, written a batch of vectors at a time: its JSON text is never whole in memory."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"object": "list", "data": [')
        size = EMBED.max_batch_size
        for start in range(0, len(vectors), size):
            items = (json.dumps({"object": "embedding", "index": i, "embedding": _embedding(v, parsed["encoding"])})
                     for i, v in enumerate(vectors[start : start + size], start))
            await response.write((", " if start else "").encode() + ", ".join(items).encode())
        await response.write(f'], "model": {json.dumps(parsed["name"])}, "usage": {json.dumps(usage)}}}'.encode())
        await response.write_eof()
        return response

    async def _body(self, request: web.Request) -> Any:
        try:
            raw = await read_body(request, self.max_body_bytes, "--max-embeddings-body-bytes",
                                  "send fewer or shorter inputs per request")
        except BodyTooLarge as exc:
            raise OpenAIError(413, str(exc), "input", "request_too_large") from None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise OpenAIError(400, f"the request body is not valid JSON ({exc})") from None

    def _count(self, texts: list[str], truncate: str) -> int:
        """The tokens the model reads, a batch at a time; a 400 for a too-long input under ``NONE``."""
        size, total = EMBED.max_batch_size, 0
        for start in range(0, len(texts), size):
            for i, count in enumerate(self.counter.count(texts[start : start + size]), start):
                if truncate == "NONE" and count > MAX_SEQ_LENGTH:
                    raise OpenAIError(400, f"input[{i}] is longer than the {MAX_SEQ_LENGTH} tokens the model reads "
                                           "and 'truncate' is 'NONE'", "input")
                total += min(count, MAX_SEQ_LENGTH)
        return total

    async def _embed(self, model: str, texts: list[str]) -> np.ndarray:
        size, gate = EMBED.max_batch_size, asyncio.Semaphore(IN_FLIGHT)

        async def part(start: int) -> np.ndarray:
            async with gate:
                return await self._infer(model, texts[start : start + size])

        tasks = [asyncio.ensure_future(part(i)) for i in range(0, len(texts), size)]
        try:
            return np.vstack(await asyncio.gather(*tasks))
        finally:  # after an error, the parts still waiting are not sent
            for task in tasks:
                task.cancel()

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
        except TimeoutError:
            raise OpenAIError(504, f"Triton at {self.triton} did not answer within {session.timeout.total:.0f} s "
                                   "(--triton-timeout)") from None
        except (OSError, ClientError) as exc:
            raise OpenAIError(503, f"Triton at {self.triton} is unreachable: {exc}") from None
        return np.frombuffer(payload[header_length:], dtype="<f4").reshape(len(texts), EMBEDDING_DIM)


def _status(triton_status: int) -> int:
    return triton_status if triton_status in (400, 404, 429, 503) else 500


def _triton_message(payload: bytes) -> str:
    try:
        return str(json.loads(payload).get("error", "Triton error"))
    except ValueError:
        return "Triton error"
