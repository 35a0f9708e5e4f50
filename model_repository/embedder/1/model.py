"""Triton Python models `embedder` and `embedder_int8` (config parameter onnx_file): ONNX Runtime."""

from triton_ingest.contracts import EMBEDDER
from triton_ingest.models.artifacts import ONNX_FILE, artifact
from triton_ingest.models.embedding import EmbedderSettings, OnnxEmbedder
from triton_ingest.serving import triton_adapter as adapter


class TritonPythonModel:
    def initialize(self, args):
        params = adapter.model_params(args)
        self.embedder = OnnxEmbedder(artifact(params.get("onnx_file", ONNX_FILE)), EmbedderSettings.from_params(params))

    def execute(self, requests):
        return adapter.execute(requests, EMBEDDER, self._embed)

    def _embed(self, inputs):
        pairs = [(i["INPUT_IDS"], i["ATTENTION_MASK"]) for i in inputs]
        results = self.embedder.embed_requests(pairs)
        return [r if isinstance(r, Exception) else {"EMBEDDING": r} for r in results]
