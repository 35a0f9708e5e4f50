"""Triton Python model `ingest_stream` (decoupled): `ingest`, one response per embedded batch."""

from triton_ingest.contracts import INGEST_STREAM
from triton_ingest.pipeline.ingest import ingest_request, stream_batch_outputs, stream_final_outputs
from triton_ingest.serving import triton_adapter as adapter
from triton_ingest.serving.ingest_model import IngestModel


class TritonPythonModel(IngestModel):
    async def execute(self, requests):
        return await adapter.stream_each(requests, INGEST_STREAM, self._stream)

    async def _stream(self, inputs, parameters, is_cancelled, send):
        async def on_batch(chunks, embeddings, progress):
            send(stream_batch_outputs(chunks, embeddings, progress))

        result = await ingest_request(self.pipeline, inputs, parameters, self.embedders, is_cancelled, on_batch, self.metrics,
                                      ocr=self.ocr, regions=self.regions)
        return stream_final_outputs(result)
