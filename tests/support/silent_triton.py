"""A Triton that never answers: a real gRPC server of KServe's service whose every call waits
until the test ends. A job sent to it stays running on purpose, for as long as the test needs it
held, not only while a client's retries last (a port nobody listens on fails after them)."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
from tritonclient.grpc import service_pb2_grpc

from triton_ingest.serving.server import free_port


class _Silent(service_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(self, released: threading.Event):
        self.released = released

    def ModelStreamInfer(self, request_iterator, context):  # noqa: N802 (gRPC's name)
        self.released.wait()
        context.abort(grpc.StatusCode.UNAVAILABLE, "the silent Triton was stopped")
        yield from ()

    def ModelInfer(self, request, context):  # noqa: N802
        self.released.wait()
        context.abort(grpc.StatusCode.UNAVAILABLE, "the silent Triton was stopped")


class SilentTriton:
    """``with SilentTriton() as silent:`` a gRPC address (``silent.grpc_url``) that never answers."""

    def __enter__(self) -> "SilentTriton":
        self.released = threading.Event()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(_Silent(self.released), self.server)
        port = free_port()
        self.server.add_insecure_port(f"127.0.0.1:{port}")
        self.server.start()
        self.grpc_url = f"localhost:{port}"
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self.server.stop(grace=1).wait()
