"""The int8 variants on this CPU: accuracy against sentence-transformers and in-process speed.

    python benchmarks/int8_variants.py [--rounds 5] [--out build/bench]

Measures, one text per ONNX Runtime call as served, on all of this machine's cores: fp32; ``u8s8``
(8-bit weights, shipped); ``u8s8_7bit`` (7-bit weights, shipped); and ``u8u8`` (QUInt8 weights, the
same recipe, built here: U8U8 kernels never saturate, but are slower). Accuracy is the check set
against the sentence-transformers vectors the export stored; speed is texts/s over 384 chunk-sized
texts, 16 per call, rounds interleaved (median). Prints which variant this CPU serves, its features,
and writes ``int8_variants.json``. Results depend on the CPU: run it where the model serves.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
from int8_tuning import speed
from report import cpu_features, write_json

from triton_ingest.models.artifacts import ONNX_FILE, TOKENIZER_FILE, artifact, artifact_dir
from triton_ingest.models.corpus import chunk_texts
from triton_ingest.models.embedding import EmbedderSettings, OnnxEmbedder
from triton_ingest.models.export import build_int8
from triton_ingest.models.int8_choice import VARIANTS, Variant, candidates, choose, cpu_class, measure
from triton_ingest.models.tokenization import TextTokenizer

U8U8 = Variant("u8u8", "model_int8_u8u8.onnx", False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("build/bench"))
    parser.add_argument("--smoke", action="store_true", help="one round over 32 texts: checks that it runs")
    args = parser.parse_args()
    count = 32 if args.smoke else 384
    args.rounds = 1 if args.smoke else args.rounds
    work = Path(tempfile.mkdtemp(prefix="int8-variants-"))
    for name in (ONNX_FILE, TOKENIZER_FILE, *(v.file for v in VARIANTS), "check_reference.npz"):
        os.symlink(artifact(name), work / name)
    build_int8(artifact(ONNX_FILE), {work / U8U8.file: {"weight_type": "QUInt8"}}, artifact(TOKENIZER_FILE))
    variants = (Variant("fp32", ONNX_FILE, False), *VARIANTS, U8U8)
    settings = EmbedderSettings(intra_op_threads=len(os.sched_getaffinity(0)), max_batch_rows=1)
    embedders = {v.name: OnnxEmbedder(work / v.file, settings) for v in variants}
    tokenizer, texts = TextTokenizer(artifact(TOKENIZER_FILE)), chunk_texts()[:count]
    batches = [tokenizer.encode(texts[i : i + 16]) for i in range(0, len(texts), 16)]
    rates: dict[str, list[float]] = {name: [] for name in embedders}
    for _ in range(args.rounds):
        for name, embedder in embedders.items():
            rates[name].append(speed(embedder, batches))
    served = choose(artifact_dir())
    fp32 = float(np.median(rates["fp32"]))
    rows = []
    for variant in variants:
        accuracy = asdict(measure(work, variant))
        rate = float(np.median(rates[variant.name]))
        rows.append({"variant": variant.name, "mean_cosine": round(accuracy["mean_cosine"], 4),
                     "min_cosine": round(accuracy["min_cosine"], 4), "top10": round(accuracy["top10_agreement"], 3),
                     "texts_per_s": round(rate, 1), "vs_fp32": round(rate / fp32, 2),
                     "candidate": variant in candidates(cpu_class()), "served": variant.name == served.variant})
    print(f"CPU: {cpu_features()}\nint8 kernels' features (CPUID): {cpu_class()}")
    print(f"{'variant':10} {'mean':>7} {'min':>7} {'top-10':>7} {'texts/s':>8} {'vs fp32':>8}  candidate here")
    for row in rows:
        print(f"{row['variant']:10} {row['mean_cosine']:7.4f} {row['min_cosine']:7.4f} {row['top10']:7.3f} "
              f"{row['texts_per_s']:8.1f} {row['vs_fp32']:7.2f}x  {'yes' if row['candidate'] else 'no'}"
              f"{', served' if row['served'] else ''}")
    print(served.line())
    write_json(args.out / "int8_variants.json", {"cpu": cpu_features(), "cpu_class": cpu_class(), "rows": rows,
                                                 "served": served.line()})


if __name__ == "__main__":
    main()
