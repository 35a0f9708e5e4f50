"""The OpenAI request parser, error shape and token counts, without a server."""

from __future__ import annotations

import json
import random

import pytest

from triton_ingest.contracts import MAX_SEQ_LENGTH
from triton_ingest.gateway.openai_api import COUNT_LIMIT, MAX_INPUTS, OpenAIError, TokenCounter, parse_request
from triton_ingest.models.tokenization import TextTokenizer


def test_a_string_or_a_list_with_defaults():
    assert parse_request({"model": "all-MiniLM-L6-v2", "input": "x"}) == {
        "texts": ["x"], "name": "all-MiniLM-L6-v2", "model": "embed", "encoding": "float", "truncate": "END"}
    parsed = parse_request({"model": "all-MiniLM-L6-v2-int8", "input": ["a", "b"], "encoding_format": "base64",
                            "dimensions": 384, "input_type": "passage", "truncate": "NONE", "user": "u1"})
    assert parsed["model"] == "embed_int8" and parsed["texts"] == ["a", "b"] and parsed["truncate"] == "NONE"


@pytest.mark.parametrize("body, status, param", [
    ([], 400, None),
    ({"model": "all-MiniLM-L6-v2"}, 400, "input"),
    ({"model": "all-MiniLM-L6-v2", "input": ["x", 3]}, 400, "input"),
    ({"model": "all-MiniLM-L6-v2", "input": ["x"] * (MAX_INPUTS + 1)}, 400, "input"),
    ({"input": "x"}, 404, "model"),
    ({"model": "all-MiniLM-L6-v2", "input": "x", "dimensions": 1536}, 400, "dimensions"),
    ({"model": "all-MiniLM-L6-v2", "input": "x", "truncate": "START"}, 400, "truncate"),
])
def test_each_problem_is_named(body, status, param):
    with pytest.raises(OpenAIError) as raised:
        parse_request(body)
    assert raised.value.status == status and raised.value.param == param
    answer = json.loads(raised.value.response().body)
    assert set(answer["error"]) == {"message", "type", "param", "code"}


PIECES = ["word", "Ünïcödé", "naïve", "東京都", "。", " ", "  ", "\n", "\t", "\r\n", "e\u0301", "\u0301", "!?",
          "a" * 150, "unbelievable", "😀", "\x00", "\x1c", "\u3000", "\u00a0", "https://x.org/a?b=c", "123.456",
          "don't"]
"""Words, accents, CJK, emoji, control characters, Unicode spaces and a word over WordPiece's 100 characters."""


def test_bounded_token_counts_equal_the_full_count_up_to_the_limit(tokenizer_path):
    """The segment-at-a-time count is the model's own count (capped at the limit) on every kind of text,
    including long runs of whitespace, of CJK and of text without any whitespace."""
    rng = random.Random(21)
    texts = ["", "x", "word " * 400, "a" + " " * 10_000 + "b", "\u0301" * 5000 + " x", "東" * 3000, "x." * 4000,
             *("".join(rng.choice(PIECES) for _ in range(rng.choice([5, 50, 300, 1000, 4000]))) for _ in range(400))]
    full = TextTokenizer(tokenizer_path, max_length=1 << 20).count_tokens(texts)
    assert TokenCounter(str(tokenizer_path)).count(texts) == [min(count, COUNT_LIMIT) for count in full]
    assert COUNT_LIMIT == MAX_SEQ_LENGTH + 1 and max(full) > 10 * COUNT_LIMIT  # long texts were among them
