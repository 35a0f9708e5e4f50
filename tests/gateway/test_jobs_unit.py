"""The job API's pure parts: submit bodies, the on-disk store's files, expiry (no server)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time

import pytest
from triton_ingest_client import InvalidInputError, UnavailableError
from triton_ingest_client._errors import from_reason, reason_of
from triton_ingest_client.jobs import job_result

from triton_ingest.gateway import job_worker
from triton_ingest.gateway.job_split import (MAX_PARTS, child_options, failure, may_split, merged, page_ranges,
                                             progress)
from triton_ingest.gateway.jobs import JobRequestError, parse_jobs
from triton_ingest.jobs.disk import JobFiles, write_atomically
from triton_ingest.jobs.store import NewJob


def encoded(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_one_job_or_a_list_and_data_as_base64_or_text(tmp_path):
    [one] = parse_jobs({"data": encoded(b"%PDF-1.7 bytes"), "filename": "a.pdf"}, None, 10)
    assert (one.data, one.filename, one.options, one.path) == (b"%PDF-1.7 bytes", "a.pdf", {}, None)
    text, forced = parse_jobs([{"data": "Plain prose, with spaces.", "options": {"chunk_size": 64}},
                               {"data": "abcd", "encoding": "text"}], None, 10)
    assert text.data == b"Plain prose, with spaces." and text.options == {"chunk_size": 64}
    assert forced.data == b"abcd"  # valid base64, read as text because it says so


@pytest.mark.parametrize("body, message", [
    ([], "holds no jobs"),
    ("text", "job 0 must be a JSON object"),
    ({"filename": "a"}, "job 0 needs exactly one of 'data'"),
    ({"data": "x", "path": "y"}, "exactly one of"),
    ({"data": "x", "colour": 1}, "unknown key(s) ['colour']"),
    ({"data": 5}, "'data' must be a string"),
    ({"data": "not base64!", "encoding": "base64"}, "'data' is not valid base64"),
    ({"data": "x", "encoding": "rot13"}, "'encoding' must be one of"),
    ({"data": "x", "options": []}, "'options' must be a JSON object"),
    ({"data": "x", "filename": 3}, "'filename' must be a string"),
    ({"path": "a.pdf"}, "need the gateway started with --documents-dir"),
])
def test_bad_jobs_are_refused_with_a_message_naming_the_problem(body, message):
    with pytest.raises(JobRequestError) as caught:
        parse_jobs(body, None, 10)
    assert message in str(caught.value) and caught.value.status == 400


def test_too_many_jobs_is_a_413():
    with pytest.raises(JobRequestError, match="3 jobs in one submit; the limit is 2") as caught:
        parse_jobs([{"data": "x"}] * 3, None, 2)
    assert caught.value.status == 413


def test_paths_stay_under_the_documents_dir(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "in.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("outside")
    [job] = parse_jobs({"path": "in.txt"}, tmp_path / "docs", 10)
    assert job.path == str((tmp_path / "docs" / "in.txt").resolve()) and job.filename == "in.txt" and job.data is None
    for escape in ("../secret.txt", str(tmp_path / "secret.txt")):
        with pytest.raises(JobRequestError, match="must lie under"):
            parse_jobs({"path": escape}, tmp_path / "docs", 10)
    with pytest.raises(JobRequestError, match="no file 'gone.pdf'"):
        parse_jobs({"path": "gone.pdf"}, tmp_path / "docs", 10)


def test_store_keeps_the_document_until_the_job_ends(tmp_path):
    store = JobFiles(tmp_path / "jobs")
    store.create("j1", NewJob(b"Some text.", "t.txt", {}))
    assert store.meta("j1")["state"] == "queued"
    assert list(store.unfinished()) == [("j1", {"path": None, "filename": "t.txt", "options": {}, "state": "queued"})]
    assert store.mark("j1", "running")["state"] == "running"
    assert (store.dir("j1") / "document").read_bytes() == b"Some text."
    assert store.result("j1") is None and next(store.unfinished())[1]["state"] == "running"
    store.finish("j1", b'{"job_id": "j1", "status": "done"}')
    assert json.loads(store.result("j1"))["status"] == "done"
    assert not (tmp_path / "jobs" / "j1" / "document").exists() and list(store.unfinished()) == []
    assert store.result("../j1") is None and store.result("missing") is None


def test_expiry_removes_old_results_only(tmp_path):
    store = JobFiles(tmp_path / "jobs")
    for job_id in ("old", "new", "running"):
        store.create(job_id, NewJob(b"x", "", {}))
    store.finish("old", b'{"status": "done"}')
    store.finish("new", b'{"status": "done"}')
    hour_ago = time.time() - 3600
    os.utime(tmp_path / "jobs" / "old" / "result.json", (hour_ago, hour_ago))
    os.utime(tmp_path / "jobs" / "running" / "job.json", (hour_ago, hour_ago))
    assert store.expire(ttl=60) == ["old"]
    assert sorted(p.name for p in (tmp_path / "jobs").iterdir()) == ["new", "running"]


def test_an_atomic_write_leaves_the_old_file_when_it_fails(tmp_path):
    target = tmp_path / "result.json"
    write_atomically(target, b"first")
    with pytest.raises(TypeError):  # a write that fails half-way
        write_atomically(target, object())  # type: ignore[arg-type]
    assert target.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_reasons_round_trip_to_the_same_exception_classes():
    error = from_reason(reason_of(InvalidInputError("bad")), "bad")
    assert isinstance(error, InvalidInputError)
    assert isinstance(from_reason("interrupted", "restarted"), UnavailableError)
    assert isinstance(from_reason("worker_lost", "taken by 3 workers"), UnavailableError)
    done = job_result({"job_id": "a", "status": "done", "filename": "f", "result": {
        "summary": {"chunks": 1}, "chunks": [{"text": "t", "embedding": [0.5] * 384}]}})
    assert done.ok and done.result.embeddings.shape == (1, 384) and "embedding" not in done.result.chunks[0]
    failed = job_result({"job_id": "b", "status": "failed", "error": {"reason": "invalid_input", "message": "corrupt"}})
    assert isinstance(failed.error, InvalidInputError) and str(failed.error) == "corrupt"


def test_a_split_job_s_ranges_progress_failure_and_merged_result():
    assert page_ranges(70, 32) == [(1, 32), (33, 64), (65, 70)] and page_ranges(32, 32) == [(1, 32)]
    hostile = page_ranges(5000, 1)  # a client's split_pages 1: at most MAX_PARTS sub-jobs, all pages kept
    assert len(hostile) == MAX_PARTS and hostile[0] == (1, 79) and hostile[-1][1] == 5000
    assert may_split(b"%PDF-1.7 ...", {}) and not may_split(b"%PDF-1.7", {"text_depth": "document"})
    assert not may_split(b"plain text", {}) and not may_split(b"%PDF-1.7", {"first_page": 3})
    assert child_options({"chunk_size": 64, "split_pages": 8, "index": {}}, 9, 16) == \
        {"chunk_size": 64, "first_page": 9, "last_page": 16}
    pending = {"status": "pending", "progress": 50.0}
    done = lambda pages, texts: {"status": "done", "result": {  # noqa: E731
        "summary": {"pages": pages, "chunks": len(texts), "warnings": ["w"], "options": {"first_page": 9}},
        "chunks": [{"chunk_index": i, "text": t, "embedding": [float(i)] * 2} for i, t in enumerate(texts)]}}
    assert progress([done(8, ["a"]), pending, None]) == 50.0
    failed = {"status": "failed", "error": {"reason": "invalid_input", "message": "page 12 is corrupt"}}
    assert failure([done(8, ["a"]), failed], [(1, 8), (9, 16)]) == {
        "reason": "invalid_input", "message": "pages 9-16: page 12 is corrupt"}
    assert failure([done(8, ["a"]), pending], [(1, 8), (9, 16)]) is None
    item, vectors = merged("p", "f.pdf", [done(8, ["a", "b"]), done(3, ["c"])], 8, 1.5)
    assert [c["chunk_index"] for c in item["result"]["chunks"]] == [0, 1, 2]
    assert [c["text"] for c in item["result"]["chunks"]] == ["a", "b", "c"] and vectors.tolist() == [[0, 0], [1, 1], [0, 0]]
    summary = item["result"]["summary"]
    assert (summary["pages"], summary["chunks"], summary["warnings"], summary["split"]) == \
        (11, 3, ["w"], {"parts": 2, "split_pages": 8})
    assert summary["options"] == {"first_page": 1, "last_page": 0}


def test_a_stop_step_that_hangs_is_left_behind_with_a_warning(monkeypatch, caplog):
    """A stop is bounded step by step: a step stuck in a thread (as a process pool's join can be)
    is abandoned after STOP_STEP_S, in a daemon thread the interpreter's exit does not wait for."""
    monkeypatch.setattr(job_worker, "STOP_STEP_S", 0.05)
    release, finished = threading.Event(), []

    async def stop() -> None:
        await job_worker.bounded(job_worker.in_daemon_thread(release.wait), "closing a stuck pool")
        await job_worker.bounded(job_worker.in_daemon_thread(lambda: finished.append(True)), "a quick step")

    asyncio.run(stop())
    assert "stopping: closing a stuck pool took over 0 s; left behind" in caplog.text
    assert finished == [True] and "a quick step" not in caplog.text
    release.set()
