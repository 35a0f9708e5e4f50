"""The int8 variant chosen on the CPU that loads it: candidates per CPU class, the check against the
stored sentence-transformers vectors, the manifest cache, the unavailable case, and vectors that do
not depend on their batch-mates (in-process, on the models ``make model`` built)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from support.artefacts import artefacts_copy, degraded_int8
from triton_ingest.errors import UnavailableError
from triton_ingest.models.artifacts import INT8_7BIT_ONNX_FILE, INT8_ONNX_FILE, MANIFEST_FILE, TOKENIZER_FILE, artifact
from triton_ingest.models.check_texts import check_set
from triton_ingest.models.corpus import chunk_texts
from triton_ingest.models.embedding import EmbedderSettings, NotServedEmbedder, OnnxEmbedder, load_embedder
from triton_ingest.models.int8_check import INT8_GATE
from triton_ingest.models.int8_choice import CACHE_KEY, cache_key, candidates, choose, cpu_class, cpu_features
from triton_ingest.models.tokenization import TextTokenizer
from triton_ingest_client._errors import NotServedError, from_status


@pytest.mark.parametrize("cpu, expected", [
    ("x86_64 AVX2 FMA3", ["u8s8_7bit"]),  # 8-bit weights saturate VPMADDUBSW's 16-bit sums here
    ("x86_64 AVX2 FMA3 AVX512F AVX512BW", ["u8s8_7bit"]),  # AVX-512 without VNNI: the same
    ("x86_64 AVX2 FMA3 AVX512F AVX512BW AVX512VNNI", ["u8s8", "u8s8_7bit"]),
    ("x86_64 AVX2 FMA3 AVX_VNNI", ["u8s8", "u8s8_7bit"]),
    ("x86_64 AVX2 FMA3 AVX512F AVX512BW AVX512VNNI AMX_INT8", ["u8s8", "u8s8_7bit"]),
    ("aarch64 ASIMD ASIMDDP", ["u8s8", "u8s8_7bit"]),
])
def test_the_candidates_of_each_cpu_class(cpu, expected):
    assert [v.name for v in candidates(cpu)] == expected


def test_the_cpu_class_names_the_machine_and_the_features_that_pick_int8_kernels():
    assert cpu_class(frozenset({"SSE", "AVX2", "FMA3", "POPCNT"}), "x86_64") == "x86_64 AVX2 FMA3"
    assert cpu_class(frozenset({"ASIMD", "ASIMDDP", "NEON"}), "aarch64") == "aarch64 ASIMD ASIMDDP"
    assert cpu_class().split()[0] and set(cpu_class().split()[1:]) <= cpu_features()


def passes(measured: dict) -> bool:
    return measured["mean_cosine"] >= INT8_GATE.mean_cosine and measured["min_cosine"] >= INT8_GATE.min_cosine


def test_this_cpu_serves_an_accurate_candidate_checked_once_then_cached(tmp_path):
    artefacts = artefacts_copy(tmp_path)
    first = choose(artefacts)
    assert first.variant == candidates(cpu_class())[0].name and passes(first.measured[first.variant])
    assert first.note == f"cached in {artefacts / MANIFEST_FILE}" and first.cpu == cpu_class()
    recorded = json.loads((artefacts / MANIFEST_FILE).read_text())[CACHE_KEY][cache_key(cpu_class())]
    assert recorded["variant"] == first.variant and recorded["measured"] == first.measured
    again = choose(artefacts)
    assert again.note == "cached" and again.measured == first.measured and again.check_seconds == first.check_seconds
    assert "serving" in again.line() and "cached" in again.line() and first.variant in again.line()
    assert choose(artefacts, recheck=True).note.startswith("cached in")  # measured again, and stored


def test_a_replaced_variant_file_is_checked_again(tmp_path):
    artefacts = artefacts_copy(tmp_path)
    choose(artefacts)
    target = artefacts / candidates(cpu_class())[0].file
    target.unlink()
    shutil.copyfile(artifact(INT8_7BIT_ONNX_FILE), target)  # another model under the same name
    assert choose(artefacts).note != "cached"


def test_a_manifest_that_cannot_be_written_still_gives_a_choice(tmp_path):
    artefacts = artefacts_copy(tmp_path)
    (artefacts / f".{MANIFEST_FILE}.lock").mkdir()  # opening the lock fails as a read-only mount would
    choice = choose(artefacts)
    assert choice.variant is not None and choice.note.startswith("not cached: ")
    assert CACHE_KEY not in json.loads((artefacts / MANIFEST_FILE).read_text())


@pytest.fixture(scope="module")
def degraded(tmp_path_factory):
    """Artefacts whose int8 variants are ONNX Runtime's default quantisation (mean cosine ~0.93)."""
    return degraded_int8(tmp_path_factory.mktemp("degraded"))


