"""``OPTIONS`` of the ``ingest`` model: a JSON object; unknown keys are errors.

| key             | default   | meaning                                                    |
|-----------------|-----------|------------------------------------------------------------|
| chunk_size      | 254       | content tokens per chunk, 1..254 ([CLS]+[SEP] make 256)     |
| chunk_overlap   | 32        | tokens shared by consecutive chunks, 0..chunk_size-1        |
| text_depth      | "page"    | "page": chunks never cross pages; "document": they may     |
| max_pages       | 5000      | documents with more pages are rejected                     |
| max_bytes       | 104857600 | documents larger than this are rejected (100 MiB)          |
| max_unzipped_bytes | 268435456 | DOCX/PPTX parts may expand to this much (256 MiB); a   |
|                 |           | larger total (a decompression bomb) is rejected            |
| time_limit_s    | 600       | a document still not done after this many seconds fails    |
|                 |           | with INVALID_ARG (extraction workers are killed then;      |
|                 |           | OCR and embedding stop at their next page or batch)        |
| embed_batch     | 16        | chunks per BLS call to ``embed``                           |
| max_in_flight   | 8         | BLS calls in flight at once per document                   |
| asset           | ""        | read the document from NVCF-ASSET-DIR/<asset> (NVCF inputs |
|                 |           | over 5 MB) instead of DOCUMENT                             |
| extract_method  | "hybrid"  | "hybrid": OCR the pages with no usable text layer (and     |
|                 |           | images); "pdfium": text layers only; "ocr": OCR every page |
| ocr_language    | "en"      | "en" (Latin script) or "ch" (Chinese and English) recognizer |
| ocr_dpi         | 150       | resolution PDF pages are rendered at for OCR, 72..300      |
| max_pixels      | 40000000  | larger images are rejected; PDF pages rendered for OCR are |
|                 |           | scaled down to fit                                         |
| embed_model     | "embed"   | the model that embeds the chunks: "embed" (fp32) or        |
|                 |           | "embed_int8"; chunks, summary and progress record it       |
| first_page      | 1         | extract pages first_page..last_page only (1-based, both    |
| last_page       | 0         | included; 0: to the end). Chunks keep their page numbers;  |
|                 |           | progress and ``summary["pages"]`` count the range's pages   |
| tables          | "auto"    | "auto": ruled tables in PDF text layers, and tables and    |
|                 |           | figures the page_elements model finds on OCR'd pages,      |
|                 |           | become table and figure chunks; "models": also look for    |
|                 |           | tables without rules on text-layer PDF pages with the      |
|                 |           | models (a rendering and ~0.2 s a page on CPU); "off":      |
|                 |           | their text is read as lines (faster)                       |

Operator ceilings: the keys in :data:`CEILINGS` can only be lowered by a client. The operator sets
each with ``TRITON_INGEST_CEILING_<KEY>`` (``TRITON_INGEST_CEILING_MAX_PIXELS=10000000``), within the
key's hard range; a client value over it is INVALID_ARG naming the ceiling, and a default over it
becomes the ceiling. Unset, the ceiling is the default (the tuning keys: see :data:`CEILINGS`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace

from ..contracts import CHUNK_DEFAULTS, EMBED_MODELS, MAX_SEQ_LENGTH
from ..errors import InvalidInputError
from .documents import METHODS, ExtractSettings

OCR_LANGUAGES = ("en", "ch")
TABLE_MODES = ("auto", "models", "off")
OCR_TABLE_MODES = ("auto", "off")

MAX_CHUNK_TOKENS = MAX_SEQ_LENGTH - 2


class OptionsError(InvalidInputError):
    """``OPTIONS`` is malformed."""

    reason = "bad_options"

LIMITS = {
    "chunk_size": (1, MAX_CHUNK_TOKENS),
    "chunk_overlap": (0, MAX_CHUNK_TOKENS - 1),
    "max_pages": (1, 100_000),
    "max_bytes": (1, 1 << 30),
    "max_unzipped_bytes": (1, 4 << 30),
    "time_limit_s": (1, 86_400),
    "embed_batch": (1, 64),
    "max_in_flight": (1, 64),
    "ocr_dpi": (72, 300),
    "max_pixels": (1, 500_000_000),
    "first_page": (1, 100_000),
    "last_page": (0, 100_000),
}
CEILINGS = {"max_pages": 5000, "max_bytes": 100 * 1024 * 1024, "max_unzipped_bytes": 256 * 1024 * 1024,
            "time_limit_s": 600, "max_pixels": 40_000_000, "ocr_dpi": 300, "embed_batch": 64, "max_in_flight": 16}
"""The keys an operator caps, and their ceilings when the operator sets none."""
CEILING_ENV = "TRITON_INGEST_CEILING_{}"


def ceilings(env: dict | None = None) -> dict[str, int]:
    """The ceilings in force: ``TRITON_INGEST_CEILING_<KEY>`` where set, else :data:`CEILINGS`.
    A value that is not an integer in the key's hard range is a ValueError (a configuration error)."""
    env = os.environ if env is None else env
    found = {}
    for key, default in CEILINGS.items():
        name = CEILING_ENV.format(key.upper())
        raw = env.get(name, "").strip()
        low, high = LIMITS[key]
        if raw and not (raw.isdigit() and low <= int(raw) <= high):
            raise ValueError(f"{name} must be an integer in [{low}, {high}], got {raw!r}")
        found[key] = int(raw) if raw else default
    return found


