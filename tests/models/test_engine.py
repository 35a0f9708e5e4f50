"""The TensorRT engine: cache keys and profiles everywhere; build and parity on a CUDA GPU only."""

from __future__ import annotations

import importlib.util
import json
import subprocess

import pytest

from support.clients import cosines
from support.commands import prepare_command
from triton_ingest.contracts import MAX_SEQ_LENGTH
from triton_ingest.models.artifacts import ONNX_FILE, TOKENIZER_FILE, artifact, file_sha256
from triton_ingest.models.engine import (
    PARITY_MIN_COSINE,
    PARITY_TEXTS,
    EngineError,
    EngineSpec,
    Gpu,
    cache_key,
    detect_gpu,
    ensure_engine,
)
from triton_ingest.serving.repository import ENGINE_FILE, load_config

GPU = detect_gpu()
needs_gpu = pytest.mark.skipif(GPU is None or importlib.util.find_spec("tensorrt") is None,
                               reason="needs a CUDA GPU (nvidia-smi) and the [gpu] extra (tensorrt); "
                                      "run `make engine` on a GPU machine")
H100 = Gpu("NVIDIA H100 80GB HBM3", "9.0")


def test_profile_covers_batch_one_to_max_and_sequence_one_to_256():
    low, opt, high = EngineSpec().profile()
    assert low == (1, 1) and high == (EngineSpec().max_batch, MAX_SEQ_LENGTH)
    assert all(l <= o <= h for l, o, h in zip(low, opt, high))


def test_cache_key_is_stable_and_names_gpu_and_tensorrt():
    key = cache_key("abc", "10.8.0.43", H100)
    assert key == cache_key("abc", "10.8.0.43", H100)
    assert key.startswith("nvidia-h100-80gb-hbm3-sm90-trt10.8.0.43-")


@pytest.mark.parametrize("change", [
    dict(onnx_sha256="abd"), dict(trt_version="10.9.0.34"), dict(gpu=Gpu("NVIDIA L40S", "8.9")),
    dict(gpu=Gpu("NVIDIA H100 80GB HBM3", "9.1")), dict(spec=EngineSpec(max_batch=64)), dict(spec=EngineSpec(fp16=False)),
])
def test_cache_key_changes_with_anything_the_engine_depends_on(change):
    base = dict(onnx_sha256="abc", trt_version="10.8.0.43", gpu=H100, spec=EngineSpec())
    assert cache_key(**{**base, **change}) != cache_key(**base)


def test_detect_gpu_reads_nvidia_smi(tmp_path, monkeypatch):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 9.0'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect_gpu() == H100


def test_detect_gpu_without_nvidia_smi_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detect_gpu() is None


def test_engine_without_a_gpu_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineError, match="no CUDA GPU is visible"):
        ensure_engine(artifact(ONNX_FILE), artifact(TOKENIZER_FILE), tmp_path / "cache")


@pytest.mark.gpu
@needs_gpu
def test_engine_builds_matches_onnx_runtime_and_is_cached(tmp_path):
    from triton_ingest.models.embedding import OnnxEmbedder
    from triton_ingest.models.engine import run_engine
    from triton_ingest.models.tokenization import TextTokenizer

    plan = ensure_engine(artifact(ONNX_FILE), artifact(TOKENIZER_FILE), tmp_path / "cache")
    assert plan.parent.name == cache_key(file_sha256(artifact(ONNX_FILE)), __import__("tensorrt").__version__, GPU)
    assert ensure_engine(artifact(ONNX_FILE), artifact(TOKENIZER_FILE), tmp_path / "cache") == plan  # reused
    texts = list(PARITY_TEXTS) * (EngineSpec().max_batch // len(PARITY_TEXTS) + 1)
    ids, mask = TextTokenizer(artifact(TOKENIZER_FILE)).encode(texts[:EngineSpec().max_batch])  # the largest batch
    engine_out = run_engine(plan.read_bytes(), ids, mask)
    onnx_out = OnnxEmbedder(artifact(ONNX_FILE)).embed(ids, mask)
    assert engine_out.shape == onnx_out.shape == (EngineSpec().max_batch, 384)
    assert cosines(engine_out, onnx_out).min() >= PARITY_MIN_COSINE  # FP16 engine vs fp32 ONNX Runtime
    recorded = json.loads((plan.parent / "build.json").read_text())["min_cosine"]
    assert recorded >= PARITY_MIN_COSINE

    # the container entrypoint on this GPU: picks the gpu target, reuses the cached engine, renders it
    done = subprocess.run(prepare_command(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "target gpu" in done.stdout and f"engine {plan}" in done.stdout
    assert load_config(tmp_path / "repo" / "embedder" / "config.pbtxt").platform == "tensorrt_plan"
    assert (tmp_path / "repo" / "embedder" / "1" / ENGINE_FILE).read_bytes() == plan.read_bytes()