def test_with_no_accurate_variant_int8_is_not_served_and_says_why(degraded, monkeypatch):
    choice = choose(degraded, recheck=True)
    assert choice.variant is None and choice.file is None
    assert set(choice.measured) == {v.name for v in candidates(cpu_class())}
    assert not any(passes(m) for m in choice.measured.values())
    error = choice.unavailable()
    assert isinstance(error, UnavailableError) and error.status == "UNAVAILABLE"
    message = str(error)
    assert f"on this CPU ({cpu_class()})" in message and "use embed (fp32)" in message
    assert "mean cosine 0.9" in message and "needs mean cosine ≥ 0.995, min ≥ 0.98" in message
    assert isinstance(from_status("StatusCode.UNAVAILABLE", message), NotServedError)  # never retried
    assert not from_status("503", message).retryable
    monkeypatch.setenv("TRITON_INGEST_ARTIFACTS", str(degraded))
    logged = []
    embedder = load_embedder({"precision": "int8"}, logged.append)
    assert isinstance(embedder, NotServedEmbedder) and logged[0].variant is None
    assert "no variant passed: embed_int8 unavailable" in logged[0].line()
    assert embedder.embed_requests([(np.ones((1, 3), np.int64),) * 2] * 2) == [embedder.error] * 2


def test_a_reference_made_for_another_check_set_is_reported(tmp_path):
    artefacts = artefacts_copy(tmp_path)
    reference = np.load(artefacts / "check_reference.npz")
    (artefacts / "check_reference.npz").unlink()
    np.savez(artefacts / "check_reference.npz", vectors=reference["vectors"], digest=np.array("another set"))
    choice = choose(artefacts, recheck=True)
    assert choice.variant is None
    assert all("made for another check set" in m["error"] for m in choice.measured.values())


@pytest.mark.parametrize("params", [{"precision": "int8", "max_batch_rows": "8"},
                                    {"precision": "int8", "onnx_file": INT8_ONNX_FILE}, {"precision": "fp16"}])
def test_int8_runs_one_text_per_call_and_picks_its_own_file(params):
    with pytest.raises(ValueError, match="precision must be fp32 or int8"):
        load_embedder(params)


def test_an_int8_vector_does_not_depend_on_its_batch_mates():
    """Dynamic int8 scales each ONNX Runtime call by its activations' range: texts packed into one
    call move each other's vectors (shown with 8 rows per call); one text per call does not."""
    tokenizer = TextTokenizer(artifact(TOKENIZER_FILE))
    texts = [t for items in check_set().values() for t in items]
    batch = chunk_texts()[:64] + texts  # the check set among 64 chunks of prose: one request of 160
    served = load_embedder({"precision": "int8"})
    packed = OnnxEmbedder(artifact(choose().file), EmbedderSettings(max_batch_rows=8))

    def worst_change(embedder) -> float:
        alone = np.vstack([embedder.embed(*tokenizer.encode([text])) for text in texts])
        return float(np.abs(alone - embedder.embed(*tokenizer.encode(batch))[64:]).max())

    assert worst_change(served) <= 1e-6  # the fp32 path's level
    assert worst_change(packed) > 1e-3  # why: packed, a vector moves by more than a thousandth
