"""The shared set-up of the `ingest` and `ingest_stream` Python models (BLS to `embed`)."""

from __future__ import annotations

from typing import Any

from ..contracts import EMBED
from ..models.artifacts import TOKENIZER_FILE, artifact
from ..pipeline.ingest import IngestPipeline
from ..pipeline.metrics import IngestMetrics
from . import triton_adapter as adapter


class IngestModel:
    """Base of both models' ``TritonPythonModel``: pipeline, BLS embed and metrics, loaded once."""

    def initialize(self, args: dict[str, Any]) -> None:
        self.pipeline = IngestPipeline(artifact(TOKENIZER_FILE))
        self.embed = adapter.bls_embed(EMBED)
        self.metrics = IngestMetrics(args["model_name"], adapter.counter)
