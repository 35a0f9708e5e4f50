"""OPTIONS of the ingest model: defaults, values and errors that name the key (no server)."""

from __future__ import annotations

import json

import pytest

from triton_ingest.errors import InvalidInputError
from triton_ingest.pipeline.options import CEILINGS, IngestOptions, OcrOptions, ceilings


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
        (b'{"first_page": 0}', "OPTIONS.first_page must be an integer in [1, 100000]"),
        (b'{"first_page": 5, "last_page": 4}', "OPTIONS.last_page (4) is before OPTIONS.first_page (5)"),
    ],
)
def test_invalid_options_name_the_problem(raw, message):
    with pytest.raises(InvalidInputError) as caught:
        IngestOptions.parse(raw)
    assert message in str(caught.value)

def test_a_page_range_is_a_span_of_the_document_s_pages():
    assert IngestOptions().page_span(12) == (0, 12)
    assert IngestOptions.parse(b'{"first_page": 5, "last_page": 8}').page_span(12) == (4, 8)
    assert IngestOptions.parse(b'{"first_page": 9, "last_page": 40}').page_span(12) == (8, 12)  # to the end
    with pytest.raises(InvalidInputError, match="OPTIONS.first_page is 13; DOCUMENT has 12 pages"):
        IngestOptions.parse(b'{"first_page": 13}').page_span(12)


@pytest.mark.parametrize("raw", [b'{"max_pixels": 500000000}', b'{"max_unzipped_bytes": 4294967296}',
                                 b'{"max_pages": 100000}', b'{"time_limit_s": 86400}', b'{"max_in_flight": 64}'])
def test_clients_cannot_raise_the_servers_ceilings(raw):
    """Issue 21: a client set max_pixels 500 M, 4 GiB unzipped, 100k pages and 24 h for itself."""
    key = next(iter(json.loads(raw)))
    with pytest.raises(InvalidInputError, match=f"OPTIONS.{key} is .*this server allows at most "
                                                f"{CEILINGS[key]} .*TRITON_INGEST_CEILING_{key.upper()}"):
        IngestOptions.parse(raw)


def test_the_operator_lowers_or_raises_ceilings_within_the_hard_range(monkeypatch):
    monkeypatch.setenv("TRITON_INGEST_CEILING_MAX_PIXELS", "1000")
    monkeypatch.setenv("TRITON_INGEST_CEILING_TIME_LIMIT_S", "3600")
    assert IngestOptions.parse(None).max_pixels == 1000  # the default comes down to the ceiling
    assert IngestOptions.parse(b'{"max_pixels": 999}').max_pixels == 999  # clients ask for less
    assert OcrOptions.parse(None).max_pixels == 1000
    with pytest.raises(InvalidInputError, match="at most 1000"):
        OcrOptions.parse(b'{"max_pixels": 1001}')
    assert IngestOptions.parse(b'{"time_limit_s": 3600}').time_limit_s == 3600
    assert IngestOptions.parse(None).time_limit_s == 600
    for bad in ("lots", "0", "500000001", "-5"):
        monkeypatch.setenv("TRITON_INGEST_CEILING_MAX_PIXELS", bad)
        with pytest.raises(ValueError, match=r"TRITON_INGEST_CEILING_MAX_PIXELS must be an integer in \[1, 500000000\]"):
            ceilings()
