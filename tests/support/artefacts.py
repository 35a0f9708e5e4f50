"""Copies of the artefacts ``make model`` built, for tests that need them changed or uncached."""

from __future__ import annotations

import json
import os
from pathlib import Path

from triton_ingest.models.artifacts import INT8_7BIT_ONNX_FILE, INT8_ONNX_FILE, MANIFEST_FILE, ONNX_FILE, artifact_dir
from triton_ingest.models.int8_choice import CACHE_KEY


def artefacts_copy(tmp_path: Path, replaced: dict[str, Path] | None = None) -> Path:
    """``tmp_path/artifacts``: links to every built file (``replaced``: name -> another file), and a
    manifest of its own, written last, without the int8 choices cached so far."""
    source, target = artifact_dir(), Path(tmp_path) / "artifacts"
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file() and not path.name.startswith(".") and path.name != MANIFEST_FILE:
            os.symlink((replaced or {}).get(path.name, path), target / path.name)
    manifest = json.loads((source / MANIFEST_FILE).read_text())
    manifest.pop(CACHE_KEY, None)
    (target / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    return target


def degraded_int8(tmp_path: Path) -> Path:
    """Artefacts whose int8 variants are both ONNX Runtime's default dynamic quantisation (every op,
    per-tensor weights): mean cosine about 0.93 against sentence-transformers, on any CPU."""
    from onnxruntime.quantization import quantize_dynamic

    bad = Path(tmp_path) / "default_int8.onnx"
    quantize_dynamic(str(artifact_dir() / ONNX_FILE), str(bad))
    return artefacts_copy(tmp_path, {INT8_ONNX_FILE: bad, INT8_7BIT_ONNX_FILE: bad})
