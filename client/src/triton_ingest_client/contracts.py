"""The tensor contract of every model: names, dtypes, shapes, batching.

This module is the single source of truth. ``model_repository/*/config.pbtxt``
is checked against it by ``tests/test_contracts.py``; the launcher, demo,
benchmarks and (later) the client and PyTriton bindings import it.
Dims exclude the batch dimension when ``max_batch_size > 0``, as in Triton.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

EMBEDDING_DIM = 384
"""Width of an all-MiniLM-L6-v2 sentence embedding."""

EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
"""The sentence model behind ``embed`` (and, quantised, ``embed_int8``)."""

CHUNK_DEFAULTS = {"chunk_size": 254, "chunk_overlap": 32, "text_depth": "page"}
"""``ingest``'s chunking when OPTIONS does not say: 254 content tokens ([CLS] and [SEP] make
256), 32 shared by neighbours, chunks never crossing pages."""

MAX_SEQ_LENGTH = 256
"""sentence-transformers' ``max_seq_length`` for all-MiniLM-L6-v2 (tokens, specials included)."""

MAX_POSITIONS = 512
"""BERT position-embedding table size: the longest sequence the embedder accepts."""

VOCAB_SIZE = 30522
"""Token ids the embedder accepts are in ``[0, VOCAB_SIZE)``."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor, in Triton's terms."""

    name: str
    dtype: str  # Triton config dtype without the TYPE_ prefix: "STRING", "FP32", "INT64"
    dims: tuple[int, ...]
    optional: bool = False
    ragged: bool = False  # allow_ragged_batch: requests of different shapes batch together

    @property
    def wire_dtype(self) -> str:
        """The dtype name used on the KServe v2 wire (and by tritonclient)."""
        return "BYTES" if self.dtype == "STRING" else self.dtype


@dataclass(frozen=True)
class ModelSpec:
    """A model's name, batching and tensors."""

    name: str
    max_batch_size: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...] = field(default_factory=tuple)
    decoupled: bool = False  # any number of responses per request (gRPC streaming)

    def input(self, name: str) -> TensorSpec:
        return next(t for t in self.inputs if t.name == name)

    def output(self, name: str) -> TensorSpec:
        return next(t for t in self.outputs if t.name == name)


TOKENIZER = ModelSpec(
    name="tokenizer",
    max_batch_size=64,
    inputs=(TensorSpec("TEXT", "STRING", (1,)),),
    outputs=(
        TensorSpec("INPUT_IDS", "INT64", (-1,)),
        TensorSpec("ATTENTION_MASK", "INT64", (-1,)),
    ),
)

EMBEDDER = ModelSpec(
    name="embedder",
    max_batch_size=128,
    inputs=(
        TensorSpec("INPUT_IDS", "INT64", (-1,), ragged=True),
        TensorSpec("ATTENTION_MASK", "INT64", (-1,), ragged=True),
    ),
    outputs=(TensorSpec("EMBEDDING", "FP32", (EMBEDDING_DIM,)),),
)

EMBED = ModelSpec(
    name="embed",
    max_batch_size=64,
    inputs=(TensorSpec("TEXT", "STRING", (1,)),),
    outputs=(TensorSpec("EMBEDDING", "FP32", (EMBEDDING_DIM,)),),
)

EMBEDDER_INT8 = replace(EMBEDDER, name="embedder_int8")
EMBED_INT8 = replace(EMBED, name="embed_int8")
"""``embed`` with the int8 embedder (dynamic quantisation, per-channel MatMul weights)."""

INGEST = ModelSpec(
    name="ingest",
    max_batch_size=0,
    inputs=(
        TensorSpec("DOCUMENT", "STRING", (1,)),
        TensorSpec("FILENAME", "STRING", (1,), optional=True),
        TensorSpec("OPTIONS", "STRING", (1,), optional=True),
    ),
    outputs=(
        TensorSpec("CHUNKS", "STRING", (-1,)),
        TensorSpec("EMBEDDINGS", "FP32", (-1, EMBEDDING_DIM)),
        TensorSpec("SUMMARY", "STRING", (1,)),
    ),
)

