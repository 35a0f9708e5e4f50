"""Every config.pbtxt agrees with triton_ingest.contracts (parsed with protobuf text_format)."""

from __future__ import annotations

import pytest

from support.configs import contract_of, spec_of
from triton_ingest.contracts import MODELS
from triton_ingest.paths import DEFAULT_MODEL_REPOSITORY
from triton_ingest.serving import repository


def load_config(name: str):
    return repository.load_config(DEFAULT_MODEL_REPOSITORY / name / "config.pbtxt")


def test_every_model_directory_has_a_contract():
    on_disk = {p.parent.name for p in DEFAULT_MODEL_REPOSITORY.glob("*/config.pbtxt")}
    assert on_disk == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_config_matches_contract(name):
    assert spec_of(load_config(name)) == contract_of(MODELS[name])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_has_a_version_directory(name):
    assert (DEFAULT_MODEL_REPOSITORY / name / "1").is_dir()


@pytest.mark.parametrize("ensemble, embedder", [("embed", "embedder"), ("embed_int8", "embedder_int8")])
def test_ensemble_wires_tokenizer_outputs_into_embedder_inputs(ensemble, embedder):
    steps = load_config(ensemble).ensemble_scheduling.step
    assert [s.model_name for s in steps] == ["tokenizer", embedder]
    produced = {v for v in steps[0].output_map.values()}
    consumed = {v for v in steps[1].input_map.values()}
    assert consumed == produced
    assert set(steps[1].input_map) == {t.name for t in MODELS["embedder"].inputs}
    assert set(steps[0].output_map) == {t.name for t in MODELS["tokenizer"].outputs}
    assert max(MODELS["tokenizer"].max_batch_size, MODELS["embedder"].max_batch_size) >= MODELS["embed"].max_batch_size


def test_python_models_use_dynamic_batching():
    for name in ("tokenizer", "embedder", "embedder_int8"):
        assert load_config(name).HasField("dynamic_batching"), name


def test_int8_embedder_differs_from_fp32_only_in_precision_and_one_text_per_call():
    """int8 picks its model file for the CPU it loads on, and runs one text per ONNX Runtime call
    (max_batch_rows is 1 and may not be set): a text's vector must not depend on its batch-mates."""
    fp32, int8 = load_config("embedder"), load_config("embedder_int8")
    assert int8.parameters["precision"].string_value == "int8" and "onnx_file" not in int8.parameters
    assert "max_batch_rows" not in int8.parameters
    del int8.parameters["precision"], fp32.parameters["max_batch_rows"]
    int8.name = fp32.name
    assert int8 == fp32
