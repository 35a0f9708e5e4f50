"""The `triton-ingest` CLI as a subprocess against the real server: output and exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from support.clients import cosines
from support.commands import CLIENT_CLI
from support.documents import make_docx, make_pdf
from support.scans import FONTS, PROSE, render, scanned_pdf, text_pdf, word_recall
from triton_ingest.serving.server import free_port

pytestmark = pytest.mark.integration

CLI = CLIENT_CLI


def cli(server, *args: str, protocol: str = "http") -> subprocess.CompletedProcess:
    url = server.http_url if protocol == "http" else server.grpc_url
    return subprocess.run([CLI, "--url", url, "--protocol", protocol, *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def documents(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(make_pdf(6))
    (folder / "b.docx").write_bytes(make_docx(["A paragraph.", "Another one."]))
    (folder / "c.txt").write_text("Plain text notes.")
    return folder


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_embed_prints_the_models_vectors(server, protocol, reference_model):
    done = cli(server, "--json", "embed", "hello", "wörld", protocol=protocol)
    assert done.returncode == 0, done.stderr
    vectors = np.array(json.loads(done.stdout)["embeddings"], dtype=np.float32)
    assert vectors.shape == (2, 384)
    assert cosines(vectors, reference_model.encode(["hello", "wörld"])).min() >= 0.9999


def test_ingest_a_directory_writes_jsonl_and_a_summary(server, documents, tmp_path):
    out = tmp_path / "results.jsonl"
    done = cli(server, "ingest", str(documents), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 of 3 documents ingested, 0 failed" in done.stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["source"] for r in records} == {"a.pdf", "b.docx", "c.txt"} and len(records[0]["embedding"]) == 384


def test_one_bad_file_fails_the_exit_code_but_not_the_batch(server, documents):
    (documents / "broken.pdf").write_bytes(b"%PDF-1.6 broken")
    done = cli(server, "--json", "ingest", str(documents / "*"))
    rows = json.loads(done.stdout)
    assert done.returncode == 1
    assert {Path(r["source"]).name: r["ok"] for r in rows} == {"a.pdf": True, "b.docx": True, "broken.pdf": False, "c.txt": True}
    stopped = cli(server, "--json", "ingest", str(documents / "broken.pdf"), str(documents / "c.txt"), "--fail-fast")
    assert stopped.returncode == 1 and len(json.loads(stopped.stdout)) == 1


def test_submit_and_fetch_with_the_local_job_store(server, documents, tmp_path):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([str(documents / "a.pdf"), {"data": "inline text", "filename": "inline.txt"}]))
    store = tmp_path / "store"
    submitted = cli(server, "submit", "--file", str(jobs), "--jobs-dir", str(store))
    ids = submitted.stdout.split()
    assert submitted.returncode == 0 and len(ids) == 2
    fetched = cli(server, "fetch", "--ids", ",".join(ids + ["not-a-job"]), "--jobs-dir", str(store))
    assert fetched.returncode == 1 and "2 of 3 documents ingested, 1 failed" in fetched.stdout
    assert "NotFoundError" in fetched.stdout


def test_bad_jobs_file_is_a_clear_error(server, tmp_path):
    (tmp_path / "jobs.json").write_text("{not json")
    done = cli(server, "submit", "--file", str(tmp_path / "jobs.json"))
    assert done.returncode != 0 and "cannot read jobs file" in done.stderr


def test_health_exit_codes(server):
    assert cli(server, "health").returncode == 0
    down = subprocess.run([CLI, "--url", f"localhost:{free_port()}", "--json", "health"], capture_output=True, text=True)
    assert down.returncode == 1 and json.loads(down.stdout)["ready"] is False


def test_ingest_of_a_scanned_pdf_prints_the_chunks_ocr_read(server, tmp_path):
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(scanned_pdf([render(text_pdf([PROSE[4]], FONTS[1]), 0, 150)]))
    done = cli(server, "ingest", str(scan))
    assert done.returncode == 0, done.stdout + done.stderr
    [chunk_line] = [line for line in done.stdout.splitlines() if line.startswith("[0] page 1 (ocr): ")]
    assert word_recall(PROSE[4], chunk_line) >= 0.95
    row = next(line.split() for line in done.stdout.splitlines() if line.startswith(str(scan)[-40:]))
    assert row[1:5] == ["ok", "1", "1", "1"]  # status, pages, pages read by OCR, chunks
