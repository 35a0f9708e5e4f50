"""Unit tests of ragged-row packing (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from triton_ingest.models.batching import Rows, pad_batch, plan_batches, trim_padding


def test_trim_padding_cuts_after_last_token():
    ids = np.array([[101, 7, 102, 0], [101, 102, 0, 0]])
    mask = (ids != 0).astype(np.int64)
    rows = trim_padding(ids, mask)
    assert [r.tolist() for r in rows.ids] == [[101, 7, 102], [101, 102]]
    assert rows.lengths.tolist() == [3, 2]


def test_trim_padding_keeps_one_token_of_an_all_zero_mask_row():
    rows = trim_padding(np.array([[5, 6]]), np.array([[0, 0]]))
    assert rows.lengths.tolist() == [1]


@pytest.mark.parametrize("seed", range(5))
def test_plan_batches_covers_every_row_once_within_limits(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 257, size=300)
    batches = plan_batches(lengths, max_rows=64, max_tokens=4096)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(300))
    for index in batches:
        assert len(index) <= 64
        assert len(index) * lengths[index].max() <= 4096


def test_plan_batches_sorts_longest_first_so_padding_is_small():
    lengths = np.array([3, 250, 4, 240, 5, 245])
    batches = plan_batches(lengths, max_rows=3, max_tokens=10_000)
    assert [sorted(lengths[b].tolist()) for b in batches] == [[240, 245, 250], [3, 4, 5]]


def test_plan_batches_gives_an_oversized_row_its_own_batch():
    batches = plan_batches(np.array([600, 2]), max_rows=8, max_tokens=512)
    assert [b.tolist() for b in batches] == [[0], [1]]


def test_pad_batch_zero_pads_to_the_longest_chosen_row():
    rows = Rows([np.array([1, 2, 3]), np.array([4])], [np.ones(3, np.int64), np.ones(1, np.int64)])
    ids, mask = pad_batch(rows, np.array([1, 0]))
    assert ids.tolist() == [[4, 0, 0], [1, 2, 3]]
    assert mask.tolist() == [[1, 0, 0], [1, 1, 1]]
    assert ids.dtype == mask.dtype == np.int64
