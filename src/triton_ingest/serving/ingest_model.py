"""The shared set-up of the `ingest` and `ingest_stream` Python models (BLS to `embed`, `ocr` and
the page-element models)."""

from __future__ import annotations

from typing import Any

from ..contracts import EMBED_MODELS, MODELS, OCR, PAGE_ELEMENTS, TABLE_STRUCTURE
from ..models.artifacts import TOKENIZER_FILE, artifact
from ..pipeline.extraction import Extractor
from ..pipeline.ingest import IngestPipeline
from ..pipeline.metrics import IngestMetrics
from ..pipeline.regions import region_reader
from . import triton_adapter as adapter
from .repository import bls_calls


class IngestModel:
    """Base of both models' ``TritonPythonModel``: pipeline, BLS calls and metrics, loaded once.

    Chunks are embedded by the embedding models the config's ``bls_calls`` parameter names
    (``embed``, ``embed_int8``: OPTIONS.embed_model picks one); page images go to ``ocr``, and
    rendered text-layer pages (``tables: "models"``) to ``page_elements`` and ``table_structure``,
    when they are named too. ``extract_workers`` worker processes extract."""

    def initialize(self, args: dict[str, Any]) -> None:
        params = adapter.model_params(args)
        calls = bls_calls(params)
        self.extractor = Extractor(workers=int(params.get("extract_workers", "1")))
        self.pipeline = IngestPipeline(artifact(TOKENIZER_FILE), self.extractor)
        self.embedders = {name: adapter.bls_embed(MODELS[name]) for name in calls if name in EMBED_MODELS}
        self.ocr = adapter.bls_ocr(OCR) if OCR.name in calls else None
        served = {PAGE_ELEMENTS.name, TABLE_STRUCTURE.name} <= set(calls)
        self.regions = region_reader(adapter.bls_array).read if served else None
        self.metrics = IngestMetrics(args["model_name"], adapter.counter)

    def finalize(self) -> None:
        self.extractor.close()
