"""Client logic without a server: error mapping, retry policy, job bookkeeping (fake transport)."""

from __future__ import annotations

import numpy as np
import pytest
from triton_ingest_client import (
    AuthenticationError,
    Client,
    DeadlineExceededError,
    InvalidInputError,
    NotFoundError,
    ServerError,
    UnavailableError,
)
from triton_ingest_client._errors import from_status
from triton_ingest_client._nvcf import NvcfTransport, resolve_api_key
from triton_ingest_client._retry import RetryPolicy


@pytest.mark.parametrize(
    "http, grpc, expected",
    [
        ("400", "StatusCode.INVALID_ARGUMENT", InvalidInputError),
        ("404", "StatusCode.NOT_FOUND", NotFoundError),
        ("401", "StatusCode.UNAUTHENTICATED", AuthenticationError),
        ("503", "StatusCode.UNAVAILABLE", UnavailableError),
        ("429", "StatusCode.RESOURCE_EXHAUSTED", UnavailableError),
        ("504", "StatusCode.DEADLINE_EXCEEDED", DeadlineExceededError),
        ("500", "StatusCode.INTERNAL", ServerError),
    ],
)
def test_http_and_grpc_statuses_map_to_the_same_exception(http, grpc, expected):
    assert type(from_status(http, "m")) is expected and type(from_status(grpc, "m")) is expected
    assert from_status(grpc, "m").status == grpc


class FlakyTransport:
    """Fails with ``error`` the first ``failures`` calls, then answers."""

    def __init__(self, failures: int, error: Exception):
        self.failures, self.error, self.calls = failures, error, 0

    def infer(self, model, tensors, outputs, headers=None, on_progress=None):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return {"EMBEDDING": np.ones((len(tensors["TEXT"]), 384), np.float32)}

    def close(self):
        pass


def flaky_client(failures, error, retries=3):
    transport = FlakyTransport(failures, error)
    client = Client("fake:1", transport_factory=lambda: transport, retries=retries)
    client.retry = RetryPolicy(retries=retries, base=0.001, cap=0.002)
    return client, transport


def test_unavailable_is_retried_until_success():
    client, transport = flaky_client(2, UnavailableError("busy", "503"))
    assert client.embed(["a"]).shape == (1, 384) and transport.calls == 3


def test_retries_are_finite_by_default_and_reraise():
    assert Client("x:1").retry.retries == 5
    client, transport = flaky_client(100, UnavailableError("busy", "503"), retries=3)
    with pytest.raises(UnavailableError):
        client.embed(["a"])
    assert transport.calls == 4


def test_invalid_input_is_not_retried():
    client, transport = flaky_client(1, InvalidInputError("bad", "400"))
    with pytest.raises(InvalidInputError):
        client.embed(["a"])
    assert transport.calls == 1


def test_embed_rejects_non_text_and_splits_large_batches():
    client, transport = flaky_client(0, None)
    with pytest.raises(InvalidInputError):
        client.embed("not a list")
    assert client.embed([str(i) for i in range(130)]).shape == (130, 384) and transport.calls == 3


def test_unknown_job_id_is_a_typed_failure_not_an_exception():
    client, _ = flaky_client(0, None)
    [result] = client.fetch(["no-such-id"])
    assert not result.ok and isinstance(result.error, NotFoundError)


def test_bad_job_specs_are_rejected():
    client, _ = flaky_client(0, None)
    with pytest.raises(InvalidInputError):
        client.submit([{"path": "a", "data": "b"}])
    with pytest.raises(InvalidInputError):
        client.submit([{"path": "a", "colour": "red"}])


def test_api_key_comes_from_the_environment_and_stays_out_of_reprs(monkeypatch):
    monkeypatch.delenv("NVCF_API_KEY", raising=False)
    monkeypatch.setenv("NGC_API_KEY", "ngc-secret-1")
    assert resolve_api_key(None) == "ngc-secret-1"
    monkeypatch.setenv("NVCF_API_KEY", "nvcf-secret-2")
    assert resolve_api_key(None) == "nvcf-secret-2" and resolve_api_key("explicit") == "explicit"
    transport = NvcfTransport("http://x", {"*": "f"}, "nvcf-secret-2", None, 10)
    client = Client.nvcf("f", base_url="http://x")
    assert "secret" not in repr(transport) + repr(client) + str(vars(client))


@pytest.mark.parametrize("status, message", [
    ("StatusCode.INTERNAL", "in ensemble 'embed', Stub process 'embedder_0_0' is not healthy."),
    ("500", "embed failed: Model embed - Error when running inference: Server not ready"),
    ("400", "Request for unknown model: 'ingest' is not ready"),
    ("StatusCode.UNAVAILABLE", "in ensemble 'embed', Exceeds maximum queue size"),
    ("StatusCode.NOT_FOUND", "Request for unknown model: 'embed' has no available versions"),
])
def test_transient_server_states_are_retryable_whatever_their_status(status, message):
    error = from_status(status, message)
    assert error.retryable and error.status == status


def test_an_unknown_model_is_not_retried():
    error = from_status("StatusCode.NOT_FOUND", "Request for unknown model: 'embedd' is not found")
    assert not error.retryable and type(error).__name__ == "NotFoundError"
