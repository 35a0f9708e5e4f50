"""The OpenAI request parser and error shape, without a server."""

from __future__ import annotations

import json

import pytest

from triton_ingest.gateway.openai_api import MAX_INPUTS, OpenAIError, parse_request


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
