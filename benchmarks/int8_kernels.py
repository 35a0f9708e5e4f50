"""Which ONNX Runtime kernels the int8 model runs, and whether this CPU has VNNI.

    python benchmarks/int8_kernels.py

Profiles three runs of the int8 variant this CPU serves (16 x 128 tokens) and prints each op type's share
of kernel time. ``DynamicQuantizeMatMul`` and ``MatMulIntegerToFloat`` are MLAS's int8 GEMMs,
which use AVX-512 VNNI (or AVX-VNNI) when /proc/cpuinfo lists it.
"""

from __future__ import annotations

import collections
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from report import cpu_features

from triton_ingest.models.artifacts import artifact
from triton_ingest.models.int8_choice import choose


def main() -> None:
    print(f"CPU: {cpu_features()}")
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "int8")
    choice = choose()
    if choice.file is None:
        raise SystemExit(choice.line())
    session = ort.InferenceSession(str(artifact(choice.file)), options, providers=["CPUExecutionProvider"])
    ids = np.random.default_rng(0).integers(1000, 20000, (16, 128)).astype(np.int64)
    for _ in range(3):
        session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
    durations: collections.Counter = collections.Counter()
    for event in json.loads(Path(session.end_profiling()).read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            durations[event["args"]["op_name"]] += event["dur"]
    total = sum(durations.values())
    for op, duration in durations.most_common(8):
        print(f"{op:28} {100 * duration / total:5.1f} % of kernel time")


if __name__ == "__main__":
    main()
