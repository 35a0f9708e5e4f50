"""Hostile documents against the extractors (hypothesis) and the ingest pipeline's limits."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

from support.documents import make_docx
from support.hostile import docx_bomb, hostile_documents, pdf_with_pages
from triton_ingest.errors import InvalidInputError
from triton_ingest.pipeline.documents import open_document

SOAK = "TRITON_INGEST_SOAK" in os.environ  # make soak: many more, freshly random examples
FUZZ = settings(max_examples=20_000 if SOAK else 1_000, deadline=None, derandomize=not SOAK, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def extract(data: bytes) -> str:
    document = open_document(data, "upload")
    return "\n".join(page.text for page in document.pages)


@FUZZ
@given(hostile_documents())
def test_extractors_return_text_or_a_clear_invalid_input_error(data):
    try:
        text = extract(data)
    except InvalidInputError as exc:
        assert str(exc).startswith("DOCUMENT") and "Traceback" not in str(exc)
    else:
        assert isinstance(text, str)


def test_docx_decompression_bomb_is_rejected_before_parsing():
    bomb = docx_bomb()
    assert len(bomb) < 2 * 1024 * 1024  # 300 MiB of zeros inside
    with pytest.raises(InvalidInputError, match=r"expand to \d+ bytes; the limit \(max_unzipped_bytes\)") as caught:
        open_document(bomb)
    assert caught.value.reason == "decompression_bomb"


def test_pdf_with_a_huge_page_count_is_rejected_by_max_pages():
    with pytest.raises(InvalidInputError, match="100000 pages; the limit \\(max_pages\\) is 5000"):
        open_document(pdf_with_pages(100_000))
    assert open_document(pdf_with_pages(3)).page_count == 3


def test_a_zip_needing_an_unknown_zip_version_is_a_corrupt_docx():
    """Found by fuzzing: zipfile raises NotImplementedError for a "version needed to extract" it
    does not know, which type detection must survive too."""
    data = bytearray(make_docx(["Quarterly report."]))
    data[data.rfind(b"PK\x01\x02") + 6] = 225  # the last entry needs zip version 22.5
    with pytest.raises(InvalidInputError, match="corrupt DOCX file"):
        list(open_document(bytes(data)).pages)
