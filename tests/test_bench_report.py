"""The benchmark report's target ratios, computed from a recorded `make bench` result."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from report import targets  # noqa: E402


@pytest.fixture
def recorded() -> dict:
    return json.loads((ROOT / "docs" / "bench" / "embed.json").read_text())


def test_targets_are_ratios_of_the_rows_they_name(recorded):
    rows = recorded["rows"]
    ratios = {what.split(" (")[0]: measured for what, measured, _ in targets(recorded)}
    best_fp32 = max(r["texts_per_s"] for r in rows if r.get("model") == "embed" and r.get("per_request") == 16)
    st = next(r["texts_per_s"] for r in rows if r["kind"] == "reference")
    assert ratios["served fp32 best / sentence-transformers"] == pytest.approx(best_fp32 / st)
    assert ratios["int8 mean cosine vs fp32"] == recorded["int8_accuracy"]["mean_cosine"]
    assert len(targets(recorded)) == 6
