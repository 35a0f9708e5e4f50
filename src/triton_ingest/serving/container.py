"""``triton-ingest-server prepare``: the container's entrypoint, run before ``tritonserver``.

1. Artefacts: a model mounted by NVCF at ``/config/models/<name>`` (holding everything ``make
   model`` writes: ``model.onnx``, both int8 variants, ``check_reference.npz``, ``tokenizer.json``
   and the OCR models) wins over the copy baked into the image.
2. int8: the variant accurate on *this* CPU is chosen (or int8 found unavailable here) and printed;
   :mod:`triton_ingest.models.int8_choice` caches it in the artefacts' manifest where that is
   writable, and the ``embedder_int8`` model reads the cache (or checks again) when it loads.
3. Target: ``gpu`` when ``nvidia-smi`` shows a GPU, else ``cpu`` (or forced).
4. ``gpu``: the TensorRT engines for *this* GPU (embedder, OCR detector and recognizers) are taken
   from the cache, or built and parity-checked once (engines are GPU-specific). The cache lives in
   a writable directory, never in the read-only ``/config``.
5. The repository for the target is rendered into a writable directory, and the
   command after ``--`` (the image's ``CMD``, i.e. ``tritonserver …``) runs: with
   ``--supervise`` (the image's default) as a child under the stub watchdog with a
   drain on SIGTERM (see :mod:`triton_ingest.serving.supervisor`), otherwise it replaces
   this process.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..models.artifacts import ENV_VAR, MODEL_FILES, artifact_dir
from ..models.engine import EngineError, detect_gpu, ensure_engines
from ..models.int8_choice import choose
from ..paths import DEFAULT_MODEL_REPOSITORY
from .repository import TARGETS, bls_callers, render

DEFAULTS = {
    "models_dir": "/config/models",
    "model_name": "all-minilm-l6-v2",
    "repository": "/var/run/triton-ingest/model_repository",
    "cache_dir": "/var/cache/triton-ingest/engines",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("--target", choices=("auto", *TARGETS), default=env("TRITON_INGEST_TARGET", "auto"))
    parser.add_argument("--models-dir", type=Path, default=env("TRITON_INGEST_MODELS_DIR", DEFAULTS["models_dir"]),
                        help="where NVCF mounts models (read-only)")
    parser.add_argument("--model-name", default=env("TRITON_INGEST_MODEL_NAME", DEFAULTS["model_name"]))
    parser.add_argument("--source", type=Path, default=DEFAULT_MODEL_REPOSITORY,
                        help="the cpu model repository every target is rendered from")
    parser.add_argument("--repository", type=Path,
                        default=env("TRITON_INGEST_REPOSITORY", DEFAULTS["repository"]),
                        help="writable directory the rendered model repository is written to")
    parser.add_argument("--cache-dir", type=Path, default=env("TRITON_INGEST_ENGINE_CACHE", DEFAULTS["cache_dir"]),
                        help="writable directory for TensorRT engines and the timing cache")
    parser.add_argument("--supervise", action="store_true",
                        help="run the command under the stub watchdog, draining BLS models on SIGTERM")
    parser.add_argument("server_command", nargs=argparse.REMAINDER, help="-- then the server command to exec")


def mounted_artifacts(models_dir: Path, model_name: str) -> Path | None:
    """``models_dir/model_name`` when it holds a complete model (everything ``make model`` writes),
    else ``None``: a partial mount must not break a model."""
    candidate = Path(models_dir) / model_name
    if all((candidate / name).is_file() for name in MODEL_FILES):
        return candidate
    return None


def resolve_target(requested: str) -> str:
    if requested != "auto":
        return requested
    return "gpu" if detect_gpu() is not None else "cpu"


def prepare(args: argparse.Namespace) -> Path:
    """Choose artefacts and target, build or reuse the engine, render; returns the repository."""
    mounted = mounted_artifacts(args.models_dir, args.model_name)
    artifacts = mounted or artifact_dir()
    os.environ[ENV_VAR] = str(artifacts)  # the exec'd server's Python models read it
    print(f"triton-ingest prepare: {choose(artifacts).line()}", flush=True)
    target = resolve_target(args.target)
    engines = ensure_engines(artifacts, args.cache_dir) if target == "gpu" else {}
    repository = render(target, args.repository, engines=engines, source=args.source)
    print(f"triton-ingest prepare: target {target}, artefacts {artifacts}"
          f"{' (mounted)' if mounted else ''}, repository {repository}"
          + "".join(f", engine {model} {plan}" for model, plan in engines.items()), flush=True)
    return repository


def run(args: argparse.Namespace) -> int:
    command = args.server_command[1:] if args.server_command[:1] == ["--"] else args.server_command
    try:
        drained = bls_callers(prepare(args))
    except (EngineError, ValueError, OSError) as exc:
        print(f"triton-ingest prepare: {exc}", file=sys.stderr)
        return 1
    if not command:
        return 0
    sys.stdout.flush()
    if args.supervise:
        from .supervisor import supervise

        return supervise(command, drained)
    os.execvp(command[0], command)  # tritonserver becomes PID of this process: signals go straight to it
