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
def test_demo_prints_similarities_and_stops_cleanly():
    done = subprocess.run([CLI, "demo"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    top = lines[lines.index("query: Which animal purrs?") + 1]
    assert "Cats purr" in top
    assert "generated-manual.pdf" in done.stdout and "release-notes-fr.txt         text      cp1252" in done.stdout
    scan_row = next(line.split() for line in lines if line.strip().startswith("generated-scan.pdf"))
    assert scan_row[1:5] == ["pdf", "-", "1", "1"]  # kind, encoding, pages, pages read by OCR
    read = next(line for line in lines if line.startswith("the scanned page, read by OCR (ocr): "))
    assert word_recall(SCANNED_TEXT, read) >= 0.95
    assert "best chunk" in done.stdout
    assert "tritonserver stopped cleanly" in done.stdout
