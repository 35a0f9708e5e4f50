"""The artefacts' manifest: what `make model` recorded, read back instead of re-hashing."""

from __future__ import annotations

import json
import os

import pytest

from triton_ingest.models.artifacts import (
    CHECK_REFERENCE_FILE,
    INT8_7BIT_ONNX_FILE,
    INT8_ONNX_FILE,
    MANIFEST_FILE,
    MODEL_FILES,
    OCR_DETECTOR_FILE,
    ONNX_FILE,
    TOKENIZER_FILE,
    artifact,
    file_sha256,
    recorded_sha256,
)


def test_make_model_records_every_artefact_with_its_hash_and_size():
    files = json.loads(artifact(MANIFEST_FILE).read_text())["files"]
    assert set(files) == set(MODEL_FILES) >= {ONNX_FILE, INT8_ONNX_FILE, INT8_7BIT_ONNX_FILE, CHECK_REFERENCE_FILE,
                                              TOKENIZER_FILE, OCR_DETECTOR_FILE}
    for name, entry in files.items():
        assert entry == {"sha256": file_sha256(artifact(name)), "bytes": artifact(name).stat().st_size}, name
        assert recorded_sha256(artifact(name)) == entry["sha256"]  # the manifest vouches for its files


def fake_artefacts(tmp_path, manifest: dict | None):
    """A model file, then (written last, as ``make model`` does) its manifest."""
    model = tmp_path / ONNX_FILE
    model.write_bytes(b"not really a model")
    if manifest is not None:
        (tmp_path / MANIFEST_FILE).write_text(json.dumps(manifest))
        os.utime(tmp_path / MANIFEST_FILE, ns=(model.stat().st_mtime_ns + 1,) * 2)
    return model


def test_the_recorded_hash_is_used_without_reading_the_file(tmp_path):
    model = fake_artefacts(tmp_path, {"files": {ONNX_FILE: {"sha256": "recorded", "bytes": 18}}})
    assert recorded_sha256(model) == "recorded"


@pytest.mark.parametrize("manifest", [
    None,
    {"files": {}},
    {"files": {ONNX_FILE: {"sha256": "stale", "bytes": 999}}},  # the file was replaced since
    {"onnx_sha256": "an older manifest without files"},
], ids=["no-manifest", "no-entry", "other-size", "old-format"])
def test_the_hash_is_computed_when_the_manifest_cannot_vouch_for_the_file(tmp_path, manifest):
    model = fake_artefacts(tmp_path, manifest)
    assert recorded_sha256(model) == file_sha256(model)


def test_a_file_replaced_after_the_manifest_is_hashed_again(tmp_path):
    """A re-export of the same architecture has the same size: the modification time tells."""
    model = fake_artefacts(tmp_path, {"files": {ONNX_FILE: {"sha256": "stale", "bytes": 18}}})
    model.write_bytes(b"a fine-tuned model")  # 18 bytes too
    os.utime(model, ns=((tmp_path / MANIFEST_FILE).stat().st_mtime_ns + 1,) * 2)
    assert recorded_sha256(model) == file_sha256(model) != "stale"


def test_a_corrupt_manifest_falls_back_to_hashing(tmp_path):
    model = fake_artefacts(tmp_path, None)
    (tmp_path / MANIFEST_FILE).write_text("{not json")
    assert recorded_sha256(model) == file_sha256(model)
