"""The accuracy gates: the check set, the figures, smoothing, and what the export checks and stores
(no server; the models ``make model`` built)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from triton_ingest.models.artifacts import CHECK_REFERENCE_FILE, MANIFEST_FILE, ONNX_FILE, TOKENIZER_FILE, artifact
from triton_ingest.models.check_texts import check_set, check_set_digest
from triton_ingest.models.corpus import chunk_texts
from triton_ingest.models.embedding import OnnxEmbedder
from triton_ingest.models.export import verify
from triton_ingest.models.int8_check import INT8_GATE, AccuracyError, Gate, agreement, neighbour_agreement, require
from triton_ingest.models.int8_choice import CACHE_KEY, cache_key, candidates, cpu_class
from triton_ingest.models.smoothing import smooth
from triton_ingest.models.tokenization import TextTokenizer


def unit_rows(n: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, 384)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_the_check_set_covers_every_kind_and_the_token_limit():
    texts = check_set()
    assert set(texts) == {"english", "latin", "cjk", "code", "tables", "short", "long"}
    assert all(len(items) >= 8 for items in texts.values())
    counts = TextTokenizer(artifact(TOKENIZER_FILE), max_length=1 << 20).count_tokens(texts["long"])
    assert min(counts) > 256  # the model reads the first 256: these test truncation
    assert max(TextTokenizer(artifact(TOKENIZER_FILE)).count_tokens(texts["short"])) <= 8


def test_agreement_reports_mean_min_worst_kind_and_neighbours():
    reference = unit_rows(12)
    texts = {"a": [f"a{i}" for i in range(6)], "b": [f"b{i}" for i in range(6)]}
    assert agreement(reference, reference, texts).min_cosine == pytest.approx(1.0)
    assert neighbour_agreement(reference, reference) == 1.0
    noisy = reference.copy()
    noisy[8] = unit_rows(1, seed=1)[0]
    measured = agreement(reference, noisy, texts)
    assert measured.worst == "b: 'b2'" and measured.by_kind["a"] == pytest.approx((1.0, 1.0))
    assert measured.min_cosine == pytest.approx(float(reference[8] @ noisy[8]), abs=1e-6)
    with pytest.raises(AccuracyError, match="min -?0.[0-9]+ \\(needs ≥ 0.98, worst b: 'b2'\\)"):
        require(measured, INT8_GATE, "a model")
    require(measured, Gate(mean_cosine=0.5, min_cosine=-1.0), "a lenient gate")


def test_smoothing_leaves_the_function_unchanged(tmp_path):
    tokenizer = TextTokenizer(artifact(TOKENIZER_FILE))
    texts = chunk_texts()[:32]
    feeds = [dict(zip(("input_ids", "attention_mask"), tokenizer.encode(texts[i : i + 16]))) for i in (0, 16)]
    smooth(artifact(ONNX_FILE), tmp_path / "smoothed.onnx", feeds, alpha=0.7)
    probe = tokenizer.encode(check_set()["cjk"] + check_set()["short"])
    original, smoothed = OnnxEmbedder(artifact(ONNX_FILE)).embed(*probe), OnnxEmbedder(tmp_path / "smoothed.onnx").embed(*probe)
    assert np.sum(original * smoothed, axis=1).min() >= 0.99999


def test_the_export_gates_fp32_stores_the_reference_and_records_this_cpus_int8_choice(tmp_path):
    """The fp32 gate refuses a degraded model (ONNX Runtime's default dynamic quantisation); the
    export stores sentence-transformers' vectors of the check set for the int8 check on the serving
    CPU, and has made that check for its own CPU."""
    from onnxruntime.quantization import quantize_dynamic

    bad = tmp_path / "bad_int8.onnx"
    quantize_dynamic(str(artifact(ONNX_FILE)), str(bad))
    with pytest.raises(AccuracyError, match="the fp32 export refused: mean cosine 0.9[0-8]"):
        verify(bad, artifact(TOKENIZER_FILE))
    fp32 = verify(artifact(ONNX_FILE), artifact(TOKENIZER_FILE), tmp_path / "reference.npz")
    assert fp32.min_cosine >= 0.9999
    made, shipped = np.load(tmp_path / "reference.npz"), np.load(artifact(CHECK_REFERENCE_FILE))
    np.testing.assert_allclose(made["vectors"], shipped["vectors"], atol=1e-5)
    assert str(shipped["digest"]) == check_set_digest() and len(shipped["vectors"]) == sum(map(len, check_set().values()))
    manifest = json.loads(artifact(MANIFEST_FILE).read_text())
    assert manifest["fp32_vs_sentence_transformers"]["min_cosine"] >= 0.9999
    assert manifest[CACHE_KEY][cache_key(cpu_class())]["variant"] == candidates(cpu_class())[0].name
