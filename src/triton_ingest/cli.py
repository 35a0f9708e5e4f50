"""``triton-ingest-server``: the server-side commands.

``serve``, ``demo``, ``gateway`` and ``nvcf-local`` run locally (the client CLI ``triton-ingest``
forwards these here); ``worker`` runs a shared job store's jobs; ``render``, ``engine`` and ``prepare`` build the
per-target model repository, the TensorRT engine and the container's start-up.
"""

from __future__ import annotations

import argparse
import faulthandler
import signal
import sys
from pathlib import Path

from . import demo
from .gateway import job_worker, nvcf_local
from .models.artifacts import artifact_dir
from .serving import container, serve
from .serving.repository import GPU_MODELS, TARGETS, render


def _engine(args: argparse.Namespace) -> int:
    from .models.engine import EngineError, ensure_engines

    try:
        plans = ensure_engines(artifact_dir(), args.cache_dir)
    except EngineError as exc:
        print(f"triton-ingest-server engine: {exc}", file=sys.stderr)
        return 1
    print("\n".join(f"{model}={plan}" for model, plan in plans.items()))
    return 0


def _render(args: argparse.Namespace) -> int:
    engines = dict(item.split("=", 1) for item in args.engine)
    print(render(args.target, args.out, engines={model: Path(plan) for model, plan in engines.items()}))
    missing = [model for model in GPU_MODELS if model not in engines]
    if args.target == "gpu" and missing:
        print(f"note: no --engine given for {', '.join(missing)}, so their model.plan is missing; `make engine` "
              "builds them (and prints MODEL=PLAN lines for --engine) and the container's `prepare` adds them",
              file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="triton-ingest-server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve.add_arguments(commands.add_parser("serve", help="run tritonserver on model_repository/"))
    demo_parser = commands.add_parser("demo", help="start Triton, embed examples, index and search them, stop")
    demo_parser.add_argument("--index", type=Path, default=demo.DEMO_INDEX, help="the Milvus Lite file to ingest into")
    nvcf_local.add_arguments(commands.add_parser("gateway", help="front door: OpenAI /v1/embeddings and NVCF pexec "
                                                                 "in front of a Triton"), port=9000)
    nvcf_local.add_arguments(commands.add_parser("nvcf-local", help="the gateway on NVCF's local port (8080)"))
    job_worker.add_worker_arguments(commands.add_parser("worker", help="run the jobs of a shared job store "
                                                                      "(--jobs redis://…) on Triton"))
    rendering = commands.add_parser("render", help="write the model repository for a target (cpu or gpu)")
    rendering.add_argument("--target", choices=TARGETS, default="cpu")
    rendering.add_argument("--out", type=Path, required=True)
    rendering.add_argument("--engine", action="append", default=[], metavar="MODEL=PLAN",
                           help="a TensorRT plan for a gpu model (repeatable; what `make engine` prints)")
    engine = commands.add_parser("engine", help="build (or reuse) the TensorRT engines for this GPU")
    engine.add_argument("--cache-dir", type=Path, default=Path("build/engines"))
    container.add_arguments(commands.add_parser("prepare", help="container entrypoint: pick model, engine, render, exec"))
    args = parser.parse_args(argv)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: every thread's stack on stderr
    handlers = {"serve": serve.run, "gateway": nvcf_local.run, "nvcf-local": nvcf_local.run, "render": _render,
                "engine": _engine, "prepare": container.run, "worker": job_worker.run_worker}
    return handlers.get(args.command, lambda _: demo.main(args.index))(args)


if __name__ == "__main__":
    sys.exit(main())