def capped(options, given: dict, caps: dict[str, int]):
    """``options`` with defaults over a ceiling lowered to it; a value the client gave over its
    ceiling is an OptionsError."""
    lowered = {}
    for key, cap in caps.items():
        if not hasattr(options, key) or getattr(options, key) <= cap:
            continue
        if key in given:
            raise OptionsError(f"OPTIONS.{key} is {given[key]}; this server allows at most {cap} "
                               f"(the operator's ceiling, {CEILING_ENV.format(key.upper())})")
        lowered[key] = cap
    return replace(options, **lowered) if lowered else options


CHOICES = {
    "text_depth": ("page", "document"),
    "extract_method": METHODS,
    "ocr_language": OCR_LANGUAGES,
    "embed_model": EMBED_MODELS,
    "tables": TABLE_MODES,
}


def parse_options(cls, raw: bytes | str | None, limits: dict, choices: dict):
    """``cls`` (a frozen dataclass) from JSON ``raw``; every problem is an OptionsError naming the key.
    ``limits``: integer keys and their inclusive ranges; ``choices``: string keys and their values."""
    if raw is None or (isinstance(raw, (bytes, str)) and not raw.strip()):
        return capped(cls(), {}, ceilings())
    try:
        given = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OptionsError(f"OPTIONS is not valid JSON ({exc})") from None
    if not isinstance(given, dict):
        raise OptionsError("OPTIONS must be a JSON object")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise OptionsError(f"OPTIONS has unknown key(s) {unknown}; known keys are {sorted(known)}")
    for key, (low, high) in limits.items():
        value = given.get(key, getattr(cls, key))
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise OptionsError(f"OPTIONS.{key} must be an integer in [{low}, {high}], got {value!r}")
    for key, allowed in choices.items():
        if given.get(key, getattr(cls, key)) not in allowed:
            names = " or ".join(f'"{a}"' for a in allowed)
            raise OptionsError(f"OPTIONS.{key} must be {names}, got {given[key]!r}")
    return capped(cls(**given), given, ceilings())


@dataclass(frozen=True)
class IngestOptions:
    chunk_size: int = CHUNK_DEFAULTS["chunk_size"]
    chunk_overlap: int = CHUNK_DEFAULTS["chunk_overlap"]
    text_depth: str = CHUNK_DEFAULTS["text_depth"]
    max_pages: int = 5000
    max_bytes: int = 100 * 1024 * 1024
    max_unzipped_bytes: int = 256 * 1024 * 1024
    time_limit_s: int = 600
    embed_batch: int = 16
    max_in_flight: int = 8
    asset: str = ""
    extract_method: str = "hybrid"
    ocr_language: str = "en"
    ocr_dpi: int = 150
    max_pixels: int = 40_000_000
    embed_model: str = EMBED_MODELS[0]
    first_page: int = 1
    last_page: int = 0
    tables: str = "auto"

    @classmethod
    def parse(cls, raw: bytes | str | None) -> "IngestOptions":
        """Parse and validate ``OPTIONS``; every problem is an InvalidInputError naming the key."""
        options = parse_options(cls, raw, LIMITS, CHOICES)
        if not isinstance(options.asset, str):
            raise OptionsError(f"OPTIONS.asset must be a string, got {options.asset!r}")
        if options.chunk_overlap >= options.chunk_size:
            raise OptionsError("OPTIONS.chunk_overlap must be smaller than OPTIONS.chunk_size")
        if options.last_page and options.last_page < options.first_page:
            raise OptionsError(f"OPTIONS.last_page ({options.last_page}) is before OPTIONS.first_page "
                               f"({options.first_page})")
        return options

    def page_span(self, page_count: int) -> tuple[int, int]:
        """The pages to extract, ``[first, last)`` 0-based, in a document of ``page_count`` pages."""
        if self.first_page > max(page_count, 1):
            raise OptionsError(f"OPTIONS.first_page is {self.first_page}; DOCUMENT has {page_count} pages")
        last = min(self.last_page, page_count) if self.last_page else page_count
        return self.first_page - 1, last

    def as_dict(self) -> dict:
        return asdict(self)

    def extract_settings(self) -> ExtractSettings:
        return ExtractSettings(self.max_pages, self.max_unzipped_bytes, self.max_pixels, self.extract_method,
                               self.ocr_dpi, self.tables)


@dataclass(frozen=True)
class OcrOptions:
    """``OPTIONS`` of the ``ocr`` model (the same keys as ingest's ``ocr_language`` and ``max_pixels``)."""

    language: str = "en"
    max_pixels: int = 40_000_000
    tables: str = "off"  # "auto": also find tables and figures (ELEMENTS); ingest sends its own value

    @classmethod
    def parse(cls, raw: bytes | str | None) -> "OcrOptions":
        return parse_options(cls, raw, {"max_pixels": LIMITS["max_pixels"]},
                             {"language": OCR_LANGUAGES, "tables": OCR_TABLE_MODES})
