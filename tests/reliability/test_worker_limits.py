"""A server started with the operator's limits set low (``TRITON_INGEST_WORKER_MEMORY_BYTES``,
``TRITON_INGEST_CEILING_*``): images, the ``ocr`` model's included, are decoded in worker processes,
so one that needs more memory than a worker may use fails alone; the server stays ready."""

from __future__ import annotations

import io

import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from support.clients import INVALID_ARG, ingest_with, ocr_with
from support.documents import make_pdf
from triton_ingest.serving.server import TritonServer

pytestmark = pytest.mark.integration
LIMITS = {"TRITON_INGEST_WORKER_MEMORY_BYTES": str(1 << 30), "TRITON_INGEST_CEILING_MAX_PIXELS": "250000000",
          "TRITON_INGEST_CEILING_MAX_PAGES": "2"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    with TritonServer.on_free_ports(work_dir=tmp_path_factory.mktemp("limited"), env=LIMITS) as server:
        yield server, httpclient.InferenceServerClient(server.http_url, network_timeout=300)


def white_png(side: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (side, side), 255).save(out, "PNG")
    return out.getvalue()


def test_an_image_over_the_worker_memory_limit_fails_alone_in_ocr_and_ingest(limited):
    """15,000 x 15,000 pixels (225 M, under the raised max_pixels ceiling) need about 1.6 GB to
    decode: over the 1 GiB worker limit. Decoded inside the ocr model's stub, it was served."""
    server, client = limited
    huge = white_png(15_000)
    for call in (lambda: ocr_with(client, "http", huge, {"max_pixels": 250_000_000}),
                 lambda: ingest_with(client, "http", huge, "huge.png", {"max_pixels": 250_000_000})):
        with pytest.raises(InferenceServerException, match="ran out of memory; the worker memory limit is 1024 MiB") \
                as caught:
            call()
        assert caught.value.status() == INVALID_ARG["http"]
    assert server.is_ready()
    lines, summary = ocr_with(client, "http", white_png(800))
    assert lines == [] and (summary["width"], summary["height"]) == (800, 800)


def test_the_operators_ceilings_hold_and_lower_the_defaults(limited):
    _, client = limited
    with pytest.raises(InferenceServerException, match="has 3 pages; the limit \\(max_pages\\) is 2"):
        ingest_with(client, "http", make_pdf(3), "three.pdf")
    with pytest.raises(InferenceServerException, match="OPTIONS.max_pages is 5; this server allows at most 2"):
        ingest_with(client, "http", make_pdf(1), "one.pdf", {"max_pages": 5})
    assert ingest_with(client, "http", make_pdf(2), "two.pdf")["summary"]["pages"] == 2
