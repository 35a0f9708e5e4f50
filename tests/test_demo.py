"""``triton-ingest-server demo`` (what ``make run`` runs) as a subprocess, end to end."""

from __future__ import annotations

import os
import subprocess

import pytest

from support.commands import SERVER_CLI
from support.scans import word_recall
from triton_ingest.demo import SCANNED_TEXT

CLI = SERVER_CLI


@pytest.mark.integration
def test_demo_prints_similarities_indexes_and_answers_then_stops_cleanly(tmp_path):
    done = subprocess.run([CLI, "demo", "--index", str(tmp_path / "kb.db")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    top = lines[lines.index("query: Which animal purrs?") + 1]
    assert "Cats purr" in top
    assert "generated-manual.pdf" in done.stdout and "release-notes-fr.txt         text      cp1252" in done.stdout
    scan_row = next(line.split() for line in lines if line.strip().startswith("generated-scan.pdf"))
    assert scan_row[1:6] == ["pdf", "-", "1", "1", "1"]  # kind, encoding, pages, pages read by OCR, chunks
    scanned = lines[lines.index("search --hybrid: How are scanned invoices made searchable?") + 1:][:2]
    assert "generated-scan.pdf, pages [1], read by ocr" in scanned[0] and word_recall(SCANNED_TEXT, scanned[1]) >= 0.95
    assets = lines[lines.index("search --hybrid: Where do inputs larger than five megabytes arrive on NVCF?") + 1:][:2]
    assert "nvcf-deployment.html" in assets[0] and "Cloud Functions run a container" in assets[1]
    assert f"--index {tmp_path / 'kb.db'}" in done.stdout
    assert "tritonserver stopped cleanly" in done.stdout
