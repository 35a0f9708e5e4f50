"""``python -m pytriton_app``: PyTriton serving the repository's models plus ``ingest``/``ingest_stream``.

Same ports (8000/8001/8002), model names and tensor contracts as ``triton-ingest-server serve``,
so the client and the tests run unchanged against either.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from triton_ingest.contracts import INGEST, INGEST_STREAM, OCR
from triton_ingest.paths import BUILD, DEFAULT_MODEL_REPOSITORY
from triton_ingest.serving.server import NVCF_HEADER_PATTERN, http_ready, server_env

REPOSITORY_MODELS = ("tokenizer", "embedder", "embed", "embedder_int8", "embed_int8", "ocr_detector", "ocr_recognizer",
                     "ocr_recognizer_ch", "page_elements", "table_structure")
"""The models PyTriton serves from the repository; ingest, ingest_stream and ocr are bound in Python."""
READY_PATHS = ("/v2/health/ready", *(f"/v2/models/{spec.name}/ready" for spec in (INGEST, INGEST_STREAM, OCR)))
"""Ready means the server and the models bound in Python. PyTriton loads those after tritonserver is
up, so its ``/v2/health/ready`` answers 200 about 10 s before they do: probe these paths (or wait
for the "ready" line) instead."""
READY_TIMEOUT_S = 300
MONITOR_S = 1.0


def render_repository(target: Path) -> Path:
    """A copy of model_repository/ without the models PyTriton binds itself."""
    shutil.rmtree(target, ignore_errors=True)
    for name in REPOSITORY_MODELS:
        shutil.copytree(DEFAULT_MODEL_REPOSITORY / name, target / name)
    return target


def make_triton(http_port: int, grpc_port: int, metrics_port: int, access_token: str | None = None,
                work_dir: Path = BUILD / "pytriton"):
    """A configured, not yet started PyTriton ``Triton`` with the ingest models bound."""
    os.environ.update(server_env())  # libpython first on LD_LIBRARY_PATH, venv on PATH, artifacts dir
    from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig

    from . import patches
    from .bindings import bind

    patches.install()

    config = TritonConfig(
        model_repository=render_repository(work_dir / "model_repository"),
        http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port,
        http_address="127.0.0.1", grpc_address="127.0.0.1",
        http_header_forward_pattern=NVCF_HEADER_PATTERN, grpc_header_forward_pattern=NVCF_HEADER_PATTERN,
        allow_gpu_metrics=False, exit_timeout_secs=30,
    )
    # Plain Triton restricts nothing; neither do we by default, so perf_analyzer and the client
    # work unchanged. With an access token, PyTriton's default endpoints need `triton-access-token`.
    security = TritonSecurityConfig(access_token=access_token) if access_token else \
        TritonSecurityConfig(restricted_endpoints=[])
    triton = Triton(config=config, security_config=security)
    bind(triton, f"localhost:{grpc_port}")
    return triton


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytriton_app", description=__doc__.splitlines()[0])
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--access-token-env", default="PYTRITON_ACCESS_TOKEN",
                        help="environment variable with a token that protects statistics, model-repository, "
                             "shared-memory, trace and logging (unset: nothing is restricted)")
    args = parser.parse_args(argv)
    triton = make_triton(args.http_port, args.grpc_port, args.metrics_port, os.environ.get(args.access_token_env))
    try:
        triton.run()  # starts tritonserver, then loads the models bound in Python
        if not wait_until_ready(f"localhost:{args.http_port}", READY_TIMEOUT_S, triton.is_alive):
            print(f"pytriton_app: not ready after {READY_TIMEOUT_S} s: {not_ready(f'localhost:{args.http_port}')}",
                  file=sys.stderr, flush=True)
            return 1
        print(f"pytriton_app: ready (every model answers). HTTP localhost:{args.http_port} gRPC "
              f"localhost:{args.grpc_port} metrics localhost:{args.metrics_port}", flush=True)
        while triton.is_alive():  # until SIGINT, or tritonserver or a proxy dies
            time.sleep(MONITOR_S)
    except KeyboardInterrupt:
        pass
    finally:
        triton.stop()
    return 0


def not_ready(http_url: str) -> list[str]:
    """The readiness paths of :data:`READY_PATHS` that do not answer 200 yet."""
    return [path for path in READY_PATHS if not http_ready(http_url, path)]


def wait_until_ready(http_url: str, timeout: float, alive) -> bool:
    """True once every path of :data:`READY_PATHS` answers 200; False at ``timeout`` or if ``alive()`` turns false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        if not not_ready(http_url):
            return True
        time.sleep(0.25)
    return False


if __name__ == "__main__":
    sys.exit(main())
