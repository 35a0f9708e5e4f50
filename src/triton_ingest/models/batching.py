"""Length-aware packing of ragged sequences into padded batches (pure numpy).

The embedder receives requests whose sequences differ in length (Triton's
ragged batching). Padding them all to the longest wastes compute, so rows
are sorted by length and cut into batches bounded in rows and in padded
tokens; each batch is padded only to its own longest row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rows:
    """Unpadded sequences gathered from many requests."""

    ids: list[np.ndarray]
    masks: list[np.ndarray]

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(r) for r in self.ids], dtype=np.int64)


def trim_padding(ids: np.ndarray, mask: np.ndarray) -> Rows:
    """Split ``[n, L]`` tensors into rows cut after each row's last unmasked token."""
    ids_rows, mask_rows = [], []
    for row_ids, row_mask in zip(ids, mask):
        nonzero = np.flatnonzero(row_mask)
        end = int(nonzero[-1]) + 1 if nonzero.size else 1
        ids_rows.append(row_ids[:end])
        mask_rows.append(row_mask[:end])
    return Rows(ids_rows, mask_rows)


def plan_batches(lengths: np.ndarray, max_rows: int, max_tokens: int) -> list[np.ndarray]:
    """Index groups, longest first, each with ``rows <= max_rows`` and ``rows*longest <= max_tokens``.

    A single row longer than ``max_tokens`` still gets a batch of its own.
    """
    order = np.argsort(-lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = int(lengths[order[start]])
        fit = max(1, min(max_rows, max_tokens // max(longest, 1)))
        batches.append(order[start : start + fit])
        start += fit
    return batches


def pad_batch(rows: Rows, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stack the chosen rows into zero-padded ``[len(index), longest]`` int64 arrays."""
    width = max(len(rows.ids[i]) for i in index)
    ids = np.zeros((len(index), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for out_row, i in enumerate(index):
        n = len(rows.ids[i])
        ids[out_row, :n] = rows.ids[i]
        mask[out_row, :n] = rows.masks[i]
    return ids, mask
