"""Build the FP16 TensorRT engine for ``embedder`` from the exported ONNX (``make engine``).

- optimisation profile: batch ``1…max_batch`` (``EMBEDDER.max_batch_size``) × sequence
  ``1…256``; tensors renamed to the ``EMBEDDER`` contract, so Triton needs no mapping;
- LayerNorm layers are kept in FP32 (FP16 elsewhere);
- a timing cache in the cache directory makes rebuilds fast;
- engines are GPU- and TensorRT-version-specific, so the cache key covers the ONNX
  file, TensorRT's version, the GPU model and its compute capability;
- every build is checked against ONNX Runtime on real sentences (cosine ≥ 0.999)
  before it is published to the cache.

``tensorrt`` and ``cuda-python`` come with the ``[gpu]`` extra and are imported lazily:
this module's pure parts (key, profile, GPU detection) run on any machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..contracts import EMBEDDER, MAX_SEQ_LENGTH
from .artifacts import recorded_sha256

TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:25.01-py3"
TENSORRT_VERSION = "10.8.0.43"
"""TensorRT inside ``TRITON_IMAGE``; the ``[gpu]`` extra pins the same wheel, because an engine
only loads in the TensorRT version that built it. Tests check the Dockerfile and pyproject agree."""

PARITY_MIN_COSINE = 0.999
PARITY_TEXTS = (
    "Cats purr when they are content.",
    "Triton Inference Server batches requests dynamically on the GPU.",
    "Le chat dort sur le canapé pendant que la pluie tombe.",
    "",
    "🙂 emoji and unusual   whitespace\tin one line",
    " ".join(["A long paragraph about document ingestion, chunking and sentence embeddings."] * 40),
)


class EngineError(RuntimeError):
    """The engine could not be built, or failed its parity check."""


@dataclass(frozen=True)
class EngineSpec:
    """What an engine is built for."""

    max_batch: int = EMBEDDER.max_batch_size
    max_seq: int = MAX_SEQ_LENGTH
    fp16: bool = True

    def profile(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """(min, opt, max) shape of ``INPUT_IDS``/``ATTENTION_MASK``."""
        return (1, 1), (max(1, self.max_batch // 2), min(128, self.max_seq)), (self.max_batch, self.max_seq)


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str


def detect_gpu() -> Gpu | None:
    """The first visible CUDA GPU according to ``nvidia-smi``, or ``None``."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines:
        return None
    name, capability = (part.strip() for part in lines[0].rsplit(",", 1))
    return Gpu(name, capability)


def cache_key(onnx_sha256: str, trt_version: str, gpu: Gpu, spec: EngineSpec = EngineSpec()) -> str:
    """Directory name of one engine in the cache: changes when anything it depends on does."""
    identity = {"onnx": onnx_sha256, "tensorrt": trt_version, "gpu": asdict(gpu), "spec": asdict(spec)}
    slug = "".join(c if c.isalnum() else "-" for c in gpu.name.lower()).strip("-")
    return f"{slug}-sm{gpu.compute_capability.replace('.', '')}-trt{trt_version}-" + \
        hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def _tensorrt():
    try:
        import tensorrt
    except ImportError:
        raise EngineError("the tensorrt package is missing: install the [gpu] extra "
                          "(pip install 'triton-ingest[gpu]')") from None
    return tensorrt


def ensure_engine(onnx: Path, tokenizer_json: Path, cache_dir: Path, spec: EngineSpec = EngineSpec()) -> Path:
    """The cached engine for this GPU, building (and parity-checking) it when missing."""
    gpu = detect_gpu()
    if gpu is None:
        raise EngineError("no CUDA GPU is visible (nvidia-smi found none); the gpu target needs one")
    trt = _tensorrt()
    key = cache_key(recorded_sha256(onnx), trt.__version__, gpu, spec)
    entry = Path(cache_dir) / key
    plan = entry / "model.plan"
    if plan.is_file():
        return plan
    timing_cache = Path(cache_dir) / f"timing-{key.rsplit('-', 1)[0]}.cache"  # per GPU and TensorRT
    engine = build_engine(onnx, spec, timing_cache)
    cosine = parity(engine, onnx, tokenizer_json)
    entry.mkdir(parents=True, exist_ok=True)
    _publish(entry / "build.json", json.dumps(
        {"gpu": asdict(gpu), "tensorrt": trt.__version__, "spec": asdict(spec), "min_cosine": cosine}, indent=2).encode())
    _publish(plan, engine)
    return plan


