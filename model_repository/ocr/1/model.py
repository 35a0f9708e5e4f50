"""Triton Python model `ocr`: thin shell over triton_ingest.pipeline.ocr (BLS to the detector and
the recognizers)."""

from triton_ingest.contracts import OCR, OCR_DETECTOR
from triton_ingest.pipeline.ocr import engines, ocr_request
from triton_ingest.serving import triton_adapter as adapter


class TritonPythonModel:
    def initialize(self, args):
        self.engines = engines(adapter.bls_array, OCR_DETECTOR)

    async def execute(self, requests):
        return await adapter.execute_each(requests, OCR, self._ocr)

    async def _ocr(self, inputs, parameters, is_cancelled):
        return await ocr_request(self.engines, inputs)
