"""NVCF progress and result files, written by ProgressReporter (no server)."""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path

import pytest

from triton_ingest.pipeline.progress import PARTIAL_LIMIT_BYTES, ProgressReporter, bounded


def test_partial_response_is_trimmed_under_250kb():
    partial = {"pages_done": 3, "recent_chunks": [{"text": "x" * 10_000}] * 100}
    trimmed = bounded(partial)
    assert len(json.dumps(trimmed).encode()) < PARTIAL_LIMIT_BYTES
    assert trimmed["recent_chunks"] and trimmed["pages_done"] == 3


def test_progress_is_monotonic_and_finishes_at_100_after_the_rename(tmp_path):
    reporter = ProgressReporter(tmp_path, "r1")
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
    reporter = ProgressReporter(tmp_path, "r2")
    reporter.update(30, {})
    reporter.write_results(['{"chunk_index": 0}'])
    reporter.fail("DOCUMENT is a corrupt PDF")
    body = json.loads((tmp_path / "progress").read_text())
    assert body["progress"] == 30 and body["partialResponse"] == {"status": "failed", "error": "DOCUMENT is a corrupt PDF"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress"]


def test_concurrent_reader_never_sees_partial_json(tmp_path):
    reporter = ProgressReporter(tmp_path, "r3")
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


def entries(directory: Path) -> dict[str, float]:
    """Every path under ``directory`` with its modification time."""
    return {str(p): p.stat().st_mtime for p in directory.rglob("*")} if directory.is_dir() else {}


@pytest.mark.parametrize("outcome", ["finish", "fail"])
@pytest.mark.parametrize("request_id", ["", "r4"])
def test_reporter_without_output_dir_writes_nothing(tmp_path, monkeypatch, request_id, outcome):
    """No NVCF-LARGE-OUTPUT-DIR: nothing appears in the working directory or the temporary directory."""
    work, temp = tmp_path / "cwd", tmp_path / "tmp"
    work.mkdir()
    temp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # what tempfile.mkstemp & co. would use
    reporter = ProgressReporter(None, request_id)
    reporter.update(50, {"chunks_done": 1})
    reporter.write_results(['{"chunk_index": 0}'])
    reporter.finish({"chunks": 1}) if outcome == "finish" else reporter.fail("DOCUMENT is a corrupt PDF")
    assert not reporter.active
    assert entries(work) == {} and entries(temp) == {}
