"""Build the FP16 TensorRT engines of the ``gpu`` target from the ONNX artefacts (``make engine``).

- one engine per model of ``engine_specs.SPECS`` (the embedder and the OCR detector and
  recognizers), with one optimisation profile per input; tensors renamed to the model's contract,
  so Triton needs no mapping;
- normalisation layers (LayerNorm) are kept in FP32 (FP16 elsewhere);
- a timing cache in the cache directory makes rebuilds fast;
- engines are GPU- and TensorRT-version-specific, so the cache key covers the ONNX file, TensorRT's
  version, the GPU model, its compute capability and the spec;
- every build is checked against ONNX Runtime on real inputs before it is published to the cache.

``tensorrt`` and ``cuda-python`` come with the ``[gpu]`` extra and are imported lazily:
this module's pure parts (key, GPU detection) run on any machine.
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

from .artifacts import recorded_sha256
from .engine_specs import SPECS, EngineSpec, onnx_runner, parity_inputs

TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:25.01-py3"
TENSORRT_VERSION = "10.8.0.43"
"""TensorRT inside ``TRITON_IMAGE``; the ``[gpu]`` extra pins the same wheel, because an engine
only loads in the TensorRT version that built it. Tests check the Dockerfile and pyproject agree."""
PLAN_FILE = "model.plan"


class EngineError(RuntimeError):
    """The engine could not be built, or failed its parity check."""


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


def cache_key(onnx_sha256: str, trt_version: str, gpu: Gpu, spec: EngineSpec) -> str:
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


def ensure_engine(spec: EngineSpec, artifacts: Path, cache_dir: Path) -> Path:
    """The cached engine of ``spec`` for this GPU, building (and parity-checking) it when missing."""
    gpu = detect_gpu()
    if gpu is None:
        raise EngineError("no CUDA GPU is visible (nvidia-smi found none); the gpu target needs one")
    trt = _tensorrt()
    onnx = Path(artifacts) / spec.onnx_file
    key = cache_key(recorded_sha256(onnx), trt.__version__, gpu, spec)
    entry = Path(cache_dir) / key
    plan = entry / PLAN_FILE
    if plan.is_file():
        return plan
    timing_cache = Path(cache_dir) / f"timing-{key.rsplit('-', 1)[0]}.cache"  # per GPU and TensorRT, shared by models
    engine = build_engine(onnx, spec, timing_cache)
    score = parity(engine, spec, Path(artifacts))
    entry.mkdir(parents=True, exist_ok=True)
    _publish(entry / "build.json", json.dumps(
        {"gpu": asdict(gpu), "tensorrt": trt.__version__, "spec": asdict(spec), "parity": score}, indent=2).encode())
    _publish(plan, engine)
    return plan


def ensure_engines(artifacts: Path, cache_dir: Path) -> dict[str, Path]:
    """Every engine of the ``gpu`` target, by model name."""
    return {model: ensure_engine(spec, artifacts, cache_dir) for model, spec in SPECS.items()}


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
    contract = spec.contract
    for index, tensor in enumerate(contract.inputs):
        network.get_input(index).name = tensor.name
    network.get_output(0).name = contract.outputs[0].name
    config = builder.create_builder_config()
    if spec.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
        norms = [network.get_layer(i) for i in range(network.num_layers)
                 if network.get_layer(i).type == trt.LayerType.NORMALIZATION]
        for layer in norms:
            layer.precision = trt.float32
        if not norms:
            print(f"triton-ingest engine: {spec.model} has no normalisation layer to keep in FP32 "
                  "(the parity check guards the result)", file=sys.stderr)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        cache = config.create_timing_cache(b"")  # a cache from another TensorRT or GPU: start afresh
        config.set_timing_cache(cache, ignore_mismatch=False)
    profile = builder.create_optimization_profile()
    for tensor, shapes in zip(contract.inputs, spec.profile):
        profile.set_shape(tensor.name, *shapes)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError(f"TensorRT failed to build the {spec.model} engine; see the log above")
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    _publish(timing_cache, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def parity(engine: bytes, spec: EngineSpec, artifacts: Path) -> float:
    """How closely the engine agrees with ONNX Runtime on real inputs; raises below the spec's bar."""
    inputs = parity_inputs(spec, artifacts)
    score = inputs.score(run_engine(engine, spec, inputs.batch), onnx_runner(spec, artifacts)(inputs.batch))
    if score < spec.min_parity:
        raise EngineError(f"{spec.model} engine parity check failed: {score:.5f} < {spec.min_parity}")
    return score


def run_engine(engine: bytes, spec: EngineSpec, batch: dict[str, np.ndarray]) -> np.ndarray:
    """Run one batch (inputs by contract name) through a serialized engine on GPU 0 (cuda-python
    for memory); returns its output."""
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
    dtypes = {"INT64": np.int64, "FP32": np.float32}
    host = {t.name: np.ascontiguousarray(batch[t.name], dtypes[t.dtype]) for t in spec.contract.inputs}
    output = spec.contract.outputs[0].name
    for name, array in host.items():
        context.set_input_shape(name, array.shape)
    out = np.empty(tuple(context.get_tensor_shape(output)), np.float32)
    stream = check(cudart.cudaStreamCreate())
    device = {}
    try:
        for name, array in [*host.items(), (output, out)]:
            device[name] = check(cudart.cudaMalloc(array.nbytes))
            context.set_tensor_address(name, int(device[name]))
        for name, array in host.items():
            check(cudart.cudaMemcpy(device[name], array.ctypes.data, array.nbytes,
                                    cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
        if not context.execute_async_v3(int(stream)):
            raise EngineError("TensorRT execution failed")
        check(cudart.cudaStreamSynchronize(stream))
        check(cudart.cudaMemcpy(out.ctypes.data, device[output], out.nbytes,
                                cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost))
    finally:
        for pointer in device.values():
            cudart.cudaFree(pointer)
        cudart.cudaStreamDestroy(stream)
    return out
