"""Where built artefacts (ONNX model, tokenizer.json) live at serving time, and their manifest."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

ENV_VAR = "TRITON_INGEST_ARTIFACTS"
ONNX_FILE = "model.onnx"
INT8_ONNX_FILE = "model_int8.onnx"  # dynamic int8: per-channel, MatMul weights only (8-bit weights)
INT8_7BIT_ONNX_FILE = "model_int8_7bit.onnx"  # the same with 7-bit weights: no U8S8 kernel saturates
CHECK_REFERENCE_FILE = "check_reference.npz"  # sentence-transformers' vectors of the check set
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
OCR_DETECTOR_FILE = "ocr_det.onnx"  # PP-OCRv4 text detection (DB)
OCR_RECOGNIZER_FILES = {  # language -> (PP-OCRv4 recognition model, its characters, one per line)
    "en": ("ocr_rec_en.onnx", "ocr_rec_en_keys.txt"),
    "ch": ("ocr_rec_ch.onnx", "ocr_rec_ch_keys.txt"),
}
PAGE_ELEMENTS_FILE = "page_elements.onnx"  # layout detector (labels: contracts.PAGE_ELEMENT_LABELS)
TABLE_STRUCTURE_FILES = ("table_structure.onnx", "table_structure_tokens.txt")  # SLANet-plus, its 48 tokens
MODEL_FILES = (ONNX_FILE, INT8_ONNX_FILE, INT8_7BIT_ONNX_FILE, CHECK_REFERENCE_FILE, TOKENIZER_FILE, OCR_DETECTOR_FILE,
               *(name for pair in OCR_RECOGNIZER_FILES.values() for name in pair), PAGE_ELEMENTS_FILE,
               *TABLE_STRUCTURE_FILES)
"""Everything ``make model`` writes besides the manifest; a mounted model must hold all of them."""


def artifact_dir() -> Path:
    """``$TRITON_INGEST_ARTIFACTS``, else ``./build/artifacts`` (what ``make model`` writes)."""
    return Path(os.environ.get(ENV_VAR, "build/artifacts")).resolve()


def artifact(name: str) -> Path:
    """Path of one artefact file inside :func:`artifact_dir`."""
    return artifact_dir() / name


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_entry(path: Path) -> dict:
    """``{"sha256", "bytes"}`` of one artefact file, as ``make model`` records it in the manifest."""
    return {"sha256": file_sha256(path), "bytes": Path(path).stat().st_size}


def recorded_sha256(path: Path) -> str:
    """SHA-256 of an artefact: read from the ``manifest.json`` beside it (no need to read 90 MB at
    every container start), or computed when the manifest cannot vouch for the file: there is no
    manifest or no entry for it, or the file was replaced since (another size, or newer than the
    manifest, which ``make model`` writes last)."""
    path, manifest = Path(path), Path(path).parent / MANIFEST_FILE
    try:
        entry = json.loads(manifest.read_text())["files"][path.name]
        stat = path.stat()
        if entry["bytes"] == stat.st_size and manifest.stat().st_mtime_ns >= stat.st_mtime_ns:
            return entry["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return file_sha256(path)
