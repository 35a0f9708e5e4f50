"""Bad input gets INVALID_ARG for its own request only; the server stays ready."""

from __future__ import annotations

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from support.clients import INVALID_ARG, client_module, embed, embed_with, run_concurrently, text_input
from triton_ingest.contracts import EMBED

pytestmark = pytest.mark.integration


def raw_input(protocol, name, array, dtype):
    tensor = client_module(protocol).InferInput(name, list(array.shape), dtype)
    tensor.set_data_from_numpy(array)
    return tensor


BAD_REQUESTS = {
    "wrong dtype": (lambda p: [raw_input(p, "TEXT", np.zeros((2, 1), np.int32), "INT32")], "data-type is 'INT32'"),
    "wrong shape": (lambda p: [raw_input(p, "TEXT", np.array([[b"a", b"b"]], object), "BYTES")], "unexpected shape"),
    "unknown input": (lambda p: [text_input(p, ["a"], name="TEXTS")], "unexpected inference input 'TEXTS'"),
    "non-UTF-8": (lambda p: [text_input(p, ["fine", b"\xff\xfe bad"])], r"TEXT[1] is not valid UTF-8"),
    "empty batch": (lambda p: [raw_input(p, "TEXT", np.zeros((0, 1), object), "BYTES")], "input 'TEXT'"),
    "too many texts": (lambda p: [text_input(p, ["a"] * 65)], "batch-size must be <= 64"),
    "text over 4 MiB": (lambda p: [text_input(p, ["x" * (5 << 20)])], "the limit is 4194304"),
    "no inputs": (lambda p: [], "expected 1 inputs but got 0"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request_is_invalid_arg_and_server_stays_ready(clients, protocol, case):
    make_inputs, message = BAD_REQUESTS[case]
    client = clients[protocol]
    with pytest.raises(InferenceServerException) as caught:
        client.infer(EMBED.name, make_inputs(protocol))
    assert caught.value.status() == INVALID_ARG[protocol]
    assert message in caught.value.message()
    assert "Traceback" not in caught.value.message()
    assert client.is_server_ready() and client.is_model_ready(EMBED.name)
    assert embed(clients, protocol, ["still works"]).shape == (1, 384)


def test_bad_request_does_not_harm_requests_batched_with_it(server, clients, protocol):
    good = [f"good text {i}" for i in range(12)]
    expected = embed(clients, protocol, good)

    def send(client, i):
        if i % 4 == 3:
            try:
                embed_with(client, protocol, [b"\xc3\x28 broken"])
            except InferenceServerException as exc:
                return exc.status()
            return "unexpected success"
        return embed_with(client, protocol, [good[i]])[0]

    results = run_concurrently(server, protocol, send, list(range(len(good))))
    for i, result in enumerate(results):
        if i % 4 == 3:
            assert result == INVALID_ARG[protocol]
        else:
            np.testing.assert_allclose(result, expected[i], atol=2e-5)
