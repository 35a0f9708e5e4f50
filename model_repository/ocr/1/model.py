"""Triton Python model `ocr`: thin shell over triton_ingest.pipeline.ocr (BLS to the detector and
the recognizers)."""

from triton_ingest.contracts import OCR, OCR_DETECTOR
from triton_ingest.pipeline.extraction import Extractor
from triton_ingest.pipeline.ocr import engines, ocr_request, worker_decoder
from triton_ingest.serving import triton_adapter as adapter


class TritonPythonModel:
    def initialize(self, args):
        self.decoder = Extractor(workers=int(adapter.model_params(args).get("decode_workers", "1")))
        self.engines = engines(adapter.bls_array, OCR_DETECTOR, worker_decoder(self.decoder))

    def finalize(self):
        self.decoder.close()

    async def execute(self, requests):
        return await adapter.execute_each(requests, OCR, self._ocr)

    async def _ocr(self, inputs, parameters, is_cancelled):
        return await ocr_request(self.engines, inputs)
