"""Which int8 quantisation of the embedder stays accurate without giving back the speed.

    python benchmarks/int8_tuning.py [--sweep]

Every candidate is built from ``build/artifacts/model.onnx`` and measured against
sentence-transformers on the check set (``triton_ingest.models.check_texts``): mean and min cosine,
top-10 neighbour agreement; and its in-process speed (texts/s, 16 chunk-sized texts per call, one
text per ONNX Runtime call as served, 2 threads) against fp32 in the same run. Prints one line per candidate; with
``--sweep``, each MatMul's sensitivity (how much the min cosine recovers when it alone stays fp32).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from triton_ingest.models.artifacts import ONNX_FILE, TOKENIZER_FILE, artifact
from triton_ingest.models.check_texts import check_set
from triton_ingest.models.corpus import chunk_texts
from triton_ingest.models.embedding import EmbedderSettings, OnnxEmbedder
from triton_ingest.models.export import KEEP_FP32, SMOOTHED, build_int8, reference_vectors
from triton_ingest.models.int8_check import agreement
from triton_ingest.models.smoothing import weight_matmuls
from triton_ingest.models.tokenization import TextTokenizer


def speed(embedder: OnnxEmbedder, batches: list[tuple[np.ndarray, np.ndarray]]) -> float:
    embedder.embed(*batches[0])
    started = time.perf_counter()
    for ids, mask in batches:
        embedder.embed(ids, mask)
    return sum(len(ids) for ids, _ in batches) / (time.perf_counter() - started)


def candidates(nodes: list[str]) -> list[tuple[str, dict]]:
    """(label, build_int8 keyword arguments), the shipped recipe last."""
    ffn_down = [n for n in nodes if "/output/dense/" in n and "attention" not in n]
    edge_layers = [n for n in nodes if "/layer.0/" in n or f"/layer.{len(ffn_down) - 1}/" in n]
    plain = {"smoothed": ()}
    return [
        ("all MatMuls int8, no smoothing (the model before)", {**plain, "keep_fp32": []}),
        ("FFN down-projections fp32", {**plain, "keep_fp32": ffn_down}),
        ("first and last layer fp32", {**plain, "keep_fp32": edge_layers}),
        ("smoothing α=0.5, every MatMul input", {"smoothed": ("",), "alpha": 0.5, "keep_fp32": []}),
        ("smoothing α=0.7, every MatMul input", {"smoothed": ("",), "alpha": 0.7, "keep_fp32": []}),
        ("smoothing α=0.7, Q/K/V and FFN-up inputs", {"smoothed": SMOOTHED, "keep_fp32": []}),
        ("the same + every FFN down-projection fp32", {"smoothed": SMOOTHED, "keep_fp32": ffn_down}),
        ("the same + FFN down-projections of layers 0-3 fp32", {"smoothed": SMOOTHED, "keep_fp32": ffn_down[:4]}),
        ("the same + FFN down-projections of layers 0-1 fp32 (shipped)", {"smoothed": SMOOTHED, "keep_fp32": KEEP_FP32}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="also measure each MatMul kept fp32 alone")
    sweep = parser.parse_args().sweep
    texts = check_set()
    flat = [t for items in texts.values() for t in items]
    tokenizer = TextTokenizer(artifact(TOKENIZER_FILE))
    check_inputs = tokenizer.encode(flat)
    reference = reference_vectors(flat)
    corpus = chunk_texts()[:192]
    batches = [tokenizer.encode(corpus[i : i + 16]) for i in range(0, len(corpus), 16)]
    served = EmbedderSettings(max_batch_rows=1)
    fp32 = OnnxEmbedder(artifact(ONNX_FILE), served)
    fp32_speed = speed(fp32, batches)
    print(f"fp32: {agreement(reference, fp32.embed(*check_inputs), texts).line()}; {fp32_speed:.1f} texts/s")
    nodes = [node.name for group in weight_matmuls(onnx.load(str(artifact(ONNX_FILE)))).values() for node in group]
    work = Path(tempfile.mkdtemp(prefix="int8-tuning-"))

    def measure(label: str, recipe: dict, timed: bool = True) -> float:
        path = work / "candidate.onnx"
        build_int8(artifact(ONNX_FILE), path, artifact(TOKENIZER_FILE), **recipe)
        model = OnnxEmbedder(path, served)
        measured = agreement(reference, model.embed(*check_inputs), texts)
        rate = f"; {speed(model, batches) / fp32_speed:.2f}x fp32 speed" if timed else ""
        print(f"{label}: {measured.line()}{rate}", flush=True)
        return measured.min_cosine

    for label, recipe in candidates(nodes):
        measure(label, recipe)
    if sweep:
        base = measure("no smoothing, all int8 (sweep baseline)", {"smoothed": (), "keep_fp32": []}, timed=False)
        print("per-MatMul sensitivity (min-cosine gain when kept fp32 alone, no smoothing):")
        for node in nodes:
            gain = measure(f"  only {node} fp32", {"smoothed": (), "keep_fp32": [node]}, timed=False) - base
            print(f"  {gain:+.4f} {node}")


if __name__ == "__main__":
    main()
