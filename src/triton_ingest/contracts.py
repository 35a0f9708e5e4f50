"""Tensor contracts: defined once, in the client package (the protocol is its public API).

Re-exported here so server code reads ``triton_ingest.contracts``.
"""

from triton_ingest_client.contracts import (  # noqa: F401
    CHUNK_DEFAULTS,
    EMBED,
    EMBED_INT8,
    EMBED_MODELS,
    EMBEDDER,
    EMBEDDER_INT8,
    EMBEDDING_DIM,
    EMBEDDING_MODEL,
    INGEST,
    INGEST_STREAM,
    MAX_POSITIONS,
    MAX_SEQ_LENGTH,
    MODELS,
    OCR,
    OCR_DETECTOR,
    OCR_REC_HEIGHT,
    OCR_RECOGNIZER,
    OCR_RECOGNIZER_CH,
    PAGE_ELEMENT_LABELS,
    PAGE_ELEMENTS,
    TABLE_STRUCTURE,
    TOKENIZER,
    VOCAB_SIZE,
    ModelSpec,
    TensorSpec,
)
