"""OPTIONS validation and NVCF progress files (no server)."""

from __future__ import annotations

import json
import threading

import pytest

from triton_ingest.errors import InvalidInputError
from triton_ingest.options import IngestOptions
from triton_ingest.progress import PARTIAL_LIMIT_BYTES, ProgressReporter, bounded, nvcf_headers


def test_options_parse_defaults_and_values():
    assert IngestOptions.parse(None) == IngestOptions.parse(b"") == IngestOptions()
    parsed = IngestOptions.parse(b'{"chunk_size": 100, "chunk_overlap": 10, "text_depth": "document"}')
    assert (parsed.chunk_size, parsed.chunk_overlap, parsed.text_depth) == (100, 10, "document")


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"chunk_sise": 10}', "unknown key(s) ['chunk_sise']"),
        (b'{"chunk_size": 300}', "OPTIONS.chunk_size must be an integer in [1, 254]"),
        (b'{"chunk_size": "big"}', "OPTIONS.chunk_size must be an integer"),
        (b'{"max_pages": true}', "OPTIONS.max_pages must be an integer"),
        (b'{"text_depth": "chapter"}', "text_depth must be"),
        (b'{"chunk_size": 10, "chunk_overlap": 10}', "chunk_overlap must be smaller"),
    ],
)
def test_invalid_options_name_the_problem(raw, message):
    with pytest.raises(InvalidInputError) as caught:
        IngestOptions.parse(raw)
    assert message in str(caught.value)


def test_nvcf_headers_are_matched_case_insensitively():
    got = nvcf_headers({"NVCF-REQID": "a", "nvcf-large-output-dir": "/x", "Nvcf-Asset-Dir": "/y", "other": 1})
    assert got == {"nvcf-reqid": "a", "nvcf-large-output-dir": "/x", "nvcf-asset-dir": "/y"}


def test_partial_response_is_trimmed_under_250kb():
    partial = {"pages_done": 3, "recent_chunks": [{"text": "x" * 10_000}] * 100}
    trimmed = bounded(partial)
    assert len(json.dumps(trimmed).encode()) < PARTIAL_LIMIT_BYTES
    assert trimmed["recent_chunks"] and trimmed["pages_done"] == 3


def test_progress_is_monotonic_and_finishes_at_100_after_the_rename(tmp_path):
    reporter = ProgressReporter({"nvcf-reqid": "r1", "nvcf-large-output-dir": str(tmp_path)})
    reporter.update(40, {"chunks_done": 1})
    reporter.update(20, {"chunks_done": 2})
    assert json.loads((tmp_path / "progress").read_text())["progress"] == 40
    reporter.update(100, {})
    assert json.loads((tmp_path / "progress").read_text())["progress"] == 99  # 100 only when finished
    reporter.write_results(['{"chunk_index": 0}'])
    assert (tmp_path / "r1.jsonl.partial").exists() and not (tmp_path / "r1.jsonl").exists()
    reporter.finish({"chunks": 1})
    body = json.loads((tmp_path / "progress").read_text())
    assert body == {"id": "r1", "progress": 100, "partialResponse": {
        "status": "complete", "result_file": "r1.jsonl", "summary": {"chunks": 1}}}
    assert (tmp_path / "r1.jsonl").read_text() == '{"chunk_index": 0}\n'
    assert not (tmp_path / "r1.jsonl.partial").exists()


def test_failure_leaves_nothing_that_looks_complete(tmp_path):
    reporter = ProgressReporter({"nvcf-reqid": "r2", "nvcf-large-output-dir": str(tmp_path)})
    reporter.update(30, {})
    reporter.write_results(['{"chunk_index": 0}'])
    reporter.fail("DOCUMENT is a corrupt PDF")
    body = json.loads((tmp_path / "progress").read_text())
    assert body["progress"] == 30 and body["partialResponse"] == {"status": "failed", "error": "DOCUMENT is a corrupt PDF"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress"]


def test_concurrent_reader_never_sees_partial_json(tmp_path):
    reporter = ProgressReporter({"nvcf-reqid": "r3", "nvcf-large-output-dir": str(tmp_path)})
    reporter.update(0, {})
    stop, bad, reads = threading.Event(), [], [0]

    def read():
        while not stop.is_set():
            try:
                json.loads((tmp_path / "progress").read_text())
                reads[0] += 1
            except ValueError as exc:
                bad.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(300):
        reporter.update(i / 3, {"recent_chunks": [{"text": "y" * 5000}] * 10})
    stop.set()
    reader.join()
    assert not bad and reads[0] > 0


def test_reporter_without_output_dir_writes_nothing(tmp_path):
    reporter = ProgressReporter({"nvcf-reqid": "r4"})
    reporter.update(50, {})
    reporter.finish({})
    assert not reporter.active


def test_metrics_count_documents_pages_chunks_failures_and_stages():
    from collections import defaultdict

    from triton_ingest.errors import InternalError
    from triton_ingest.metrics import IngestMetrics
    from triton_ingest.options import OptionsError

    totals: dict = defaultdict(float)

    class Plain:
        def __init__(self, key):
            self.key = key

        def increment(self, value):
            totals[self.key] += value

    metrics = IngestMetrics("ingest", lambda name, _d, labels: Plain((name, tuple(sorted(labels.items())))))
    summary = {"kind": "pdf", "pages": 3, "chunks": 5, "timings_ms": {"embed_wait_ms": 1500.0, "total_ms": 2000.0}}
    metrics.success(summary)
    metrics.success(summary)
    metrics.failure(OptionsError("bad"))
    metrics.failure(InternalError("x"))
    metrics.failure(ValueError("bug"))
    labels = (("kind", "pdf"), ("model", "ingest"))
    assert totals[("triton_ingest_pages_total", labels)] == 6
    assert totals[("triton_ingest_chunks_total", labels)] == 10
    assert totals[("triton_ingest_stage_seconds_total", (("model", "ingest"), ("stage", "embed_wait")))] == 3.0
    assert totals[("triton_ingest_failures_total", (("model", "ingest"), ("reason", "bad_options")))] == 1
    assert totals[("triton_ingest_failures_total", (("model", "ingest"), ("reason", "internal")))] == 2
