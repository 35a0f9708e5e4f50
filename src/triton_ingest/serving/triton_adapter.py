"""The only module that touches ``triton_python_backend_utils``.

It turns Triton requests into numpy dicts, library results into responses,
and library exceptions into ``pb_utils.TritonError`` with the status the
exception tree (``errors``) assigns. Unexpected exceptions are logged with
their traceback on the server and reach the client as a bare INTERNAL error.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from typing import Any, Awaitable, Callable, Sequence

import numpy as np
import triton_python_backend_utils as pb_utils

from ..contracts import ModelSpec
from ..pipeline.layout import parse_ocr_outputs
from ..errors import NOT_SERVED, InternalError, InvalidInputError, TritonIngestError, UnavailableError, is_transient

Inputs = dict[str, "np.ndarray | None"]
Outputs = dict[str, np.ndarray]
Handler = Callable[[list[Inputs]], Sequence["Outputs | Exception"]]
AsyncHandler = Callable[[Inputs, dict, Callable[[], bool]], Awaitable[Outputs]]
StreamHandler = Callable[[Inputs, dict, Callable[[], bool], Callable[[Outputs], None]], Awaitable[Outputs]]


def model_params(args: dict[str, Any]) -> dict[str, str]:
    """``parameters`` of ``config.pbtxt`` as a plain ``{key: string_value}`` dict."""
    config = json.loads(args["model_config"])
    return {k: v["string_value"] for k, v in config.get("parameters", {}).items()}


def read_inputs(request: Any, spec: ModelSpec) -> Inputs:
    """The request's input tensors as numpy arrays (``None`` for absent optional ones)."""
    values: Inputs = {}
    for tensor in spec.inputs:
        found = pb_utils.get_input_tensor_by_name(request, tensor.name)
        values[tensor.name] = None if found is None else found.as_numpy()
    return values


def error(exc: BaseException) -> Any:
    """Map an exception to a ``TritonError``; never expose a traceback."""
    if isinstance(exc, TritonIngestError):
        return pb_utils.TritonError(str(exc), getattr(pb_utils.TritonError, exc.status))
    pb_utils.Logger.log_error("".join(traceback.format_exception(exc)))
    return pb_utils.TritonError("internal error; see the server log", pb_utils.TritonError.INTERNAL)


def response(result: "Outputs | BaseException") -> Any:
    """An ``InferenceResponse`` carrying either the output tensors or the error."""
    if not isinstance(result, BaseException):
        try:
            tensors = [pb_utils.Tensor(name, array) for name, array in result.items()]
            return pb_utils.InferenceResponse(output_tensors=tensors)
        except Exception as exc:  # a bug in building outputs must not leak a traceback
            result = exc
    return pb_utils.InferenceResponse(error=error(result))


def log_info(message: str) -> None:
    """A line in Triton's log (INFO)."""
    pb_utils.Logger.log_info(message)


_families: dict[str, Any] = {}  # a MetricFamily must outlive its Metrics
_infos: list[Any] = []


def counter(name: str, description: str, labels: dict[str, str]) -> Any:
    """A Prometheus counter on Triton's metrics port (``metrics.CounterFactory``)."""
    if name not in _families:
        _families[name] = pb_utils.MetricFamily(name=name, description=description, kind=pb_utils.MetricFamily.COUNTER)
    return _families[name].Metric(labels=labels)


def info(name: str, description: str, labels: dict[str, str]) -> None:
    """A Prometheus gauge set to 1 whose labels carry the information (the ``*_info`` idiom)."""
    if name not in _families:
        _families[name] = pb_utils.MetricFamily(name=name, description=description, kind=pb_utils.MetricFamily.GAUGE)
    metric = _families[name].Metric(labels=labels)
    metric.set(1)
    _infos.append(metric)  # a Metric dropped by Python leaves the metrics port


def request_parameters(request: Any) -> dict[str, Any]:
    """Request parameters, including HTTP headers Triton forwarded (``NVCF-*``)."""
    raw = request.parameters()
    return json.loads(raw) if raw else {}


