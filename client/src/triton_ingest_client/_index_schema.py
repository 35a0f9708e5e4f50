"""The index's collection schema, its recorded profile and its search hits (no I/O here).

One row per chunk:

| field        | type                      | holds                                                |
|--------------|---------------------------|------------------------------------------------------|
| id           | VARCHAR(128), primary key | ``document_id:source_key:chunk_index``               |
| vector       | FLOAT_VECTOR(384), COSINE | the chunk's embedding                                |
| text         | VARCHAR(65535), analysed  | the chunk's text (cut at 65,535 bytes)               |
| sparse       | SPARSE_FLOAT_VECTOR, BM25 | made by Milvus from ``text`` (a BM25 function)       |
| source       | VARCHAR(1024)             | the file name given at ingest time                   |
| pages        | ARRAY<INT64>              | 1-based pages the chunk comes from                   |
| chunk_index  | INT64                     | position in the document                             |
| char_start, char_end | INT64             | character offsets (page text, or document text)      |
| document_id  | VARCHAR(64)               | SHA-256 of the document's bytes                      |
| method       | VARCHAR(16)               | ``text`` (text layer) or ``ocr``                     |
| ingested_at  | INT64                     | when its write started: ms since the epoch (UTC)     |
| content_type | VARCHAR(16)               | ``text`` or ``table``                                |
| section      | ARRAY<VARCHAR(1024)>      | the headings above the chunk, outermost first (≤ 6)  |

``content_type`` and ``section`` (:data:`STRUCTURE_FIELDS`) are in collections made since
document structure came; older collections are written and searched without them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Mapping

import numpy as np

from .contracts import CHUNK_DEFAULTS, EMBEDDING_MODEL

PROFILE_PROPERTY = "triton_ingest.profile"
PROBE_TEXT = "triton-ingest probe: which model made these vectors? The quick brown fox jumps over the lazy dog."
PROBE_MIN_COSINE = 0.95
"""The same model on other hardware or precision (TensorRT FP16, int8) stays far above this; another
model, even of the same width, falls far below."""
MAX_TEXT_BYTES, MAX_SOURCE_BYTES, MAX_PAGES_PER_CHUNK = 65_535, 1024, 4096
MAX_TOP_K = 1000
OUTPUT_FIELDS = ["text", "source", "pages", "chunk_index", "char_start", "char_end", "document_id", "method"]
STRUCTURE_FIELDS = ("content_type", "section")
MAX_SECTION_DEPTH, MAX_TITLE_BYTES = 6, 1024
CHUNKING = tuple(CHUNK_DEFAULTS)
STOP_WORDS = sorted(set(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with what which who whom whose how when where why do does did can could should would may "
    "might must i me my we our you your he she his her its them from have has had been being am were so than too "
    "very about".split()))
"""Lucene's English stop words and the words questions are made of: BM25 matches what is left."""
ANALYZER = {"tokenizer": "standard", "filter": ["lowercase", {"type": "stop", "stop_words": STOP_WORDS}]}
"""The BM25 analyzer, in a form Milvus servers and Milvus Lite both build."""


def literal(value: str) -> str:
    """``value`` as a string literal in a Milvus filter expression (quotes, backslashes and
    newlines escaped; other characters kept as they are)."""
    return json.dumps(value, ensure_ascii=False)


