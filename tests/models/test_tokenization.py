"""Unit tests of text decoding and tokenization (no server)."""

from __future__ import annotations

import numpy as np
import pytest

from triton_ingest.contracts import MAX_SEQ_LENGTH
from triton_ingest.errors import InvalidInputError
from triton_ingest.models.tokenization import (
    PREFIX_CHARS,
    MAX_TEXT_BYTES,
    TextTokenizer,
    decode_texts,
    padded_width,
    parse_buckets,
    tokenize_requests,
)


@pytest.fixture(scope="module")
def tokenizer(tokenizer_path):
    return TextTokenizer(tokenizer_path)


def batch(*texts) -> np.ndarray:
    return np.array([[t if isinstance(t, bytes) else t.encode()] for t in texts], dtype=object)


def test_decode_accepts_utf8_including_emoji_and_empty():
    assert decode_texts(batch("héllo", "🚀", "")) == ["héllo", "🚀", ""]


def test_decode_rejects_invalid_utf8_naming_the_row():
    with pytest.raises(InvalidInputError, match=r"TEXT\[1\] is not valid UTF-8"):
        decode_texts(batch("fine", b"\xff\xfe"))


def test_decode_rejects_empty_batch_and_oversized_text():
    with pytest.raises(InvalidInputError, match="empty batch"):
        decode_texts(np.zeros((0, 1), dtype=object))
    with pytest.raises(InvalidInputError, match="limit"):
        decode_texts(batch(b"x" * (MAX_TEXT_BYTES + 1)))


def test_encode_matches_bert_conventions(tokenizer):
    ids, mask = tokenizer.encode(["Hello world", ""])
    assert ids[0, 0] == 101 and 102 in ids[0]  # [CLS] ... [SEP]
    assert ids[1, :2].tolist() == [101, 102] and mask[1].sum() == 2
    assert ids.shape == mask.shape and ids.dtype == np.int64


def test_encode_truncates_at_max_seq_length_with_specials(tokenizer):
    ids, mask = tokenizer.encode(["word " * 1000])
    assert ids.shape[1] == MAX_SEQ_LENGTH and mask.sum() == MAX_SEQ_LENGTH
    assert ids[0, -1] == 102


def test_tokenize_requests_isolates_a_bad_request(tokenizer):
    results = tokenize_requests(tokenizer, [batch("a b c d e"), batch(b"\xc3"), batch("x")])
    assert isinstance(results[1], InvalidInputError)
    assert results[0]["INPUT_IDS"].shape == (1, 7)
    assert results[2]["INPUT_IDS"].shape == (1, 3)  # padded to its own longest, not the batch's


def test_tokenize_requests_equals_tokenizing_each_request_alone(tokenizer):
    requests = [batch("short", "a much longer sentence here"), batch("mid length text")]
    together = tokenize_requests(tokenizer, requests)
    for req, got in zip(requests, together):
        ids, mask = tokenizer.encode(decode_texts(req))
        np.testing.assert_array_equal(got["INPUT_IDS"], ids)
        np.testing.assert_array_equal(got["ATTENTION_MASK"], mask)


def test_bucket_padding_rounds_each_request_up_to_a_bucket(tokenizer):
    buckets = parse_buckets("16, 64,256")
    results = tokenize_requests(tokenizer, [batch("a b c"), batch("word " * 40), batch("y " * 400)], buckets)
    assert [r["INPUT_IDS"].shape[1] for r in results] == [16, 64, 256]
    plain = tokenize_requests(tokenizer, [batch("a b c")])[0]
    width = plain["INPUT_IDS"].shape[1]
    assert np.array_equal(results[0]["INPUT_IDS"][:, :width], plain["INPUT_IDS"])
    assert not results[0]["ATTENTION_MASK"][:, width:].any() and not results[0]["INPUT_IDS"][:, width:].any()


@pytest.mark.parametrize("value, message", [("16,x", "comma-separated integers"), ("16,64", "reach 256"),
                                            ("0,256", "positive")])
def test_bad_bucket_lists_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        parse_buckets(value)


def test_no_buckets_means_the_longest_text(tokenizer):
    assert parse_buckets("") == ()
    assert padded_width(17) == 17 and padded_width(17, (16, 32)) == 32


ADVERSARIAL = {
    "prose": " ".join(["triton serves models over http and grpc, naïve Ünïcödé 日本語"] * 3000),
    "leading spaces": " " * 100_000 + "hello world",
    "one long word": "a" * 300_000,
    "long words": ("b" * 150 + " ") * 2000,
    "em spaces": "\u2003" * 50_000 + "word " * 500,
    "CJK without spaces": "日本語" * 20_000,
    "a word cut by the prefix": ("word" * 30 + " ") * 5000,
    "combining marks": "abc" + "\u0301" * 20_000 + "def " * 3000,
    "punctuation": ("ab" * 60 + ".") * 3000,
}


@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
def test_long_texts_give_the_tokens_of_the_whole_text_from_a_bounded_prefix(tokenizer, tokenizer_path, case):
    """A text is tokenized only as far as its first 256 tokens need: 64 texts of 1 MiB took the
    tokenizer 2.5 GB and 44 s before (issue 21), and must still give exactly the whole text's ids."""
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(tokenizer_path))
    reference.no_padding()
    reference.enable_truncation(max_length=MAX_SEQ_LENGTH)
    text = ADVERSARIAL[case]
    ids, _ = tokenizer.encode([text])
    assert ids[0].tolist() == reference.encode(text).ids
    if case in ("prose", "a word cut by the prefix", "punctuation"):
        assert len(tokenizer.enough_of(text)) <= 4 * PREFIX_CHARS < len(text)