async def bls_infer(spec: ModelSpec, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Call model ``spec`` through BLS; its outputs by name. A transient failure (a full queue, a
    model being reloaded) or a model not served here is an UnavailableError, a bad request an
    InvalidInputError."""
    request = pb_utils.InferenceRequest(
        model_name=spec.name, requested_output_names=[o.name for o in spec.outputs],
        inputs=[pb_utils.Tensor(name, array) for name, array in tensors.items()])
    reply = await request.async_exec()
    if reply.has_error():
        error = reply.error()
        message, code = error.message(), getattr(error, "code", lambda: None)()
        if is_transient(message) or NOT_SERVED in message or code == pb_utils.TritonError.UNAVAILABLE:
            raise UnavailableError(f"{spec.name} failed: {message}")
        if code == pb_utils.TritonError.INVALID_ARG:
            raise InvalidInputError(f"{spec.name}: {message}")
        raise InternalError(f"{spec.name} failed: {message}")
    return {o.name: pb_utils.get_output_tensor_by_name(reply, o.name).as_numpy() for o in spec.outputs}


def bls_embed(spec: ModelSpec) -> Callable[[list[str]], Awaitable[np.ndarray]]:
    """An async ``embed(texts) -> [n, 384]`` that calls model ``spec`` through BLS."""
    text, output = spec.inputs[0], spec.outputs[0]

    async def embed(texts: list[str]) -> np.ndarray:
        array = np.array([[t.encode()] for t in texts], dtype=object)
        return (await bls_infer(spec, {text.name: array}))[output.name]

    return embed


def bls_array(spec: ModelSpec) -> Callable[[np.ndarray], Awaitable[np.ndarray]]:
    """An async ``call(batch) -> output`` for a model of one input and one output tensor."""

    async def call(batch: np.ndarray) -> np.ndarray:
        return (await bls_infer(spec, {spec.inputs[0].name: batch}))[spec.outputs[0].name]

    return call


def bls_ocr(spec: ModelSpec) -> Callable[[bytes, dict], Awaitable[tuple[list[dict], list[dict]]]]:
    """An async ``ocr(image, options) -> (lines, elements)`` that calls the ``ocr`` model through BLS."""

    async def ocr(image: bytes, options: dict) -> tuple[list[dict], list[dict]]:
        tensors = {"IMAGE": np.array([image], dtype=object), "OPTIONS": np.array([json.dumps(options).encode()], dtype=object)}
        return parse_ocr_outputs(await bls_infer(spec, tensors))

    return ocr


async def _call(handler: Callable[..., Awaitable[Outputs]], request: Any, spec: ModelSpec, *extra) -> "Outputs | Exception":
    try:
        return await handler(read_inputs(request, spec), request_parameters(request), request.is_cancelled, *extra)
    except Exception as exc:
        return exc


async def execute_each(requests: Sequence[Any], spec: ModelSpec, handler: AsyncHandler) -> list[Any]:
    """Run the async ``handler(inputs, parameters, is_cancelled)`` for all requests concurrently."""
    results = await asyncio.gather(*(_call(handler, r, spec) for r in requests))
    return [response(r) for r in results]


async def stream_each(requests: Sequence[Any], spec: ModelSpec, handler: StreamHandler) -> None:
    """Decoupled models: ``handler(inputs, parameters, is_cancelled, send)`` may ``send(outputs)``
    any number of times; what it returns (or raises) is the final response."""

    async def one(request: Any) -> None:
        sender = request.get_response_sender()
        final = await _call(handler, request, spec, lambda outputs: sender.send(response(outputs)))
        sender.send(response(final), flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)

    await asyncio.gather(*(one(r) for r in requests))


def execute(requests: Sequence[Any], spec: ModelSpec, handler: Handler) -> list[Any]:
    """Run ``handler`` over all requests at once; errors stay with their own request."""
    try:
        results = list(handler([read_inputs(r, spec) for r in requests]))
    except Exception as exc:  # a failure of the whole batch: every request gets it
        results = [exc] * len(requests)
    return [response(r) for r in results]
