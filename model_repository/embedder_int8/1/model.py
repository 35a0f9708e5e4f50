"""Triton Python models `embedder` (fp32) and `embedder_int8` (config parameter precision: int8, the
variant chosen for this CPU, logged and shown on the metrics port): ONNX Runtime."""

from triton_ingest.contracts import EMBEDDER
from triton_ingest.models.embedding import load_embedder
from triton_ingest.serving import triton_adapter as adapter


class TritonPythonModel:
    def initialize(self, args):
        self.embedder = load_embedder(adapter.model_params(args), self._announce)

    @staticmethod
    def _announce(choice):
        adapter.log_info(choice.line())
        adapter.info("triton_ingest_int8_variant", "The int8 variant this CPU serves (variant none: embed_int8 is "
                     "not served here)", {"variant": choice.variant or "none", "cpu": choice.cpu})

    def execute(self, requests):
        return adapter.execute(requests, EMBEDDER, self._embed)

    def _embed(self, inputs):
        pairs = [(i["INPUT_IDS"], i["ATTENTION_MASK"]) for i in inputs]
        results = self.embedder.embed_requests(pairs)
        return [r if isinstance(r, Exception) else {"EMBEDDING": r} for r in results]
