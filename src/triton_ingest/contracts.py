"""Tensor contracts: defined once, in the client package (the protocol is its public API).

Re-exported here so server code reads ``triton_ingest.contracts``.
"""

from triton_ingest_client.contracts import *  # noqa: F401,F403
from triton_ingest_client.contracts import (  # noqa: F401
    EMBED,
    EMBEDDER,
    EMBEDDING_DIM,
    EMBED_INT8,
    EMBEDDER_INT8,
    INGEST,
    INGEST_STREAM,
    MAX_POSITIONS,
    MAX_SEQ_LENGTH,
    MODELS,
    TOKENIZER,
    VOCAB_SIZE,
    ModelSpec,
    TensorSpec,
)
