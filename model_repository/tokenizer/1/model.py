"""Triton Python model `tokenizer`: thin shell over triton_ingest.models.tokenization."""

from triton_ingest.contracts import TOKENIZER
from triton_ingest.models.artifacts import TOKENIZER_FILE, artifact
from triton_ingest.models.tokenization import TextTokenizer, parse_buckets, tokenize_requests
from triton_ingest.serving import triton_adapter as adapter


class TritonPythonModel:
    def initialize(self, args):
        self.tokenizer = TextTokenizer(artifact(TOKENIZER_FILE))
        # gpu target: pad to fixed widths so the TensorRT embedder can batch requests
        self.buckets = parse_buckets(adapter.model_params(args).get("pad_buckets", ""))

    def execute(self, requests):
        return adapter.execute(requests, TOKENIZER, self._tokenize)

    def _tokenize(self, inputs):
        return tokenize_requests(self.tokenizer, [i["TEXT"] for i in inputs], self.buckets)
