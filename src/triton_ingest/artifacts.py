"""Where built artefacts (ONNX model, tokenizer.json) live at serving time."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "TRITON_INGEST_ARTIFACTS"
ONNX_FILE = "model.onnx"
INT8_ONNX_FILE = "model_int8.onnx"  # dynamic int8: per-channel, MatMul weights only
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"


def artifact_dir() -> Path:
    """``$TRITON_INGEST_ARTIFACTS``, else ``./build/artifacts`` (what ``make model`` writes)."""
    return Path(os.environ.get(ENV_VAR, "build/artifacts")).resolve()


def artifact(name: str) -> Path:
    """Path of one artefact file inside :func:`artifact_dir`."""
    return artifact_dir() / name
