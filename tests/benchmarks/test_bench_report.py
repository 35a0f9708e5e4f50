"""The benchmark: report ratios from a recorded result, and a smoke run of the script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from report import targets  # noqa: E402

from triton_ingest.models.int8_choice import choose, cpu_class  # noqa: E402


@pytest.fixture
def recorded() -> dict:
    return json.loads((ROOT / "docs" / "bench" / "embed.json").read_text())


def test_targets_are_ratios_of_the_rows_they_name(recorded):
    rows = recorded["rows"]
    ratios = {what.split(" (")[0]: measured for what, measured, _ in targets(recorded)}
    best_fp32 = max(r["texts_per_s"] for r in rows if r.get("model") == "embed" and r.get("per_request") == 16)
    st = next(r["texts_per_s"] for r in rows if r["kind"] == "reference")
    assert ratios["served fp32 best / sentence-transformers"] == pytest.approx(best_fp32 / st)
    assert ratios["int8 min cosine vs sentence-transformers, check set"] == recorded["check_set"]["int8"]["min_cosine"]
    assert len(targets(recorded)) == 7 and "avx2" in recorded["cpu"]


def run_bench(script: str, *args: str):
    """Run ``benchmarks/<script>`` with ``args``; it must exit 0 (its output shown if not)."""
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


@pytest.mark.integration
def test_bench_script_runs_end_to_end(tmp_path):
    """A smoke run of `make bench`'s embed benchmark (timings are printed, never asserted)."""
    done = run_bench("embed_throughput.py", "--smoke", "--out", str(tmp_path))
    results = json.loads((tmp_path / "embed.json").read_text())
    assert {r["kind"] for r in results["rows"]} == {"reference", "in-process", "served"}
    assert (tmp_path / "throughput.png").stat().st_size > 0 and (tmp_path / "latency.png").stat().st_size > 0
    assert "target" in done.stdout and "avx512_vnni" in done.stdout  # the CPU features, next to the int8 figures
    assert results["check_set"]["int8"]["mean_cosine"] >= 0.995
    assert results["int8_served"] == choose().line() and results["int8_served"] in done.stdout


@pytest.mark.integration
def test_int8_variants_bench_measures_every_variant_and_names_the_served_one(tmp_path):
    """A smoke run of `make bench`'s int8 variants benchmark (one round over 32 texts)."""
    run_bench("int8_variants.py", "--smoke", "--out", str(tmp_path))
    results = json.loads((tmp_path / "int8_variants.json").read_text())
    rows = {row["variant"]: row for row in results["rows"]}
    assert set(rows) == {"fp32", "u8s8", "u8s8_7bit", "u8u8"} and rows["fp32"]["vs_fp32"] == 1.0
    assert [name for name, row in rows.items() if row["served"]] == [choose().variant]
    assert rows["u8u8"]["mean_cosine"] >= 0.99 and results["cpu_class"] == cpu_class() and "avx2" in results["cpu"]


@pytest.mark.integration
def test_index_bench_runs_end_to_end(tmp_path):
    """A smoke run of `make bench`'s index benchmark on a small PDF and index."""
    out = tmp_path / "index.json"
    run_bench("index_throughput.py", "--pages", "4", "--rows", "400", "--json", str(out))
    results = json.loads(out.read_text())
    assert results["overhead"]["pages"] == 4 and results["latency"]["rows"] == 400
    assert set(results["recall_at_5"]) == {"rows", "model", "questions_dense", "questions_hybrid", "error_codes_dense",
                                           "error_codes_hybrid"}
    assert (results["recall_at_5"]["model"], results["recall_at_5_int8"]["model"]) == ("embed", "embed_int8")
    assert results["latency"]["dense"]["queries"] == results["latency"]["hybrid"]["queries"] == 144


@pytest.mark.integration
def test_gateway_bench_runs_end_to_end(tmp_path):
    """A smoke run of `make bench`'s gateway benchmark (one pass over the texts)."""
    out = tmp_path / "gateway.json"
    run_bench("gateway_throughput.py", "--rounds", "1", "--json", str(out))
    results = json.loads(out.read_text())
    assert results["texts"] > 300 and results["ratio"] == pytest.approx(
        results["gateway_texts_per_s"] / results["direct_texts_per_s"], abs=1e-3)


@pytest.mark.integration
def test_structure_bench_runs_end_to_end(tmp_path):
    """A smoke run of `make bench`'s structure benchmark (4 tables, one cost round)."""
    out = tmp_path / "structure.json"
    run_bench("structure_accuracy.py", "--smoke", "--json", str(out))
    results = json.loads(out.read_text())
    assert results["accuracy"]["docx"] == {"tables_true": 4, "tables_found": 4, "cell_accuracy": 1.0}
    assert results["accuracy"]["pdf (fpdf2 table)"]["cell_accuracy"] == 1.0
    assert set(results["cost_pages_per_s"]) == {f"{kind} pages, tables {mode}" for kind in ("table", "prose")
                                                 for mode in ("auto", "off")}
    assert results["retrieval"]["questions"] > 20
    assert set(results["retrieval"]["recall_at_5_after"]) == {"dense", "hybrid"}


@pytest.mark.integration
def test_page_elements_bench_runs_end_to_end(tmp_path):
    """A smoke run of `make bench`'s benchmark of tables on scans (2 pages, 8 requests a model)."""
    out = tmp_path / "page_elements.json"
    run_bench("page_elements.py", "--smoke", "--json", str(out))
    results = json.loads(out.read_text())
    accuracy = results["accuracy"]
    assert accuracy["scan"]["tables_found"] == 2 and accuracy["text layer without row rules, tables models"]["cell_accuracy"] >= 0.8
    assert accuracy["text layer without row rules, tables auto"]["tables_found"] == 0
    assert {"page_elements", "table_structure"} <= set(results["cost"])
    assert results["cost"]["page_elements"]["batching_gain"] > 0
    assert set(results["retrieval"]["recall_at_5_unruled_tables_models"]) == {"dense", "hybrid"}