def source_key(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class IndexProfile:
    """What made a collection's vectors and chunks; recorded in the collection's properties."""

    model: str
    dim: int
    probe: tuple[float, ...] = field(repr=False)  # the model's embedding of PROBE_TEXT
    chunk_size: int = CHUNK_DEFAULTS["chunk_size"]
    chunk_overlap: int = CHUNK_DEFAULTS["chunk_overlap"]
    text_depth: str = CHUNK_DEFAULTS["text_depth"]
    embedding_model: str = EMBEDDING_MODEL

    @classmethod
    def served(cls, model: str, probe: np.ndarray, options: Mapping | None = None) -> "IndexProfile":
        """The profile of ingesting (or searching) through ``model`` with ingest ``options``."""
        chunking = {key: (options or {}).get(key, default) for key, default in CHUNK_DEFAULTS.items()}
        return cls(model, int(len(probe)), tuple(float(x) for x in probe), **chunking)

    def properties(self) -> dict[str, str]:
        probe = base64.b64encode(np.asarray(self.probe, np.float16).tobytes()).decode()
        return {PROFILE_PROPERTY: json.dumps({**self.public(), "probe": probe})}

    @classmethod
    def from_properties(cls, properties: Mapping[str, str]) -> "IndexProfile | None":
        if PROFILE_PROPERTY not in properties:
            return None
        recorded = json.loads(properties[PROFILE_PROPERTY])
        probe = np.frombuffer(base64.b64decode(recorded.pop("probe")), np.float16).astype(np.float32)
        return cls(probe=tuple(float(x) for x in probe), **recorded)

    def public(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "probe"}

    def describe(self) -> str:
        return f"model {self.model!r} ({self.embedding_model}, {self.dim}-d)"

    def same_model(self, served: "IndexProfile") -> str | None:
        """None if ``served`` embeds as this profile's model did; otherwise what differs."""
        if served.dim != self.dim:
            return f"this server's {served.model!r} gives {served.dim}-d vectors"
        if served.model != self.model:
            return f"this request embeds with {served.model!r}, and vectors of two models never mix"
        a, b = np.asarray(self.probe), np.asarray(served.probe)
        cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0))
        if cosine < PROBE_MIN_COSINE:
            return f"this server's {served.model!r} embeds differently (probe cosine {cosine:.3f} < {PROBE_MIN_COSINE})"
        return None

    def chunking_differs(self, served: "IndexProfile") -> str:
        """'' if ``served`` chunks the same way; otherwise both settings, for an error message."""
        ours, theirs = ({k: getattr(p, k) for k in CHUNKING} for p in (self, served))
        if ours == theirs:
            return ""
        return f"{_settings(ours)}, not {_settings(theirs)}"


def _settings(values: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())


@dataclass(frozen=True)
class SearchHit:
    """One search result: its score (cosine, or the RRF score with ``hybrid``), text and provenance."""

    score: float
    text: str
    source: str
    pages: list[int]
    chunk_index: int
    document_id: str
    method: str = "text"
    char_start: int = 0
    char_end: int = 0
    content_type: str = "text"  # "table": a table's Markdown (collections made before it: always "text")
    section: list[str] = field(default_factory=list)

    @classmethod
    def from_milvus(cls, hit: Mapping) -> "SearchHit":
        entity = hit["entity"]
        found = {name: entity[name] for name in OUTPUT_FIELDS}
        found.update({name: entity[name] for name in STRUCTURE_FIELDS if entity.get(name) is not None})
        return cls(float(hit["distance"]), **{**found, "section": list(found.get("section", []))})

    def to_json(self) -> dict:
        return {**asdict(self), "pages": list(self.pages)}


def create_collection(milvus, name: str, profile: IndexProfile) -> None:
    """Create collection ``name`` for chunks embedded as ``profile`` says (schema: module docstring)."""
    from pymilvus import DataType, Function, FunctionType

    schema = milvus.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=128)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=profile.dim)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True,
                     analyzer_params=ANALYZER)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("source", DataType.VARCHAR, max_length=MAX_SOURCE_BYTES)
    schema.add_field("pages", DataType.ARRAY, element_type=DataType.INT64, max_capacity=MAX_PAGES_PER_CHUNK)
    for number in ("chunk_index", "char_start", "char_end", "ingested_at"):
        schema.add_field(number, DataType.INT64)
    schema.add_field("document_id", DataType.VARCHAR, max_length=64)
    schema.add_field("method", DataType.VARCHAR, max_length=16)
    if "content_type" in STRUCTURE_FIELDS:  # a module constant, so tests can make a collection of before
        schema.add_field("content_type", DataType.VARCHAR, max_length=16)
        schema.add_field("section", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=MAX_SECTION_DEPTH,
                         max_length=MAX_TITLE_BYTES)
    schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=["sparse"]))
    indexes = milvus.prepare_index_params()
    indexes.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
    indexes.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    milvus.create_collection(name, schema=schema, index_params=indexes, consistency_level="Strong",
                             properties=profile.properties())
