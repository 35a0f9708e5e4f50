"""`triton-ingest ingest --index`, `search` and `index ...` as subprocesses against the real Triton
and a Milvus Lite file: output, JSON and exit codes."""

from __future__ import annotations

import argparse
import json
import subprocess

import pytest
from triton_ingest_client.cli import _protocol

from support.clients import TRITON_ONLY
from support.commands import CLIENT_CLI
from support.knowledge import library


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLIENT_CLI, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def folder(tmp_path):
    docs = tmp_path / "docs"
    (docs / "more").mkdir(parents=True)
    for name, data in library().items():
        (docs / name).write_bytes(data)
    (docs / "more" / "faq.md").write_text("# Another FAQ\n\nA second file with the same name as docs/faq.md.")
    return docs


@TRITON_ONLY
def test_ingest_a_folder_then_search_list_delete_and_drop(server, folder, tmp_path):
    kb = str(tmp_path / "kb.db")
    done = run("--url", server.grpc_url, "--protocol", "grpc", "ingest", str(folder), "--index", kb)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "9 of 9 documents ingested, 0 failed" in done.stdout and "chunks indexed into triton_ingest" in done.stdout

    found = run("--url", server.http_url, "search", "On which port are the Prometheus metrics exported?",
                "--index", kb, "--top-k", "3", "--json")
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)["results"]
    assert len(results) == 3 and results[0]["source"] == "monitoring.txt" and "9464" in results[0]["text"]
    assert {"score", "text", "source", "pages", "chunk_index", "document_id"} <= set(results[0])
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)

    table = run("--url", server.http_url, "search", "How many voting nodes does a cluster need?", "--index", kb,
                "--hybrid")
    assert table.returncode == 0 and table.stdout.splitlines()[0].split() == ["score", "source", "pages", "text"]
    assert "clustering.docx" in table.stdout.splitlines()[1]

    listed = json.loads(run("index", "list", "--index", kb, "--json").stdout)["documents"]
    sources = {d["source"] for d in listed}
    assert len(listed) == 9 and {"faq.md", "more/faq.md"} <= {s.removeprefix(str(folder) + "/") for s in sources}
    stats = json.loads(run("index", "stats", "--index", kb, "--json").stdout)
    assert stats["documents"] == 9 and stats["profile"]["model"] == "embed" and stats["profile"]["dim"] == 384

    deleted = run("index", "delete", "--source", "monitoring.txt", "--index", kb)
    assert deleted.returncode == 0 and deleted.stdout.startswith("deleted 1 rows of monitoring.txt")
    assert json.loads(run("index", "stats", "--index", kb, "--json").stdout)["documents"] == 8
    assert run("index", "drop", "--index", kb).stdout.strip() == "dropped triton_ingest"
    gone = run("index", "stats", "--index", kb)
    assert gone.returncode == 1 and "NotFoundError: no collection 'triton_ingest'" in gone.stderr


@TRITON_ONLY
def test_a_failed_file_fails_the_exit_code_and_leaves_no_rows(server, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("A good note about routing rules.")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.6 broken")
    kb = str(tmp_path / "kb.db")
    done = run("--url", server.grpc_url, "--protocol", "grpc", "--json", "ingest", str(docs), "--index", kb)
    assert done.returncode == 1
    rows = {r["source"].rsplit("/", 1)[-1]: r for r in json.loads(done.stdout)}
    assert rows["good.txt"]["ok"] and rows["good.txt"]["summary"]["index"]["rows"] == 1
    assert rows["broken.pdf"]["error"]["type"] == "InvalidInputError"
    assert [d["source"] for d in json.loads(run("index", "list", "--index", kb, "--json").stdout)["documents"]] == [
        "good.txt"]


@TRITON_ONLY
@pytest.mark.parametrize("args, code, message", [
    (["search", "q", "--top-k", "0"], 2, "--top-k must be in [1, 1000], got 0"),
    (["search", "q", "--top-k", "1001"], 2, "--top-k must be in [1, 1000], got 1001"),
    (["search", "  "], 1, "InvalidInputError: the search query is empty"),
    (["search", "q", "--index", "http://127.0.0.1:9"], 1, "UnavailableError: cannot reach Milvus at http://127.0.0.1:9"),
    (["search", "q", "--index", "kb"], 1, "must be a Milvus Lite file ending in .db"),
    (["search", "q", "--collection", "no-dashes"], 1, "collection name 'no-dashes'"),
    (["index", "delete"], 1, "index delete needs --source NAME"),
])
def test_bad_arguments_are_clear_errors(server, tmp_path, args, code, message):
    if "--index" not in args:
        args = [*args, "--index", str(tmp_path / "kb.db")]
    done = run("--url", server.http_url, *args)
    assert done.returncode == code and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_ingest_refuses_out_with_index(tmp_path):
    done = run("ingest", str(tmp_path), "--index", str(tmp_path / "kb.db"), "--out", str(tmp_path / "o.jsonl"))
    assert done.returncode == 1 and "--out and --index cannot be combined" in done.stderr


def test_ingest_into_an_index_streams_over_grpc_unless_told_otherwise():
    def args(**given) -> argparse.Namespace:
        return argparse.Namespace(**{"command": "ingest", "index": "kb.db", "url": None, "protocol": None,
                                     "nvcf_function_id": None, **given})

    assert _protocol(args()) == "grpc"
    assert _protocol(args(url="host:8000")) == "http" and _protocol(args(protocol="http")) == "http"
    assert _protocol(args(index=None)) == "http" and _protocol(args(command="search")) == "http"
