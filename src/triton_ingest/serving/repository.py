"""Render the Triton model repository for a deployment target from one description.

``model_repository/`` in the source tree *is* the ``cpu`` target: the embedder
runs ONNX Runtime inside the Python backend. The ``gpu`` target is derived from
it, so model names and the ``embed``/``ingest`` contracts cannot drift:

- ``embedder``, ``ocr_detector``, ``ocr_recognizer``, ``ocr_recognizer_ch`` and ``page_elements`` become
  ``platform: "tensorrt_plan"`` (FP16 engines from :mod:`triton_ingest.models.engine`) with
  ``KIND_GPU`` instances behind the dynamic batcher (OCR crops are already padded to bucket widths);
- ``tokenizer`` pads each request to a fixed bucket width (``pad_buckets``), because
  a TensorRT model cannot take ragged batches: the dynamic batcher only merges
  requests whose shapes are equal;
- everything else (``embed`` ensemble, ``ingest``, ``ingest_stream``, ``ocr``,
  ``table_structure``, the int8 CPU pair) is copied unchanged.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from ..contracts import EMBEDDER, MAX_SEQ_LENGTH, MODELS, ModelSpec
from ..models.engine_specs import SPECS
from ..paths import DEFAULT_MODEL_REPOSITORY

TARGETS = ("cpu", "gpu")
ENGINE_FILE = "model.plan"
"""File name Triton's TensorRT backend loads from ``<model>/<version>/``."""
GPU_MODELS = tuple(SPECS)
"""The models that run as TensorRT engines on the ``gpu`` target."""
BLS_CALLS = "bls_calls"
"""Config parameter of a Python model that calls other models through BLS: their names."""


@dataclass(frozen=True)
class GpuSettings:
    """The knobs of the ``gpu`` target; defaults suit one H100 serving MiniLM."""

    gpu_instances: int = 2  # two execution contexts per model overlap copies and compute
    max_queue_delay_us: int = 1000
    pad_buckets: tuple[int, ...] = (16, 32, 64, 128, MAX_SEQ_LENGTH)


def embedder_contract(target: str) -> ModelSpec:
    """``EMBEDDER`` as served on ``target``: identical tensors; not ragged on ``gpu``."""
    if target == "cpu":
        return EMBEDDER
    return replace(EMBEDDER, inputs=tuple(replace(t, ragged=False) for t in EMBEDDER.inputs))


def tensorrt_config(cpu_config: mc.ModelConfig, settings: GpuSettings = GpuSettings()) -> mc.ModelConfig:
    """A cpu (Python-backend) config turned into a TensorRT plan: same tensors (not ragged), same
    bounded queue policy, the Python-backend parameters dropped, GPU instances."""
    config = mc.ModelConfig()
    config.CopyFrom(cpu_config)
    config.ClearField("backend")
    config.ClearField("parameters")
    config.platform = "tensorrt_plan"
    for tensor in config.input:
        tensor.allow_ragged_batch = False
    config.dynamic_batching.max_queue_delay_microseconds = settings.max_queue_delay_us
    del config.instance_group[:]
    config.instance_group.add(count=settings.gpu_instances, kind=mc.ModelInstanceGroup.KIND_GPU)
    return config


def load_config(path: Path) -> mc.ModelConfig:
    """A ``config.pbtxt`` parsed with protobuf ``text_format``; ValueError naming the file if it does not parse."""
    try:
        return text_format.Parse(Path(path).read_text(), mc.ModelConfig())
    except text_format.ParseError as exc:
        raise ValueError(f"{path} does not parse: {exc}") from None


def configs(repository: Path) -> dict[str, mc.ModelConfig]:
    """Every model's parsed ``config.pbtxt`` in ``repository``, by model name."""
    return {path.parent.name: load_config(path) for path in sorted(Path(repository).glob("*/config.pbtxt"))}


def bls_callers(repository: Path) -> tuple[tuple[str, ...], ...]:
    """The models of ``repository`` that call others through BLS (their config has ``bls_calls``),
    in the order they are drained: a model comes in an earlier stage than the models it calls."""
    calls = {name: bls_calls({k: v.string_value for k, v in config.parameters.items()})
             for name, config in configs(repository).items() if BLS_CALLS in config.parameters}

    def depth(model: str, seen: frozenset = frozenset()) -> int:
        callers = [c for c, called in calls.items() if model in called and c not in seen]
        return 1 + max((depth(c, seen | {model}) for c in callers), default=-1)

    stages: dict[int, list[str]] = {}
    for name in calls:
        stages.setdefault(depth(name), []).append(name)
    return tuple(tuple(stages[level]) for level in sorted(stages))


def bls_calls(params: dict[str, str]) -> list[str]:
    """The models a BLS model calls, from its config ``parameters`` (``model_params``); each one
    must have a contract. Raises ValueError, naming the parameter, when it is missing or wrong."""
    names = [name.strip() for name in params.get(BLS_CALLS, "").split(",") if name.strip()]
    unknown = [name for name in names if name not in MODELS]
    if not names or unknown:
        raise ValueError(f"config parameter {BLS_CALLS} must name served models, got {params.get(BLS_CALLS)!r}")
    return names


def write_config(path: Path, config: mc.ModelConfig, comment: str) -> None:
    path.write_text(f"# {comment}\n" + text_format.MessageToString(config))


def render(target: str, out: Path, *, engines: dict[str, Path] | None = None, source: Path = DEFAULT_MODEL_REPOSITORY,
           settings: GpuSettings = GpuSettings()) -> Path:
    """Write the repository for ``target`` to ``out`` (replaced); returns ``out``.

    ``engines``: built plans by model name, placed at ``<model>/1/model.plan`` (``gpu`` only).
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    unknown = sorted(set(engines or {}) - set(GPU_MODELS))
    if unknown:
        raise ValueError(f"no engine is built for {unknown}; the gpu target's engines are {list(GPU_MODELS)}")
    out, source = Path(out).resolve(), Path(source).resolve()
    if out == source or source in out.parents or out in source.parents:
        raise ValueError(f"refusing to render into {out}: it overlaps the source repository {source}")
    shutil.rmtree(out, ignore_errors=True)
    # symlinks are followed: a model whose model.py links to another's keeps a real file
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if target == "gpu":
        _to_gpu(out, engines or {}, settings)
    return out


def _to_gpu(out: Path, engines: dict[str, Path], settings: GpuSettings) -> None:
    for model in GPU_MODELS:
        (out / model / "1" / "model.py").unlink()
        cpu_config = load_config(out / model / "config.pbtxt")
        write_config(out / model / "config.pbtxt", tensorrt_config(cpu_config, settings),
                     "Rendered by triton_ingest.serving.repository (target gpu): FP16 TensorRT engine, dynamic batching.")
        if model in engines:
            shutil.copyfile(engines[model], out / model / "1" / ENGINE_FILE)
    tokenizer_config = load_config(out / "tokenizer" / "config.pbtxt")
    tokenizer_config.parameters["pad_buckets"].string_value = ",".join(map(str, settings.pad_buckets))
    write_config(out / "tokenizer" / "config.pbtxt", tokenizer_config,
                 "Rendered by triton_ingest.serving.repository (target gpu): pads to bucket widths for TensorRT.")
