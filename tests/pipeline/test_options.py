"""OPTIONS of the ingest model: defaults, values and errors that name the key (no server)."""

from __future__ import annotations

import pytest

from triton_ingest.errors import InvalidInputError
from triton_ingest.pipeline.options import IngestOptions


def test_options_parse_defaults_and_values():
    assert IngestOptions.parse(None) == IngestOptions.parse(b"") == IngestOptions()
    parsed = IngestOptions.parse(b'{"chunk_size": 100, "chunk_overlap": 10, "text_depth": "document"}')
    assert (parsed.chunk_size, parsed.chunk_overlap, parsed.text_depth) == (100, 10, "document")
    assert IngestOptions().embed_model == "embed" and IngestOptions.parse(b'{"embed_model": "embed_int8"}').embed_model \
        == "embed_int8"


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"chunk_sise": 10}', "unknown key(s) ['chunk_sise']"),
        (b'{"chunk_size": 300}', "OPTIONS.chunk_size must be an integer in [1, 254]"),
        (b'{"chunk_size": "big"}', "OPTIONS.chunk_size must be an integer"),
        (b'{"max_pages": true}', "OPTIONS.max_pages must be an integer"),
        (b'{"text_depth": "chapter"}', "text_depth must be"),
        (b'{"chunk_size": 10, "chunk_overlap": 10}', "chunk_overlap must be smaller"),
        (b'{"embed_model": "embedder_int8"}', 'embed_model must be "embed" or "embed_int8"'),
    ],
)
def test_invalid_options_name_the_problem(raw, message):
    with pytest.raises(InvalidInputError) as caught:
        IngestOptions.parse(raw)
    assert message in str(caught.value)