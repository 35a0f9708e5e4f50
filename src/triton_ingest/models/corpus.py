"""Real English prose, available offline: the Python standard library's docstrings (benchmarks, and
the int8 model's calibration).

Paragraphs are merged into chunk-sized texts of about 60-120 tokens, the
size the ingest pipeline produces. Deterministic for a given Python version.
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings

MODULES = [
    "argparse", "asyncio", "collections", "concurrent.futures", "contextlib", "csv", "dataclasses",
    "datetime", "decimal", "email", "functools", "http.client", "inspect", "json", "logging",
    "multiprocessing", "pathlib", "pickle", "re", "shutil", "socket", "sqlite3", "subprocess",
    "tarfile", "threading", "typing", "unittest", "urllib.request", "uuid", "zipfile",
]


def _docstrings() -> list[str]:
    with warnings.catch_warnings():  # typing.io and typing.re warn when their docs are read
        warnings.simplefilter("ignore", DeprecationWarning)
        return _read_docstrings()


def _read_docstrings() -> list[str]:
    docs = []
    for name in MODULES:
        module = importlib.import_module(name)
        docs.append(inspect.getdoc(module) or "")
        for _, member in sorted(vars(module).items()):
            if inspect.isclass(member) or inspect.isfunction(member):
                docs.append(inspect.getdoc(member) or "")
    return docs


def chunk_texts(min_words: int = 45, max_words: int = 90) -> list[str]:
    """Prose paragraphs merged to ``min_words..max_words`` words (about 60-120 tokens)."""
    chunks, current = [], []
    seen = set()
    for doc in _docstrings():
        for para in re.split(r"\n\s*\n", doc):
            words = para.split()
            if len(words) < 8 or para in seen or sum(w.isalpha() for w in words) < 0.6 * len(words):
                continue
            seen.add(para)
            current += words
            if len(current) >= min_words:
                chunks.append(" ".join(current[:max_words]))
                current = []
    return chunks
