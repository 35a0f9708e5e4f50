"""In-process tests of the ONNX embedder (no server): packing never changes results."""

from __future__ import annotations

import numpy as np
import pytest

from triton_ingest.errors import InternalError, InvalidInputError
from triton_ingest.models.embedding import EmbedderSettings, OnnxEmbedder
from triton_ingest.models.tokenization import TextTokenizer

TEXTS = ["a", "The quick brown fox jumps over the lazy dog.", "x " * 300, "Ça va? 👋", ""]


@pytest.fixture(scope="module")
def tokenizer(tokenizer_path):
    return TextTokenizer(tokenizer_path)


@pytest.fixture(scope="module")
def embedder(onnx_path):
    return OnnxEmbedder(onnx_path, EmbedderSettings(intra_op_threads=2, max_batch_rows=2, max_batch_tokens=300))


def test_missing_model_is_a_clear_internal_error(tmp_path):
    with pytest.raises(InternalError, match="make model"):
        OnnxEmbedder(tmp_path / "absent.onnx")


def test_embeddings_are_unit_length_384d(embedder, tokenizer):
    out = embedder.embed(*tokenizer.encode(TEXTS))
    assert out.shape == (len(TEXTS), 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_packing_and_padding_do_not_change_results(embedder, tokenizer):
    packed = embedder.embed(*tokenizer.encode(TEXTS))
    alone = np.vstack([embedder.embed(*tokenizer.encode([t])) for t in TEXTS])
    np.testing.assert_allclose(packed, alone, atol=2e-5)


def test_embed_requests_keeps_order_and_isolates_bad_requests(embedder, tokenizer):
    good_a, good_b = tokenizer.encode(TEXTS[:2]), tokenizer.encode(TEXTS[2:])
    bad = (np.full((1, 3), 99_999, dtype=np.int64), np.ones((1, 3), dtype=np.int64))
    results = embedder.embed_requests([good_a, bad, good_b])
    assert isinstance(results[1], InvalidInputError) and "token ids" in str(results[1])
    np.testing.assert_allclose(np.vstack([results[0], results[2]]), embedder.embed(*tokenizer.encode(TEXTS)), atol=2e-5)


@pytest.mark.parametrize(
    "ids, mask, message",
    [
        (np.ones((2, 3), np.int64), np.ones((2, 4), np.int64), "same shape"),
        (np.ones((2, 600), np.int64), np.ones((2, 600), np.int64), "at most 512"),
        (np.full((1, 3), -1, np.int64), np.ones((1, 3), np.int64), "token ids"),
        (np.ones((1, 3), np.int64), np.full((1, 3), 2, np.int64), "only 0 and 1"),
    ],
)
def test_invalid_token_tensors_are_rejected_by_name(embedder, ids, mask, message):
    with pytest.raises(InvalidInputError, match=message):
        embedder.embed(ids, mask)


def test_settings_read_from_config_parameters():
    settings = EmbedderSettings.from_params({"intra_op_threads": "1", "max_batch_rows": "8", "other": "x"})
    assert settings == EmbedderSettings(intra_op_threads=1, max_batch_rows=8)
