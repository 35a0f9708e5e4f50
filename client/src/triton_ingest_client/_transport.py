"""Private transport adapters over tritonclient (HTTP and gRPC).

A transport turns ``{name: ndarray}`` into a Triton infer call and back, and
converts every failure into the client's exception tree. tritonclient's HTTP
client is not thread-safe, so each thread gets its own transport.
"""

from __future__ import annotations

import importlib
import json
import queue
import threading
from typing import Iterator, Mapping

import numpy as np
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from ._errors import TritonIngestClientError, UnavailableError, from_status

Tensors = dict[str, np.ndarray]
STREAM_BUFFER = 4
"""Stream responses a transport holds before its reader waits: a consumer slower than the server
(writing to an index, say) holds a bounded amount, and gRPC flow control pushes back on Triton."""
STREAM_HEADERS = {"triton_grpc_error": "true"}


def tritonclient_module(protocol: str, asyncio: bool = False):
    """``tritonclient.http`` or ``tritonclient.grpc`` (their ``.aio`` variants with ``asyncio``)."""
    if protocol not in ("http", "grpc"):
        raise ValueError(f"protocol must be 'http' or 'grpc', not {protocol!r}")
    return importlib.import_module(f"tritonclient.{protocol}" + (".aio" if asyncio else ""))


def make_inputs(module, tensors: Tensors) -> list:
    """``module.InferInput``s (tritonclient.http, .grpc or their .aio) holding ``tensors``."""
    made = []
    for name, array in tensors.items():
        tensor = module.InferInput(name, list(array.shape), "BYTES" if array.dtype == object
                                   else np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array)
        made.append(tensor)
    return made


def translate(exc: BaseException, url: str) -> TritonIngestClientError:
    """Map a tritonclient or socket failure to the client's exception tree."""
    if isinstance(exc, TritonIngestClientError):
        return exc
    if isinstance(exc, InferenceServerException):
        status = exc.status()
        message = exc.message() or str(exc)
        if status is None and ("connect" in message.lower() or "unavailable" in message.lower()):
            return UnavailableError(f"cannot reach triton-ingest at {url}: {message}")
        return from_status(status, message)
    if callable(getattr(exc, "code", None)) and callable(getattr(exc, "details", None)):  # grpc.RpcError
        return from_status(str(exc.code()), exc.details() or str(exc))
    if type(exc).__name__ == "HTTPParseError":  # an answer, but not HTTP: a gRPC port, most likely
        return TritonIngestClientError(f"{url} did not answer in HTTP ({exc}); if it is Triton's gRPC port, "
                                       "add --protocol grpc (protocol='grpc')")
    if isinstance(exc, (OSError, ConnectionError, TimeoutError)) or type(exc).__name__ in ("HTTPConnectionClosed",):
        return UnavailableError(f"cannot reach triton-ingest at {url}: {exc}")
    return TritonIngestClientError(f"{type(exc).__name__}: {exc}")


class TritonTransport:
    """One tritonclient connection (HTTP or gRPC) with uniform errors."""

    def __init__(self, url: str, protocol: str = "http", timeout: float = 600.0, headers: Mapping[str, str] | None = None,
                 ssl: bool = False):
        self.url, self.protocol, self.timeout = url, protocol, timeout
        self.headers = dict(headers or {})
        self._m = tritonclient_module(protocol)
        if protocol == "http":
            self._client = self._m.InferenceServerClient(url, connection_timeout=min(timeout, 60.0),
                                                         network_timeout=timeout, ssl=ssl)
        else:
            self._client = self._m.InferenceServerClient(url, ssl=ssl)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise translate(exc, self.url) from None

    def infer(self, model: str, tensors: Tensors, outputs: list[str], headers: Mapping[str, str] | None = None,
              on_progress=None) -> Tensors:
        """One infer call; ``on_progress`` is unused here (progress comes from files or streams)."""
        kwargs = {"headers": {**self.headers, **(headers or {})}}
        if self.protocol == "grpc":
            kwargs["client_timeout"] = self.timeout
        result = self._call(self._client.infer, model, make_inputs(self._m, tensors), **kwargs)
        return {name: result.as_numpy(name) for name in outputs}

    def stream(self, model: str, tensors: Tensors, outputs: list[str], final_key: str) -> Iterator[Tensors]:
        """gRPC streaming (decoupled models): yield each response until one marks ``final_key``."""
        if self.protocol != "grpc":
            raise ValueError("streaming needs protocol='grpc'")
        replies: queue.Queue = queue.Queue(maxsize=STREAM_BUFFER)
        done = threading.Event()

        def receive(result, error) -> None:  # tritonclient's reader thread: waits while the buffer is full
            while not done.is_set():
                try:
                    return replies.put((result, error), timeout=0.1)
                except queue.Full:
                    continue

        # STREAM_HEADERS: an error ends the stream with its real gRPC status (INVALID_ARGUMENT...),
        # not a bare message, so it maps to the same exception as over unary calls
        self._call(self._client.start_stream, callback=receive, headers={**self.headers, **STREAM_HEADERS})
        try:
            self._call(self._client.async_stream_infer, model, make_inputs(self._m, tensors))
            while True:
                try:
                    result, error = replies.get(timeout=self.timeout)
                except queue.Empty:
                    raise from_status("DEADLINE_EXCEEDED", f"no stream response within {self.timeout} s") from None
                if error is not None:
                    raise translate(error, self.url)
                reply = {name: result.as_numpy(name) for name in outputs}
                yield reply
                if final_key in reply and reply[final_key] is not None and is_final(reply[final_key]):
                    return
        finally:
            done.set()
            self._client.stop_stream()

    def live(self) -> bool:
        return bool(self._call(self._client.is_server_live, headers=self.headers or None))

    def ready(self) -> bool:
        return bool(self._call(self._client.is_server_ready, headers=self.headers or None))

    def model_ready(self, model: str) -> bool:
        return bool(self._call(self._client.is_model_ready, model, headers=self.headers or None))

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:
            pass


def is_final(summary: np.ndarray) -> bool:
    """Whether an ``ingest_stream`` SUMMARY tensor marks the stream's last response."""
    return bool(json.loads(summary.reshape(-1)[0]).get("final"))
