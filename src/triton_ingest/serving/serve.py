"""``triton-ingest-server serve`` / ``triton-ingest serve`` / ``python -m triton_ingest.serving.serve``: Triton in the foreground.

Starts tritonserver on ``model_repository/``, reports readiness, forwards
SIGINT/SIGTERM for a clean drain-and-exit, and exits non-zero with the
server's own error lines when it fails to start or a model fails to load.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from ..models.artifacts import artifact_dir
from ..models.int8_choice import cached, cpu_class
from ..paths import DEFAULT_MODEL_REPOSITORY
from .server import STOP_BUDGET_ENV, STOP_BUDGET_S, ServerStartError, TritonServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-repository", type=Path, default=DEFAULT_MODEL_REPOSITORY)
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--ready-timeout", type=float, default=180.0, help="seconds to wait for readiness")
    parser.add_argument("--stop-budget", type=float, default=None,
                        help=f"seconds a stop may take, drain included, before tritonserver is killed "
                             f"(default ${STOP_BUDGET_ENV}, else {STOP_BUDGET_S:g})")
    parser.add_argument("extra", nargs="*", help="more tritonserver flags, after --")


def run(args: argparse.Namespace) -> int:
    server = TritonServer(
        model_repository=args.model_repository,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        extra_args=args.extra,
        **({"stop_budget": max(1.0, args.stop_budget)} if args.stop_budget is not None else {}),
    )
    stopping = []

    def forward(signum, _frame):
        stopping.append(signum)
        print(f"triton-ingest: {signal.Signals(signum).name}, draining and stopping tritonserver", flush=True)
        server.terminate()

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        server.start(timeout=args.ready_timeout)
    except ServerStartError as exc:
        if stopping:
            return 0
        print(f"triton-ingest: tritonserver failed to start: {exc}", file=sys.stderr)
        return 1
    print(
        f"triton-ingest: ready. HTTP {server.http_url}  gRPC {server.grpc_url}  "
        f"metrics localhost:{server.metrics_port}/metrics  (log: {server.log_path})",
        flush=True,
    )
    choice = cached(artifact_dir(), cpu_class())
    print(f"triton-ingest: {choice.line() if choice else 'int8: see the log of embedder_int8'}", flush=True)
    code = server.process.wait()
    if stopping:
        print(f"triton-ingest: tritonserver stopped (exit code {code})", flush=True)
        return 0
    print(f"triton-ingest: tritonserver exited unexpectedly with code {code}", file=sys.stderr)
    return code or 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="triton-ingest-server serve", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