def _publish(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: readers (and other pods sharing the cache) never
    see a partial file, and concurrent writers each rename a complete one."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def build_engine(onnx: Path, spec: EngineSpec, timing_cache: Path) -> bytes:
    """Serialized engine bytes; the timing cache at ``timing_cache`` is read and updated."""
    trt = _tensorrt()

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"TensorRT could not parse {onnx}: {errors}")
    for index, tensor in enumerate(EMBEDDER.inputs):
        network.get_input(index).name = tensor.name
    network.get_output(0).name = EMBEDDER.outputs[0].name
    config = builder.create_builder_config()
    if spec.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
        norms = [network.get_layer(i) for i in range(network.num_layers)
                 if network.get_layer(i).type == trt.LayerType.NORMALIZATION]
        for layer in norms:
            layer.precision = trt.float32
        if not norms:
            print("triton-ingest engine: no LayerNorm layer found; all layers may run in FP16 "
                  "(the parity check still guards the result)", file=sys.stderr)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        cache = config.create_timing_cache(b"")  # a cache from another TensorRT or GPU: start afresh
        config.set_timing_cache(cache, ignore_mismatch=False)
    profile = builder.create_optimization_profile()
    for tensor in EMBEDDER.inputs:
        profile.set_shape(tensor.name, *spec.profile())
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError("TensorRT failed to build the engine; see the log above")
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    _publish(timing_cache, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def parity(engine: bytes, onnx: Path, tokenizer_json: Path, texts=PARITY_TEXTS) -> float:
    """Minimum cosine between engine and ONNX Runtime embeddings; raises below the bar."""
    from .embedding import OnnxEmbedder
    from .tokenization import TextTokenizer

    ids, mask = TextTokenizer(tokenizer_json).encode(list(texts))
    expected = OnnxEmbedder(onnx).embed(ids, mask)
    got = run_engine(engine, ids, mask)
    cosine = np.sum(got * expected, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
    worst = float(cosine.min())
    if worst < PARITY_MIN_COSINE:
        raise EngineError(f"engine parity check failed: min cosine {worst:.5f} < {PARITY_MIN_COSINE}")
    return worst


def run_engine(engine: bytes, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Run one batch through a serialized engine on GPU 0 (cuda-python for memory)."""
    trt = _tensorrt()
    from cuda.bindings import runtime as cudart

    def check(result):
        err, *values = result if isinstance(result, tuple) else (result,)
        if err != cudart.cudaError_t.cudaSuccess:
            raise EngineError(f"CUDA error {err}")
        return values[0] if values else None

    deserialized = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(engine)
    if deserialized is None:
        raise EngineError("TensorRT could not deserialize the engine (built by another TensorRT or GPU?)")
    context = deserialized.create_execution_context()
    host = {EMBEDDER.inputs[0].name: np.ascontiguousarray(ids, np.int64),
            EMBEDDER.inputs[1].name: np.ascontiguousarray(mask, np.int64)}
    out = np.empty((ids.shape[0], EMBEDDER.outputs[0].dims[0]), np.float32)
    stream = check(cudart.cudaStreamCreate())
    device = {}
    try:
        for name, array in [*host.items(), (EMBEDDER.outputs[0].name, out)]:
            device[name] = check(cudart.cudaMalloc(array.nbytes))
            context.set_tensor_address(name, int(device[name]))
        for name, array in host.items():
            context.set_input_shape(name, array.shape)
            check(cudart.cudaMemcpy(device[name], array.ctypes.data, array.nbytes,
                                    cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
        if not context.execute_async_v3(int(stream)):
            raise EngineError("TensorRT execution failed")
        check(cudart.cudaStreamSynchronize(stream))
        check(cudart.cudaMemcpy(out.ctypes.data, device[EMBEDDER.outputs[0].name], out.nbytes,
                                cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost))
    finally:
        for pointer in device.values():
            cudart.cudaFree(pointer)
        cudart.cudaStreamDestroy(stream)
    return out
