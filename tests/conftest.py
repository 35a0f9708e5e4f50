"""Shared fixtures: the real server, on free ports, in both deployment styles.

``server`` is parametrised: every test that uses it runs against plain tritonserver on
model_repository/ ("triton") and against ``python -m pytriton_app`` ("pytriton").

Tests that start a server are marked ``integration``: by hand where a test starts its own, and
here, automatically, for every test that uses a server fixture. ``make test-fast`` runs the rest.
"""

from __future__ import annotations

import os

import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from support.clients import HTTP_TIMEOUT, PROTOCOLS
from support.pytriton import PyTritonProcess
from support.silent_triton import SilentTriton
from triton_ingest.models.artifacts import OCR_DETECTOR_FILE, OCR_RECOGNIZER_FILES, ONNX_FILE, TOKENIZER_FILE, artifact
from triton_ingest.pipeline.nvcf import LOCAL_NVCF_DIR, NVCF_ROOTS
from triton_ingest.serving.server import TritonServer


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the shared ``server`` (directly or through another fixture).
    A test module with a fixture that starts a server of its own marks itself (``pytestmark``)."""
    for item in items:
        if "server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def nvcf_roots(tmp_path_factory):
    """Every server a test starts allows NVCF directories under pytest's temporary root (where
    ``tmp_path`` lives) and the local default, and nowhere else (``pipeline.nvcf``)."""
    patch = pytest.MonkeyPatch()
    for name in NVCF_ROOTS:
        patch.setenv(name, os.pathsep.join([str(tmp_path_factory.getbasetemp()), str(LOCAL_NVCF_DIR)]))
    yield
    patch.undo()


@pytest.fixture(scope="session", params=["triton", "pytriton"])
def server(request, tmp_path_factory):
    """The real server (started once per session and deployment style). Its processes get a
    private ``TMPDIR`` (``server.tmpdir``), so tests can see everything they write there."""
    tmpdir = tmp_path_factory.mktemp(f"{request.param}-tmpdir")
    if request.param == "triton":
        running = TritonServer.on_free_ports(env={"TMPDIR": str(tmpdir)})
        running.kind = "triton"
    else:
        running = PyTritonProcess(env={"TMPDIR": str(tmpdir)})
    running.tmpdir = tmpdir
    with running:
        yield running


@pytest.fixture(scope="session")
def clients(server):
    """One tritonclient per protocol."""
    made = {
        "http": httpclient.InferenceServerClient(server.http_url, concurrency=16, network_timeout=HTTP_TIMEOUT),
        "grpc": grpcclient.InferenceServerClient(server.grpc_url),
    }
    yield made
    for client in made.values():
        client.close()


@pytest.fixture(params=PROTOCOLS)
def protocol(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def reference_model():
    """sentence-transformers' own all-MiniLM-L6-v2, the ground truth for parity."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    from triton_ingest.models.export import source_model_dir

    return SentenceTransformer(str(source_model_dir()), device="cpu")


@pytest.fixture(scope="session")
def rapidocr():
    """RapidOCR 1.4.4 in-process with our detector and English recognizer, no direction classifier:
    the reference for the OCR pre- and post-processing."""
    from rapidocr_onnxruntime import RapidOCR

    model, keys = OCR_RECOGNIZER_FILES["en"]
    return RapidOCR(det_model_path=str(artifact(OCR_DETECTOR_FILE)), rec_model_path=str(artifact(model)),
                    rec_keys_path=str(artifact(keys)), use_cls=False)


@pytest.fixture(scope="session")
def onnx_path():
    return artifact(ONNX_FILE)


@pytest.fixture(scope="session")
def tokenizer_path():
    return artifact(TOKENIZER_FILE)


@pytest.fixture
def silent_triton() -> str:
    """The gRPC address of a Triton that never answers (see support/silent_triton.py): jobs sent
    there stay running until the test ends."""
    with SilentTriton() as silent:
        yield silent.grpc_url

