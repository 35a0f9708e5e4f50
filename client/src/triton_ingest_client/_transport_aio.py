"""The asyncio transport: ``tritonclient.http.aio`` (aiohttp) or ``tritonclient.grpc.aio`` (grpc.aio).

Calls are coroutines on the caller's event loop: no thread per call, and one connection pool
per transport (HTTP keeps up to ``connections`` sockets; gRPC multiplexes one channel).
Failures become the client's exception tree, exactly as in :mod:`._transport`.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Mapping

from ._errors import from_status
from ._transport import STREAM_HEADERS, Tensors, is_final, make_inputs, translate, tritonclient_module


class AsyncTritonTransport:
    """One asyncio tritonclient connection (HTTP or gRPC), created on the running loop."""

    def __init__(self, url: str, protocol: str = "http", timeout: float = 600.0,
                 headers: Mapping[str, str] | None = None, ssl: bool = False, connections: int = 100):
        self.url, self.protocol, self.timeout = url, protocol, timeout
        self.headers = dict(headers or {})
        self._m = tritonclient_module(protocol, asyncio=True)
        if protocol == "http":  # aiohttp's total timeout per request
            self._client = self._m.InferenceServerClient(url, conn_limit=connections, conn_timeout=timeout, ssl=ssl)
        else:
            self._client = self._m.InferenceServerClient(url, ssl=ssl)

    async def _call(self, coroutine):
        try:
            return await coroutine
        except Exception as exc:
            raise translate(exc, self.url) from None

    async def infer(self, model: str, tensors: Tensors, outputs: list[str],
                    headers: Mapping[str, str] | None = None) -> Tensors:
        kwargs = {"headers": {**self.headers, **(headers or {})}}
        if self.protocol == "grpc":
            kwargs["client_timeout"] = self.timeout
        result = await self._call(self._client.infer(model, make_inputs(self._m, tensors), **kwargs))
        return {name: result.as_numpy(name) for name in outputs}

    async def stream(self, model: str, tensors: Tensors, outputs: list[str], final_key: str) -> AsyncIterator[Tensors]:
        """gRPC streaming (decoupled models): each response until one marks ``final_key``.

        The request side stays open until then, and gRPC flow control holds Triton back
        while the caller is slow to iterate."""
        if self.protocol != "grpc":
            raise ValueError("streaming needs protocol='grpc'")
        finished = asyncio.Event()

        async def requests():
            yield {"model_name": model, "inputs": make_inputs(self._m, tensors)}
            await finished.wait()

        responses = self._client.stream_infer(requests(), headers={**self.headers, **STREAM_HEADERS})
        try:
            while True:
                try:
                    result, error = await asyncio.wait_for(responses.__anext__(), self.timeout)
                except asyncio.TimeoutError:
                    raise from_status("DEADLINE_EXCEEDED", f"no stream response within {self.timeout} s") from None
                except StopAsyncIteration:
                    raise from_status("UNAVAILABLE", f"{self.url} ended the stream before its last response") from None
                except Exception as exc:
                    raise translate(exc, self.url) from None
                if error is not None:
                    raise translate(error, self.url)
                reply = {name: result.as_numpy(name) for name in outputs}
                yield reply
                if reply.get(final_key) is not None and is_final(reply[final_key]):
                    return
        finally:
            finished.set()
            responses.cancel()

    async def live(self) -> bool:
        return bool(await self._call(self._client.is_server_live(headers=self.headers or None)))

    async def ready(self) -> bool:
        return bool(await self._call(self._client.is_server_ready(headers=self.headers or None)))

    async def model_ready(self, model: str) -> bool:
        return bool(await self._call(self._client.is_model_ready(model, headers=self.headers or None)))

    async def close(self) -> None:
        try:
            await self._client.close()
        except Exception:
            pass

