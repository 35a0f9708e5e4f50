"""Render the Triton model repository for a deployment target from one description.

``model_repository/`` in the source tree *is* the ``cpu`` target: the embedder
runs ONNX Runtime inside the Python backend. The ``gpu`` target is derived from
it, so model names and the ``embed``/``ingest`` contracts cannot drift:

- ``embedder`` becomes ``platform: "tensorrt_plan"`` (FP16 engine from
  :mod:`triton_ingest.models.engine`) with ``KIND_GPU`` instances behind the dynamic batcher;
- ``tokenizer`` pads each request to a fixed bucket width (``pad_buckets``), because
  a TensorRT model cannot take ragged batches: the dynamic batcher only merges
  requests whose shapes are equal;
- everything else (``embed`` ensemble, ``ingest``, ``ingest_stream``, the int8 CPU
  pair) is copied unchanged.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from ..contracts import EMBEDDER, MAX_SEQ_LENGTH, MODELS, ModelSpec
from ..paths import DEFAULT_MODEL_REPOSITORY

TARGETS = ("cpu", "gpu")
ENGINE_FILE = "model.plan"
"""File name Triton's TensorRT backend loads from ``embedder/<version>/``."""
BLS_CALLS = "bls_calls"
"""Config parameter of a Python model that calls other models through BLS: their names."""


@dataclass(frozen=True)
class GpuSettings:
    """The knobs of the ``gpu`` target; defaults suit one H100 serving MiniLM."""

    embedder_instances: int = 2  # two execution contexts overlap copies and compute
    max_queue_delay_us: int = 1000
    pad_buckets: tuple[int, ...] = (16, 32, 64, 128, MAX_SEQ_LENGTH)


def embedder_contract(target: str) -> ModelSpec:
    """``EMBEDDER`` as served on ``target``: identical tensors; not ragged on ``gpu``."""
    if target == "cpu":
        return EMBEDDER
    return replace(EMBEDDER, inputs=tuple(replace(t, ragged=False) for t in EMBEDDER.inputs))


def gpu_embedder_config(cpu_config: mc.ModelConfig, settings: GpuSettings = GpuSettings()) -> mc.ModelConfig:
    """The cpu ``embedder`` config turned into a TensorRT plan: same tensors (not ragged), same
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
    config.instance_group.add(count=settings.embedder_instances, kind=mc.ModelInstanceGroup.KIND_GPU)
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


def bls_callers(repository: Path) -> tuple[str, ...]:
    """The models of ``repository`` that call others through BLS (their config has ``bls_calls``)."""
    return tuple(name for name, config in configs(repository).items() if BLS_CALLS in config.parameters)


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


def render(target: str, out: Path, *, engine: Path | None = None, source: Path = DEFAULT_MODEL_REPOSITORY,
           settings: GpuSettings = GpuSettings()) -> Path:
    """Write the repository for ``target`` to ``out`` (replaced); returns ``out``.

    ``engine``: a built plan to place at ``embedder/1/model.plan`` (``gpu`` only).
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    out, source = Path(out).resolve(), Path(source).resolve()
    if out == source or source in out.parents or out in source.parents:
        raise ValueError(f"refusing to render into {out}: it overlaps the source repository {source}")
    shutil.rmtree(out, ignore_errors=True)
    # symlinks are followed: embedder_int8's model.py stays a real file once embedder's is gone
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if target == "gpu":
        _to_gpu(out, engine, settings)
    return out


def _to_gpu(out: Path, engine: Path | None, settings: GpuSettings) -> None:
    embedder = out / EMBEDDER.name
    (embedder / "1" / "model.py").unlink()
    cpu_config = load_config(embedder / "config.pbtxt")
    write_config(embedder / "config.pbtxt", gpu_embedder_config(cpu_config, settings),
                 "Rendered by triton_ingest.serving.repository (target gpu): FP16 TensorRT engine, dynamic batching.")
    if engine is not None:
        shutil.copyfile(engine, embedder / "1" / ENGINE_FILE)
    tokenizer_config = load_config(out / "tokenizer" / "config.pbtxt")
    tokenizer_config.parameters["pad_buckets"].string_value = ",".join(map(str, settings.pad_buckets))
    write_config(out / "tokenizer" / "config.pbtxt", tokenizer_config,
                 "Rendered by triton_ingest.serving.repository (target gpu): pads to bucket widths for TensorRT.")
