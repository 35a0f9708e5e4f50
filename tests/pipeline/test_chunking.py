"""Token chunking: nothing lost, nothing duplicated beyond the overlap, provenance kept."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer

from support.documents import page_text
from triton_ingest.pipeline.chunking import PAGE_SEPARATOR, TokenChunker
from triton_ingest.pipeline.documents import Page
from triton_ingest.pipeline.options import IngestOptions


@pytest.fixture(scope="module")
def chunker(tokenizer_path):
    return TokenChunker(tokenizer_path)


@pytest.fixture(scope="module")
def raw_tokenizer(tokenizer_path):
    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.no_truncation()
    tok.no_padding()  # tokenizer.json pads to 128 by default
    return tok


PAGES = [Page(1, page_text(1, 6)), Page(2, ""), Page(3, "Ünïcödé 日本語 🚀 " * 40), Page(4, page_text(4, 2))]


def token_ids(tok, text):
    return tok.encode(text, add_special_tokens=False).ids


def test_defaults_are_254_tokens_with_32_overlap_on_pages():
    options = IngestOptions()
    assert (options.chunk_size, options.chunk_overlap, options.text_depth) == (254, 32, "page")


@pytest.mark.parametrize("size, overlap", [(254, 32), (50, 10), (17, 0), (8, 7)])
@pytest.mark.parametrize("depth", ["page", "document"])
def test_chunks_cover_every_token_once_beyond_the_overlap(chunker, raw_tokenizer, size, overlap, depth):
    chunks = list(chunker.with_sizes(size, overlap).chunks(PAGES, depth, "doc.pdf"))
    streams = [p.text for p in PAGES] if depth == "page" else [PAGE_SEPARATOR.join(p.text for p in PAGES)]
    expected = [token_ids(raw_tokenizer, text) for text in streams]
    rebuilt: list[list[int]] = [[] for _ in streams]
    stream_of = {}
    for chunk in chunks:
        assert 0 < chunk.token_count <= size
        assert token_ids(raw_tokenizer, chunk.text) == raw_ids(expected, chunk, depth, stream_of)
        stream = stream_of[chunk.chunk_index]
        have = len(rebuilt[stream])
        assert chunk.token_start <= have, "a token was skipped"
        assert have - chunk.token_start <= overlap, "tokens repeated beyond the overlap"
        rebuilt[stream] += token_ids(raw_tokenizer, chunk.text)[have - chunk.token_start :]
    assert rebuilt == expected
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    assert all(c.source == "doc.pdf" for c in chunks)


def raw_ids(expected, chunk, depth, stream_of):
    stream = chunk.pages[0] - 1 if depth == "page" else 0
    stream_of[chunk.chunk_index] = stream
    return expected[stream][chunk.token_start : chunk.token_start + chunk.token_count]


def test_page_depth_never_crosses_pages_and_offsets_point_into_the_page(chunker):
    for chunk in chunker.with_sizes(40, 8).chunks(PAGES, "page"):
        assert len(chunk.pages) == 1
        assert PAGES[chunk.pages[0] - 1].text[chunk.char_start : chunk.char_end] == chunk.text


def test_document_depth_crosses_pages_with_offsets_into_the_joined_text(chunker):
    joined = PAGE_SEPARATOR.join(p.text for p in PAGES)
    chunks = list(chunker.with_sizes(254, 32).chunks(PAGES, "document"))
    assert any(len(c.pages) > 1 for c in chunks)
    for chunk in chunks:
        assert joined[chunk.char_start : chunk.char_end] == chunk.text


def test_chunks_end_on_word_boundaries_so_they_retokenize_identically(chunker, raw_tokenizer):
    pages = [Page(1, "internationalization embeddings tokenization " * 30)]
    for chunk in chunker.with_sizes(10, 3).chunks(pages):
        assert not token_ids_str(raw_tokenizer, chunk.text)[0].startswith("##")


def token_ids_str(tok, text):
    return tok.encode(text, add_special_tokens=False).tokens


def test_empty_document_gives_no_chunks(chunker):
    assert list(chunker.chunks([Page(1, ""), Page(2, "  \n ")])) == []
