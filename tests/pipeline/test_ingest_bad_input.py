"""Bad documents and options: INVALID_ARG naming the problem, nothing presented as complete."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from support.clients import INVALID_ARG, client_module, embed, ingest_with, nvcf_request_headers, run_concurrently
from support.documents import make_encrypted_pdf, make_pdf
from support.hostile import (docx_bomb, pdf_with_pages, png_header, pptx_bomb, tiff_bomb_behind_a_small_frame,
                             tiff_with_frames)
from triton_ingest.contracts import INGEST

pytestmark = pytest.mark.integration

PDF = make_pdf(4)

BAD_DOCUMENTS = {
    "empty": (b"", None, "DOCUMENT is empty"),
    "truncated PDF": (PDF[: len(PDF) // 3], None, "corrupt or truncated PDF"),
    "encrypted PDF": (make_encrypted_pdf(), None, "encrypted PDF"),
    "corrupt PDF": (b"%PDF-1.7\n" + os.urandom(2000), None, "corrupt or truncated PDF"),
    "random bytes": (os.urandom(5000) + b"\x00", None, "binary data in no supported format"),
    "undecodable text": (bytes(range(128, 256)) * 20, None, "not text in any recognised encoding"),
    "over max_bytes": (b"x" * 5000, {"max_bytes": 1000}, "the limit (max_bytes) is 1000"),
    "over max_pages": (PDF, {"max_pages": 3}, "has 4 pages; the limit (max_pages) is 3"),
    "unknown option": (b"text", {"chunk_sise": 5}, "unknown key(s) ['chunk_sise']"),
    "bad option value": (b"text", {"chunk_size": 1000}, "OPTIONS.chunk_size must be an integer in [1, 254]"),
    "bad tables option": (b"text", {"tables": "maybe"}, 'OPTIONS.tables must be "auto" or "models" or "off"'),
    "DOCX decompression bomb": (docx_bomb(), None, "the limit (max_unzipped_bytes) is 268435456"),
    "huge page count": (pdf_with_pages(100_000), None, "has 100000 pages; the limit (max_pages) is 5000"),
    "image bomb": (png_header(30_000, 30_000), None, "30000x30000 image (900000000 pixels); the limit (max_pixels)"),
    "truncated image": (png_header(64, 64)[:-20], None, "has a corrupt or truncated image"),
    "TIFF of 6000 frames": (tiff_with_frames(6000), None, "has 6000 pages; the limit (max_pages) is 5000"),
    # 389 KB; before each frame was checked, its second frame took 4.3 GB and 20 s to decode
    "TIFF bomb behind a small first frame": (tiff_bomb_behind_a_small_frame(20_000, 20_000), None,
                                             "page 2 of DOCUMENT is a 20000x20000 image (400000000 pixels)"),
    "PPTX decompression bomb": (pptx_bomb(), None, "the limit (max_unzipped_bytes) is 268435456"),
    # one-token chunks embedded one at a time: about 27,000 sequential BLS round trips, which
    # no machine does in 1 s (each is two Python-backend hops), so the limit always strikes
    "over time_limit_s": (make_pdf(150), {"time_limit_s": 1, "chunk_size": 1, "chunk_overlap": 0, "embed_batch": 1,
                                          "max_in_flight": 1}, "was not done after 1 s (time_limit_s)"),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_bad_document_is_invalid_arg_and_leaves_nothing_complete(clients, protocol, case, tmp_path):
    document, options, message = BAD_DOCUMENTS[case]
    client = clients[protocol]
    with pytest.raises(InferenceServerException) as caught:
        ingest_with(client, protocol, document, "doc.bin", options, nvcf_request_headers(protocol, "bad", tmp_path))
    assert caught.value.status() == INVALID_ARG[protocol]
    assert message in caught.value.message() and "Traceback" not in caught.value.message()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress"]
    progress = json.loads((tmp_path / "progress").read_text())
    assert progress["progress"] < 100 and progress["partialResponse"]["status"] == "failed"
    assert client.is_server_ready() and client.is_model_ready(INGEST.name)
    assert ingest_with(client, protocol, b"Still working.")["summary"]["chunks"] == 1


def test_options_that_are_not_json(clients, protocol):
    module = client_module(protocol)
    tensors = []
    for name, value in (("DOCUMENT", b"text"), ("OPTIONS", b"{nope")):
        tensor = module.InferInput(name, [1], "BYTES")
        tensor.set_data_from_numpy(np.array([value], dtype=object))
        tensors.append(tensor)
    with pytest.raises(InferenceServerException, match="OPTIONS is not valid JSON") as caught:
        clients[protocol].infer(INGEST.name, tensors)
    assert caught.value.status() == INVALID_ARG[protocol]


def test_missing_document_is_rejected_by_triton(clients, protocol):
    module = client_module(protocol)
    tensor = module.InferInput("FILENAME", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([b"a.txt"], dtype=object))
    with pytest.raises(InferenceServerException, match="DOCUMENT") as caught:
        clients[protocol].infer(INGEST.name, [tensor])
    assert caught.value.status() == INVALID_ARG[protocol]


def test_bad_documents_do_not_harm_documents_in_flight(server, clients):
    jobs = [(make_pdf(6), True), (b"%PDF-1.4 broken", False)] * 3

    def send(client, job):
        document, good = job
        try:
            return ingest_with(client, "grpc", document, "x.pdf")["summary"]["chunks"]
        except InferenceServerException as exc:
            return exc.status()

    results = run_concurrently(server, "grpc", send, jobs, 6)
    for (document, good), result in zip(jobs, results):
        assert result == (6 if good else INVALID_ARG["grpc"])
    assert embed(clients, "grpc", ["ok"]).shape == (1, 384)
