"""The model repository rendered per target: both parse, keep the contracts, and the gpu
tokenizer's bucket padding gives the same embeddings through a real tritonserver."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from support.clients import PROTOCOLS, embed_with, text_input
from support.configs import contract_of, spec_of
from triton_ingest.contracts import EMBED_MODELS, EMBEDDER, MODELS, OCR, PAGE_ELEMENTS, TABLE_STRUCTURE
from triton_ingest.models.engine_specs import SPECS
from triton_ingest.models.tokenization import parse_buckets
from triton_ingest.paths import DEFAULT_MODEL_REPOSITORY
from triton_ingest.serving.repository import (
    BLS_CALLS,
    ENGINE_FILE,
    GPU_MODELS,
    TARGETS,
    GpuSettings,
    bls_callers,
    bls_calls,
    embedder_contract,
    load_config,
    render,
)
from triton_ingest.serving.server import TritonServer


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("targets")
    engines = {}
    for model in GPU_MODELS:
        engines[model] = root / f"{model}.plan"
        engines[model].write_bytes(f"{model} engine bytes".encode())
    return {target: render(target, root / target, engines=engines if target == "gpu" else None) for target in TARGETS}


@pytest.mark.parametrize("target", TARGETS)
def test_every_model_is_rendered_and_keeps_its_contract(rendered, target):
    names = {p.parent.name for p in rendered[target].glob("*/config.pbtxt")}
    assert names == set(MODELS)
    for name, spec in MODELS.items():
        expected = embedder_contract(target) if name == EMBEDDER.name else spec
        config = load_config(rendered[target] / name / "config.pbtxt")
        assert spec_of(config) == contract_of(expected), (target, name)


def test_cpu_target_is_the_source_repository(rendered):
    for config in DEFAULT_MODEL_REPOSITORY.glob("*/config.pbtxt"):
        assert (rendered["cpu"] / config.parent.name / "config.pbtxt").read_text() == config.read_text()


def test_gpu_target_changes_only_the_engine_models_and_tokenizer(rendered):
    for name in set(MODELS) - {*GPU_MODELS, "tokenizer"}:
        cpu = load_config(rendered["cpu"] / name / "config.pbtxt")
        gpu = load_config(rendered["gpu"] / name / "config.pbtxt")
        assert cpu == gpu, name
    # embedder_int8 keeps a real model.py after embedder's is removed (it was a symlink)
    assert (rendered["gpu"] / "embedder_int8" / "1" / "model.py").is_file()


@pytest.mark.parametrize("model", GPU_MODELS)
def test_gpu_models_are_dynamically_batched_tensorrt_plans(rendered, model):
    config = load_config(rendered["gpu"] / model / "config.pbtxt")
    assert config.platform == "tensorrt_plan" and not config.backend and not config.parameters
    cpu = load_config(rendered["cpu"] / model / "config.pbtxt")
    assert config.dynamic_batching.default_queue_policy == cpu.dynamic_batching.default_queue_policy
    assert config.dynamic_batching.default_queue_policy.max_queue_size > 0  # bounded on GPU too
    assert [g.kind for g in config.instance_group] == [config.instance_group[0].KIND_GPU]
    assert config.max_batch_size == SPECS[model].profile[0][2][0]  # the engine profile covers every batch
    files = {p.name for p in (rendered["gpu"] / model / "1").iterdir()}
    assert files == {ENGINE_FILE}
    assert (rendered["gpu"] / model / "1" / ENGINE_FILE).read_bytes() == f"{model} engine bytes".encode()


def test_an_engine_for_a_model_the_gpu_target_does_not_run_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no engine is built for \\['tokenizer'\\]"):
        render("gpu", tmp_path / "x", engines={"tokenizer": tmp_path / "t.plan"})


def test_gpu_tokenizer_pads_to_buckets_the_engine_profile_covers(rendered):
    config = load_config(rendered["gpu"] / "tokenizer" / "config.pbtxt")
    buckets = parse_buckets(config.parameters["pad_buckets"].string_value)
    assert buckets == GpuSettings().pad_buckets
    assert buckets[-1] == SPECS["embedder"].profile[0][2][1]


def test_unknown_target_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown target 'tpu'"):
        render("tpu", tmp_path / "x")


@pytest.mark.parametrize("inside", [".", "embedder", ".."])
def test_rendering_over_the_source_repository_is_refused(inside):
    with pytest.raises(ValueError, match="overlaps the source repository"):
        render("cpu", DEFAULT_MODEL_REPOSITORY / inside)
    assert (DEFAULT_MODEL_REPOSITORY / "embedder" / "config.pbtxt").is_file()


@pytest.mark.integration
def test_gpu_tokenizer_buckets_change_no_embedding(rendered, tmp_path):
    """The gpu repository with the CPU models swapped back in (no TensorRT here): bucket
    padding must leave every embedding as the cpu target computes it, on both protocols."""
    repository = tmp_path / "gpu-on-cpu"
    shutil.copytree(rendered["gpu"], repository)
    for model in GPU_MODELS:  # no TensorRT here: the cpu models stand in for the engines
        shutil.rmtree(repository / model)
        shutil.copytree(rendered["cpu"] / model, repository / model)
    texts = ["short", "a somewhat longer sentence about Triton and TensorRT engines", "x " * 300, ""]
    results, widths = {}, {}
    for name, repo in (("cpu", rendered["cpu"]), ("gpu", repository)):
        with TritonServer.on_free_ports(model_repository=repo, work_dir=tmp_path / name) as server:
            for protocol in PROTOCOLS:
                module = httpclient if protocol == "http" else grpcclient
                client = module.InferenceServerClient(server.http_url if protocol == "http" else server.grpc_url)
                results[name, protocol] = embed_with(client, protocol, texts)
                widths[name, protocol] = [client.infer("tokenizer", [text_input(protocol, [t])])
                                          .as_numpy("INPUT_IDS").shape[1] for t in texts]
                client.close()
    for protocol in PROTOCOLS:  # the served gpu tokenizer really pads to buckets; cpu does not
        assert widths["gpu", protocol] == [16, 16, 256, 16]
        assert widths["cpu", protocol][0] < 16
    for protocol in PROTOCOLS:
        np.testing.assert_allclose(results["gpu", protocol], results["cpu", protocol], atol=2e-5)


@pytest.mark.parametrize("target", TARGETS)
def test_the_models_drained_before_sigterm_are_read_from_the_configs(rendered, target):
    assert bls_callers(rendered[target]) == (("ingest", "ingest_stream"), ("ocr",))  # callers before callees
    for name in ("ingest", "ingest_stream"):  # what ingest_model calls: the embedding models, ocr, the table models
        calls = load_config(rendered[target] / name / "config.pbtxt").parameters[BLS_CALLS].string_value
        assert calls.split(",") == [*EMBED_MODELS, OCR.name, PAGE_ELEMENTS.name, TABLE_STRUCTURE.name]
    calls = load_config(rendered[target] / OCR.name / "config.pbtxt").parameters[BLS_CALLS].string_value
    assert {PAGE_ELEMENTS.name, TABLE_STRUCTURE.name} < set(calls.split(","))


def test_a_repository_without_bls_models_drains_nothing(tmp_path):
    shutil.copytree(DEFAULT_MODEL_REPOSITORY / "embedder", tmp_path / "embedder")
    assert bls_callers(tmp_path) == ()


@pytest.mark.parametrize("value", ["", "embed,no_such_model", " , "])
def test_a_bls_model_must_name_served_models(value):
    with pytest.raises(ValueError, match="config parameter bls_calls must name served models"):
        bls_calls({BLS_CALLS: value} if value else {})
    assert bls_calls({BLS_CALLS: "embed, embed_int8"}) == ["embed", "embed_int8"]


def test_a_config_that_does_not_parse_is_named(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.pbtxt").write_text('name: "broken"\nbogus_field: 1\n')
    with pytest.raises(ValueError, match="broken/config.pbtxt does not parse"):
        bls_callers(tmp_path)