INGEST_STREAM = replace(INGEST, name="ingest_stream", decoupled=True)
"""``ingest`` as a gRPC stream: one response per embedded batch (CHUNKS, EMBEDDINGS and a
progress SUMMARY), then a final response with no chunks and the full SUMMARY."""

OCR_REC_HEIGHT = 48
"""Height, in pixels, of the text-line crops the OCR recognizer reads."""

OCR_DETECTOR = ModelSpec(
    name="ocr_detector",
    max_batch_size=4,
    inputs=(TensorSpec("IMAGE", "FP32", (3, -1, -1)),),  # a page: BGR, normalised, sides multiples of 32
    outputs=(TensorSpec("PROBABILITY", "FP32", (1, -1, -1)),),  # text probability per pixel
)

OCR_RECOGNIZER = ModelSpec(
    name="ocr_recognizer",
    max_batch_size=64,
    inputs=(TensorSpec("CROPS", "FP32", (3, OCR_REC_HEIGHT, -1)),),  # text lines padded to a bucket width
    outputs=(TensorSpec("PROBABILITIES", "FP32", (-1, -1)),),  # [time steps, classes] for CTC
)
OCR_RECOGNIZER_CH = replace(OCR_RECOGNIZER, name="ocr_recognizer_ch")
"""The recognizer for Chinese (and English) text, 6,625 classes instead of 97."""

PAGE_ELEMENTS = ModelSpec(
    name="page_elements",
    max_batch_size=4,
    inputs=(TensorSpec("IMAGE", "FP32", (3, 800, 608)),),  # a page: BGR, stretched to 608x800, ImageNet-normalised
    outputs=(TensorSpec("PREDICTIONS", "FP32", (10105, 42)),),  # per anchor: 10 class scores, 4x8 box bins
)
PAGE_ELEMENT_LABELS = ("text", "title", "figure", "figure_caption", "table", "table_caption", "header", "footer",
                       "reference", "equation")
"""The classes of ``page_elements``, in the order of its scores (CDLA's)."""

TABLE_STRUCTURE = ModelSpec(
    name="table_structure",
    max_batch_size=4,
    inputs=(TensorSpec("IMAGE", "FP32", (3, 488, 488)),),  # a table crop: BGR, longer side 488, padded
    outputs=(TensorSpec("PREDICTIONS", "FP32", (-1, 58)),),  # per step: cell polygon (8), token probabilities (50)
)

OCR = ModelSpec(
    name="ocr",
    max_batch_size=0,
    inputs=(
        TensorSpec("IMAGE", "STRING", (1,)),  # an encoded image: PNG, JPEG, TIFF (first frame), WebP
        TensorSpec("OPTIONS", "STRING", (1,), optional=True),  # JSON: language, max_pixels, tables
    ),
    outputs=(
        TensorSpec("LINES", "STRING", (-1,)),  # JSON each: text, score, box (4 corners), reading order
        TensorSpec("SUMMARY", "STRING", (1,)),  # JSON: width, height, lines, text, timings
        TensorSpec("ELEMENTS", "STRING", (-1,)),  # JSON each: a table or figure found (OPTIONS.tables "auto")
    ),
)

MODELS: dict[str, ModelSpec] = {
    m.name: m for m in (TOKENIZER, EMBEDDER, EMBED, EMBEDDER_INT8, EMBED_INT8, INGEST, INGEST_STREAM,
                        OCR_DETECTOR, OCR_RECOGNIZER, OCR_RECOGNIZER_CH, PAGE_ELEMENTS, TABLE_STRUCTURE, OCR)
}
"""Every model in ``model_repository/``, by name."""

EMBED_MODELS = (EMBED.name, EMBED_INT8.name)
"""The models that embed text alike ([n,1] TEXT -> [n,384] EMBEDDING): ingest's ``embed_model``
chooses one, and an index records which one made its vectors."""
