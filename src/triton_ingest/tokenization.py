"""Text -> token ids with the model's own HF ``tokenizers`` (Rust) tokenizer.

Policy, documented in the README:
- texts must be valid UTF-8; anything else is rejected (INVALID_ARG), never
  silently repaired;
- texts are truncated to ``MAX_SEQ_LENGTH`` tokens (specials included), exactly
  like sentence-transformers; so a 1 MB string is accepted and truncated;
- the empty string is valid and embeds ``[CLS] [SEP]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from tokenizers import Tokenizer

from .contracts import MAX_SEQ_LENGTH
from .errors import InvalidInputError

MAX_TEXT_BYTES = 4 * 1024 * 1024
"""Texts longer than this are rejected before tokenization (4 MiB)."""


def decode_texts(raw: np.ndarray, tensor: str = "TEXT") -> list[str]:
    """Decode a Triton BYTES tensor of shape ``[n]`` or ``[n, 1]`` into strings."""
    flat = np.asarray(raw, dtype=object).reshape(-1)
    if flat.size == 0:
        raise InvalidInputError(f"{tensor} is an empty batch: send at least one text")
    texts = []
    for i, item in enumerate(flat):
        data = item if isinstance(item, bytes) else str(item).encode()
        if len(data) > MAX_TEXT_BYTES:
            raise InvalidInputError(
                f"{tensor}[{i}] is {len(data)} bytes; the limit is {MAX_TEXT_BYTES}"
            )
        try:
            texts.append(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"{tensor}[{i}] is not valid UTF-8 (byte {exc.start}); send UTF-8 text"
            ) from None
    return texts


class TextTokenizer:
    """Truncating, padding wrapper around a ``tokenizer.json``."""

    def __init__(self, tokenizer_json: Path | str, max_length: int = MAX_SEQ_LENGTH):
        self._tok = Tokenizer.from_file(str(tokenizer_json))
        self._tok.no_padding()
        self._tok.enable_truncation(max_length=max_length)
        self.max_length = max_length

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask, int64 ``[n, L]``, padded with 0 to the longest."""
        encodings = self._tok.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        return ids, mask

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text after truncation, specials included."""
        return [len(e.ids) for e in self._tok.encode_batch(list(texts))]


def tokenize_requests(
    tokenizer: TextTokenizer, texts_per_request: Sequence[np.ndarray]
) -> list[dict[str, np.ndarray] | Exception]:
    """Tokenize many requests in one Rust call; a bad request fails alone.

    Each request's outputs are padded only to that request's longest text.
    """
    decoded: list[list[str] | Exception] = []
    for raw in texts_per_request:
        try:
            decoded.append(decode_texts(raw))
        except InvalidInputError as exc:
            decoded.append(exc)
    good = [t for texts in decoded if not isinstance(texts, Exception) for t in texts]
    if good:
        ids, mask = tokenizer.encode(good)
    results: list[dict[str, np.ndarray] | Exception] = []
    row = 0
    for texts in decoded:
        if isinstance(texts, Exception):
            results.append(texts)
            continue
        req_ids, req_mask = ids[row : row + len(texts)], mask[row : row + len(texts)]
        width = int(req_mask.sum(axis=1).max())
        results.append({"INPUT_IDS": req_ids[:, :width], "ATTENTION_MASK": req_mask[:, :width]})
        row += len(texts)
    return results
