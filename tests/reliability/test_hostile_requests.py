"""Requests as an attacker sends them, against the real server (both deployments, HTTP and gRPC).

KServe v2 lets any client put ``nvcf-*`` keys in a request, so they must not read or write outside
the operator's roots (``pipeline.nvcf``): each attack goes as request-body parameters and as
headers. OPTIONS cannot raise the operator's ceilings (``pipeline.options``). The server answers
INVALID_ARG, touches nothing, stays ready, and serves the next request."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
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


def peak_rss_mb(pid: int) -> dict[int, tuple[str, int]]:
    """Each process of the server's tree: its name and peak RSS so far (VmHWM), MiB."""
    import psutil

    found = {}
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            found[process.pid] = (" ".join(process.cmdline())[-40:], int(status.split("VmHWM:")[1].split()[0]) // 1024)
        except (OSError, psutil.Error):
            continue  # a worker that ended meanwhile
    return found


def test_sixty_four_texts_of_a_mebibyte_cost_the_stubs_little_memory(server, clients):
    """The largest ``embed`` request the input policy lets through by count (64 texts) at 1 MiB each:
    the tokenizer once tokenized them whole (2.5 GB, 44 s). Peak RSS growth of every process of the
    server is measured (VmHWM) and reported; none may grow by more than 6 times the body."""
    from support.clients import embed_with
    from support.load import write_report

    pid = server.process.pid
    text = ("triton serves models over http and grpc " * 30_000)[: 1 << 20]
    embed_with(clients["http"], "http", ["warm up"])
    before = peak_rss_mb(pid)
    vectors = embed_with(clients["http"], "http", [text] * 64)
    after = peak_rss_mb(pid)
    grew = {before[p][0]: after[p][1] - before[p][1] for p in before if p in after}
    write_report(f"stub_memory_{server.kind}", {"request_mib": 64, "peak_rss_growth_mib": grew})
    assert vectors.shape == (64, 384) and np.allclose(vectors, vectors[0], atol=1e-5)
    assert max(grew.values()) < 6 * 64, grew
    assert server.is_ready()
