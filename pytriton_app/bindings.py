"""PyTriton bindings for ``ingest``, ``ingest_stream`` and ``ocr``, derived from the shared contracts."""

from __future__ import annotations

import asyncio
import json
from typing import AsyncIterator

import numpy as np
import tritonclient.grpc.aio as grpc_aio
from pytriton.model_config import ModelConfig, Tensor
from pytriton.proxy.types import Request

from triton_ingest.contracts import EMBED_MODELS, INGEST, INGEST_STREAM, MODELS, OCR, OCR_DETECTOR, ModelSpec
from triton_ingest.models.artifacts import TOKENIZER_FILE, artifact
from triton_ingest.pipeline.extraction import Extractor
from triton_ingest.pipeline.ingest import IngestPipeline, ingest_request, stream_batch_outputs, stream_final_outputs
from triton_ingest.pipeline.layout import parse_ocr_outputs
from triton_ingest.pipeline.ocr import engines, ocr_request, worker_decoder
from triton_ingest.pipeline.regions import region_reader

DTYPES = {"STRING": np.bytes_, "FP32": np.float32, "INT64": np.int64}


def tensors(specs) -> list[Tensor]:
    """PyTriton tensors from contract specs."""
    return [Tensor(name=t.name, dtype=DTYPES[t.dtype], shape=t.dims, optional=t.optional) for t in specs]


def model_config(spec: ModelSpec) -> ModelConfig:
    return ModelConfig(batching=spec.max_batch_size > 0, max_batch_size=max(spec.max_batch_size, 1),
                       decoupled=spec.decoupled)


def for_pytriton(tensors_: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Byte strings as ``np.bytes_`` arrays: PyTriton's validator cannot check empty object arrays."""
    return {name: a.astype(np.bytes_) if a.dtype == object else a for name, a in tensors_.items()}


class GrpcModels:
    """Calls to the models of the same server over gRPC (asyncio), as BLS calls are in Triton.

    PyTriton may run callables on more than one event loop; an aio client belongs to one.
    """

    def __init__(self, grpc_url: str):
        self.url = grpc_url
        self._clients: dict[int, grpc_aio.InferenceServerClient] = {}

    async def infer(self, spec: ModelSpec, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        loop = id(asyncio.get_running_loop())
        if loop not in self._clients:
            self._clients[loop] = grpc_aio.InferenceServerClient(self.url)
        inputs = []
        for name, array in arrays.items():
            tensor = grpc_aio.InferInput(name, list(array.shape), spec.input(name).wire_dtype)
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        result = await self._clients[loop].infer(spec.name, inputs)
        return {o.name: result.as_numpy(o.name) for o in spec.outputs}

    def embedder(self, spec: ModelSpec):
        """An async ``embed(texts) -> [n, 384]`` through model ``spec`` (``embed`` or ``embed_int8``)."""

        async def embed(texts: list[str]) -> np.ndarray:
            return (await self.infer(spec, {"TEXT": np.array([[t.encode()] for t in texts], dtype=object)}))["EMBEDDING"]

        return embed

    def array(self, spec: ModelSpec):
        """An async ``call(batch) -> output`` for a model of one input and one output tensor."""

        async def call(batch: np.ndarray) -> np.ndarray:
            return (await self.infer(spec, {spec.inputs[0].name: batch}))[spec.outputs[0].name]

        return call

    async def ocr(self, image: bytes, options: dict) -> tuple[list[dict], list[dict]]:
        arrays = {"IMAGE": np.array([image], dtype=object), "OPTIONS": np.array([json.dumps(options).encode()], dtype=object)}
        return parse_ocr_outputs(await self.infer(OCR, arrays))


class IngestModels:
    """The callables; undecorated, so request parameters (forwarded NVCF headers) are visible."""

    def __init__(self, grpc_url: str):
        self.models = GrpcModels(grpc_url)
        self.pipeline = IngestPipeline(artifact(TOKENIZER_FILE), Extractor(workers=1))
        self.decoder = Extractor(workers=1)  # the ocr model's images
        self.engines = engines(self.models.array, OCR_DETECTOR, worker_decoder(self.decoder))
        self.regions = region_reader(self.models.array).read
        self.embedders = {name: self.models.embedder(MODELS[name]) for name in EMBED_MODELS}

    @staticmethod
    def _inputs(request: Request) -> dict:
        return {t.name: request.data.get(t.name) for t in INGEST.inputs}

    async def ingest(self, requests: list[Request]) -> list[dict]:
        async def one(request: Request) -> dict:
            result = await ingest_request(self.pipeline, self._inputs(request), request.parameters or {}, self.embedders,
                                          ocr=self.models.ocr, regions=self.regions)
            return for_pytriton(result.outputs())

        return list(await asyncio.gather(*(one(r) for r in requests)))

    async def ingest_stream(self, requests: list[Request]) -> AsyncIterator[list[dict]]:
        [request] = requests  # batching is off: one request per call
        queue: asyncio.Queue = asyncio.Queue()

        async def on_batch(chunks, embeddings, progress) -> None:
            await queue.put(for_pytriton(stream_batch_outputs(chunks, embeddings, progress)))

        task = asyncio.ensure_future(ingest_request(self.pipeline, self._inputs(request), request.parameters or {},
                                                    self.embedders, on_batch=on_batch, ocr=self.models.ocr,
                                                    regions=self.regions))
        while not (task.done() and queue.empty()):
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield [getter.result()]
            else:
                getter.cancel()
        result = task.result()  # raises the request's error, if any
        yield [for_pytriton(stream_final_outputs(result))]


    async def ocr(self, requests: list[Request]) -> list[dict]:
        async def one(request: Request) -> dict:
            inputs = {t.name: request.data.get(t.name) for t in OCR.inputs}
            return for_pytriton(await ocr_request(self.engines, inputs))

        return list(await asyncio.gather(*(one(r) for r in requests)))


def bind(triton, grpc_url: str) -> IngestModels:
    """Bind ``ingest``, ``ingest_stream`` and ``ocr`` into a started-or-not PyTriton ``Triton``."""
    models = IngestModels(grpc_url)
    for spec, fn in ((INGEST, models.ingest), (INGEST_STREAM, models.ingest_stream), (OCR, models.ocr)):
        triton.bind(spec.name, fn, inputs=tensors(spec.inputs), outputs=tensors(spec.outputs),
                    config=model_config(spec), strict=False)
    return models
