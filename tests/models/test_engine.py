"""The TensorRT engines: specs, cache keys and GPU detection everywhere; build, parity and the
container's use of them on a CUDA GPU only."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess

import numpy as np
import pytest

from support.clients import cosines
from support.commands import prepare_command
from triton_ingest.contracts import MAX_SEQ_LENGTH, MODELS, OCR_REC_HEIGHT
from triton_ingest.models.artifacts import artifact_dir, file_sha256
from triton_ingest.models.engine import (
    EngineError,
    Gpu,
    cache_key,
    detect_gpu,
    ensure_engine,
    ensure_engines,
    run_engine,
)
from triton_ingest.models.engine_specs import SPECS, onnx_runner, parity_inputs
from triton_ingest.models.ocr import REC_BUCKETS, DetectionSettings
from triton_ingest.serving.repository import ENGINE_FILE, GPU_MODELS, load_config

GPU = detect_gpu()
needs_gpu = pytest.mark.skipif(GPU is None or importlib.util.find_spec("tensorrt") is None,
                               reason="needs a CUDA GPU (nvidia-smi) and the [gpu] extra (tensorrt); "
                                      "run `make engine` on a GPU machine")
H100 = Gpu("NVIDIA H100 80GB HBM3", "9.0")


def test_every_gpu_model_has_an_engine_spec_whose_profile_fits_its_contract():
    assert set(SPECS) == set(GPU_MODELS) == {"embedder", "ocr_detector", "ocr_recognizer", "ocr_recognizer_ch",
                                              "page_elements"}
    for name, spec in SPECS.items():
        contract = MODELS[name]
        assert len(spec.profile) == len(contract.inputs)
        for (low, opt, high), tensor in zip(spec.profile, contract.inputs):
            assert all(l <= o <= h for l, o, h in zip(low, opt, high))
            assert low[0] == 1 and high[0] == contract.max_batch_size  # every batch the batcher may form
            assert len(high) == 1 + len(tensor.dims)
            for size, (l, h) in zip(tensor.dims, zip(low[1:], high[1:])):
                assert size == -1 or l == h == size  # fixed dims are fixed in the profile too


def test_profiles_cover_every_input_the_pre_processing_makes():
    assert SPECS["embedder"].profile[0][2][1] == MAX_SEQ_LENGTH
    (_, _, detector_max), = SPECS["ocr_detector"].profile
    assert detector_max[2:] == (DetectionSettings().max_input_side,) * 2
    for model in ("ocr_recognizer", "ocr_recognizer_ch"):
        (low, _, high), = SPECS[model].profile
        assert low[2] == high[2] == OCR_REC_HEIGHT and low[3] <= REC_BUCKETS[0] and high[3] >= REC_BUCKETS[-1]


def test_parity_inputs_are_real_and_the_reference_runs_on_onnx_runtime():
    for spec in SPECS.values():
        inputs = parity_inputs(spec, artifact_dir())
        reference = onnx_runner(spec, artifact_dir())(inputs.batch)
        assert inputs.score(reference, reference) == pytest.approx(1.0)  # a perfect engine scores 1
        assert np.isfinite(reference).all() and reference.shape[0] == next(iter(inputs.batch.values())).shape[0]
    detector = SPECS["ocr_detector"]
    probability = onnx_runner(detector, artifact_dir())(parity_inputs(detector, artifact_dir()).batch)
    assert (probability > 0.3).mean() > 0.01  # the drawn page has text on it


def test_cache_key_is_stable_and_names_gpu_and_tensorrt():
    key = cache_key("abc", "10.8.0.43", H100, SPECS["embedder"])
    assert key == cache_key("abc", "10.8.0.43", H100, SPECS["embedder"])
    assert key.startswith("nvidia-h100-80gb-hbm3-sm90-trt10.8.0.43-")


@pytest.mark.parametrize("change", [
    dict(onnx_sha256="abd"), dict(trt_version="10.9.0.34"), dict(gpu=Gpu("NVIDIA L40S", "8.9")),
    dict(gpu=Gpu("NVIDIA H100 80GB HBM3", "9.1")), dict(spec=SPECS["ocr_detector"]),
    dict(spec=dataclasses.replace(SPECS["embedder"], fp16=False)),
])
def test_cache_key_changes_with_anything_the_engine_depends_on(change):
    base = dict(onnx_sha256="abc", trt_version="10.8.0.43", gpu=H100, spec=SPECS["embedder"])
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
        ensure_engine(SPECS["embedder"], artifact_dir(), tmp_path / "cache")


@pytest.mark.gpu
@needs_gpu
def test_engines_build_match_onnx_runtime_are_cached_and_used_by_the_container(tmp_path):
    import tensorrt

    plans = ensure_engines(artifact_dir(), tmp_path / "cache")  # each parity-checked inside
    assert set(plans) == set(SPECS)
    for model, spec in SPECS.items():
        plan = plans[model]
        assert plan.parent.name == cache_key(file_sha256(artifact_dir() / spec.onnx_file), tensorrt.__version__, GPU, spec)
        assert ensure_engine(spec, artifact_dir(), tmp_path / "cache") == plan  # reused
        inputs = parity_inputs(spec, artifact_dir())
        engine_out = run_engine(plan.read_bytes(), spec, inputs.batch)
        onnx_out = onnx_runner(spec, artifact_dir())(inputs.batch)
        assert engine_out.shape == onnx_out.shape
        assert inputs.score(engine_out, onnx_out) >= spec.min_parity  # FP16 engine vs fp32 ONNX Runtime
        assert json.loads((plan.parent / "build.json").read_text())["parity"] >= spec.min_parity
    embedder = SPECS["embedder"]
    batch = parity_inputs(embedder, artifact_dir()).batch
    assert cosines(run_engine(plans["embedder"].read_bytes(), embedder, batch),
                   onnx_runner(embedder, artifact_dir())(batch)).min() >= 0.999

    # the container entrypoint on this GPU: picks the gpu target, reuses the cached engines, renders them
    done = subprocess.run(prepare_command(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "target gpu" in done.stdout
    for model, plan in plans.items():
        assert f"engine {model} {plan}" in done.stdout
        assert load_config(tmp_path / "repo" / model / "config.pbtxt").platform == "tensorrt_plan"
        assert (tmp_path / "repo" / model / "1" / ENGINE_FILE).read_bytes() == plan.read_bytes()
