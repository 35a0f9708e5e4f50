"""The shared set-up of the `ingest` and `ingest_stream` Python models (BLS to `embed`)."""

from __future__ import annotations

from typing import Any

from ..contracts import MODELS
from ..models.artifacts import TOKENIZER_FILE, artifact
from ..pipeline.ingest import IngestPipeline
from ..pipeline.metrics import IngestMetrics
from . import triton_adapter as adapter
from .repository import bls_calls


class IngestModel:
    """Base of both models' ``TritonPythonModel``: pipeline, BLS embed and metrics, loaded once.

    Chunks are embedded by the first model the config's ``bls_calls`` parameter names (``embed``)."""

    def initialize(self, args: dict[str, Any]) -> None:
        embed_model = bls_calls(adapter.model_params(args))[0]
        self.pipeline = IngestPipeline(artifact(TOKENIZER_FILE))
        self.embed = adapter.bls_embed(MODELS[embed_model])
        self.metrics = IngestMetrics(args["model_name"], adapter.counter)
