"""A seeded corpus of mutated PDF/DOCX/HTML/Markdown documents and random bytes through the
real ``ingest`` model: each request gets its own result or its own clear error, nothing crashes."""

from __future__ import annotations

import json
import os

import pytest
from tritonclient.utils import InferenceServerException

from support.clients import INVALID_ARG, ingest_with, run_concurrently
from support.documents import make_pdf
from support.hostile import SEEDS, seeded_corpus
from support.load import write_report

pytestmark = pytest.mark.integration
CORPUS = seeded_corpus(600 if "TRITON_INGEST_SOAK" in os.environ else 60)
UNMUTATED = [(f"seed.{kind}", data) for kind, data in sorted(SEEDS.items())]
"""The documents the corpus is mutated from: they must ingest, or rejecting everything would pass."""


def outcome(client, protocol: str, item: tuple[str, bytes]) -> tuple[str, str]:
    name, data = item
    try:
        result = ingest_with(client, protocol, data, name)
    except InferenceServerException as exc:
        return exc.status(), exc.message()
    assert result["summary"]["source"] == name  # its own result, not another request's
    assert len(result["chunks"]) == result["embeddings"].shape[0] == result["summary"]["chunks"]
    return "ok", json.dumps(result["summary"]["chunks"])


def test_hostile_corpus_gets_a_result_or_a_clear_error_per_request(server, protocol):
    everything = run_concurrently(server, protocol, lambda c, item: outcome(c, protocol, item), UNMUTATED + CORPUS,
                                  workers=4)
    seeds, outcomes = everything[:len(UNMUTATED)], everything[len(UNMUTATED):]
    assert [status for status, _ in seeds] == ["ok"] * len(UNMUTATED), seeds
    assert all(int(chunks) > 0 for _, chunks in seeds)
    errors = [(status, message) for status, message in outcomes if status != "ok"]
    for status, message in errors:
        assert status == INVALID_ARG[protocol], message
        assert message.startswith("DOCUMENT") and "Traceback" not in message
    assert server.is_ready()
    assert not getattr(getattr(server, "watchdog", None), "restarts", [])  # no stub died
    good = run_concurrently(server, protocol, lambda c, _: outcome(c, protocol, ("after.pdf", make_pdf(2))), [0, 1])
    assert [status for status, _ in good] == ["ok", "ok"]
    write_report(f"hostile-{server.kind}-{protocol}", {
        "documents": len(CORPUS), "ingested": len(outcomes) - len(errors), "invalid_arg": len(errors),
        "other_errors": 0, "server_ready_after": True})
