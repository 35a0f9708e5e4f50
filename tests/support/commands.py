"""The project's console scripts, as the tests run them (from this interpreter's environment)."""

from __future__ import annotations

import sys
from pathlib import Path

CLIENT_CLI = str(Path(sys.executable).parent / "triton-ingest")
SERVER_CLI = str(Path(sys.executable).parent / "triton-ingest-server")
SLOW_INGEST = {"chunk_size": 64, "chunk_overlap": 8, "embed_batch": 1, "max_in_flight": 1}
"""Ingest OPTIONS that keep a document in flight for many round trips: one chunk per embed call,
one call at a time."""


def prepare_command(root: Path, *args: str) -> list[str]:
    """``triton-ingest-server prepare`` (the container entrypoint) with every path under ``root``."""
    return [SERVER_CLI, "prepare", "--models-dir", str(root / "models"), "--repository", str(root / "repo"),
            "--cache-dir", str(root / "cache"), *args]
