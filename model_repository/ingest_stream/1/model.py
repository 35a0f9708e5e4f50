"""Triton Python model `ingest_stream` (decoupled): `ingest`, one response per embedded batch."""

from triton_ingest import triton_adapter as adapter
from triton_ingest.artifacts import TOKENIZER_FILE, artifact
from triton_ingest.contracts import EMBED, INGEST_STREAM
from triton_ingest.ingest import IngestPipeline, ingest_request, outputs
from triton_ingest.metrics import IngestMetrics


class TritonPythonModel:
    def initialize(self, args):
        self.pipeline = IngestPipeline(artifact(TOKENIZER_FILE))
        self.embed = adapter.bls_embed(EMBED)
        self.metrics = IngestMetrics(args["model_name"], adapter.counter)

    async def execute(self, requests):
        return await adapter.stream_each(requests, INGEST_STREAM, self._stream)

    async def _stream(self, inputs, parameters, is_cancelled, send):
        async def on_batch(chunks, embeddings, progress):
            send(outputs(chunks, embeddings, {"final": False, **progress}))

        result = await ingest_request(self.pipeline, inputs, parameters, self.embed, is_cancelled, on_batch, self.metrics)
        return outputs([], result.embeddings, {"final": True, **result.summary})
