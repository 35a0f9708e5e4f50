"""Requests as an attacker sends them, against the real server (both deployments, HTTP and gRPC).

KServe v2 lets any client put ``nvcf-*`` keys in a request, so they must not read or write outside
the operator's roots (``pipeline.nvcf``): each attack goes as request-body parameters and as
headers. OPTIONS cannot raise the operator's ceilings (``pipeline.options``). The server answers
INVALID_ARG, touches nothing, stays ready, and serves the next request."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from tritonclient.utils import InferenceServerException

from support.clients import INVALID_ARG, ingest_tensors, ingest_with, request_headers
from support.documents import make_pdf
from triton_ingest.contracts import INGEST
from triton_ingest.paths import REPO_ROOT


@pytest.fixture(params=["parameters", "headers"])
def attack(request, clients, protocol):
    """Send one ``ingest`` with ``nvcf`` values as request parameters or as headers."""

    def send(nvcf: dict, options: dict | None = None, document: bytes = b"plain text"):
        tensors = ingest_tensors(protocol, document, "doc.txt", options)
        extra = {"parameters": nvcf} if request.param == "parameters" else {"headers": request_headers(protocol, nvcf)}
        return clients[protocol].infer(INGEST.name, tensors, **extra)

    return send


def refused(send, nvcf: dict, message: str, **kwargs) -> None:
    with pytest.raises(InferenceServerException, match=message) as caught:
        send(nvcf, **kwargs)
    assert str(caught.value.status()) in INVALID_ARG.values(), caught.value


def still_serving(server, clients, protocol) -> None:
    assert server.is_ready()
    assert ingest_with(clients[protocol], protocol, make_pdf(1))["summary"]["pages"] == 1


def test_no_file_outside_the_asset_roots_is_read(server, clients, protocol, attack, tmp_path):
    """The attack of issue 21: a readable file anywhere came back as chunks."""
    refused(attack, {"nvcf-asset-dir": str(REPO_ROOT)}, "NVCF-ASSET-DIR .* is outside", options={"asset": "README.md"})
    (tmp_path / "leak").symlink_to(REPO_ROOT / "README.md")  # the asset dir is allowed, the link's target is not
    refused(attack, {"nvcf-asset-dir": str(tmp_path)}, "is not in NVCF-ASSET-DIR", options={"asset": "leak"})
    still_serving(server, clients, protocol)


def test_nothing_is_created_outside_the_output_roots(server, clients, protocol, attack, tmp_path):
    """The attack of issue 21: a directory with ``progress`` and ``x.jsonl`` appeared anywhere."""
    outside = Path("/tmp") / f"triton-ingest-hostile-{uuid.uuid4().hex}"
    refused(attack, {"nvcf-large-output-dir": str(outside), "nvcf-reqid": "x"}, "NVCF-LARGE-OUTPUT-DIR .* is outside")
    assert not outside.exists()
    escape = tmp_path / "out" / ".." / ".." / f"escape-{uuid.uuid4().hex}"
    refused(attack, {"nvcf-large-output-dir": str(escape)}, "without '..'")
    assert not Path(str(escape).replace("/out/../..", "")).exists() and not (tmp_path / "out").exists()
    still_serving(server, clients, protocol)


@pytest.mark.parametrize("request_id", ["../../evil", "a/b", ".hidden", "x" * 200])
def test_request_ids_cannot_name_other_files(server, clients, protocol, attack, tmp_path, request_id):
    refused(attack, {"nvcf-large-output-dir": str(tmp_path), "nvcf-reqid": request_id}, "NVCF-REQID must be")
    assert list(tmp_path.iterdir()) == [] and list(tmp_path.parent.glob("*evil*")) == []
    still_serving(server, clients, protocol)


def test_nvcf_values_inside_the_roots_still_work(clients, protocol, attack, tmp_path):
    (tmp_path / "asset-1").write_bytes(make_pdf(2))
    reply = attack({"nvcf-asset-dir": str(tmp_path), "nvcf-large-output-dir": str(tmp_path / "out"),
                    "nvcf-reqid": "req-1"}, options={"asset": "asset-1"}, document=b"")
    assert reply.as_numpy("CHUNKS").size > 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["progress", "req-1.jsonl"]


@pytest.mark.parametrize("options", [{"max_pixels": 500_000_000}, {"max_unzipped_bytes": 4 << 30},
                                     {"max_pages": 100_000}, {"time_limit_s": 86_400}])
def test_options_cannot_raise_the_operators_ceilings(server, clients, protocol, options):
    key = next(iter(options))
    with pytest.raises(InferenceServerException, match=f"OPTIONS.{key} .* this server allows at most") as caught:
        ingest_with(clients[protocol], protocol, b"plain text", "doc.txt", options)
    assert str(caught.value.status()) in INVALID_ARG.values()
    still_serving(server, clients, protocol)
