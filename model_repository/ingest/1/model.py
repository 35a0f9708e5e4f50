"""Triton Python model `ingest`: thin shell over triton_ingest.pipeline.ingest (BLS to `embed(_int8)`, `ocr`, `page_elements`, `table_structure`)."""

from triton_ingest.contracts import INGEST
from triton_ingest.pipeline.ingest import ingest_request
from triton_ingest.serving import triton_adapter as adapter
from triton_ingest.serving.ingest_model import IngestModel


class TritonPythonModel(IngestModel):
    async def execute(self, requests):
        return await adapter.execute_each(requests, INGEST, self._ingest)

    async def _ingest(self, inputs, parameters, is_cancelled):
        result = await ingest_request(self.pipeline, inputs, parameters, self.embedders, is_cancelled, metrics=self.metrics,
                                      ocr=self.ocr, regions=self.regions)
        return result.outputs()
