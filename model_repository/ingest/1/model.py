"""Triton Python model `ingest`: thin shell over triton_ingest.ingest (BLS to `embed`)."""

from triton_ingest import triton_adapter as adapter
from triton_ingest.artifacts import TOKENIZER_FILE, artifact
from triton_ingest.contracts import EMBED, INGEST
from triton_ingest.ingest import IngestPipeline, ingest_request
from triton_ingest.metrics import IngestMetrics


class TritonPythonModel:
    def initialize(self, args):
        self.pipeline = IngestPipeline(artifact(TOKENIZER_FILE))
        self.embed = adapter.bls_embed(EMBED)
        self.metrics = IngestMetrics(args["model_name"], adapter.counter)

    async def execute(self, requests):
        return await adapter.execute_each(requests, INGEST, self._ingest)

    async def _ingest(self, inputs, parameters, is_cancelled):
        result = await ingest_request(self.pipeline, inputs, parameters, self.embed, is_cancelled, metrics=self.metrics)
        return result.outputs()
