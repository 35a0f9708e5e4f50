"""Compatibility patches for nvidia-pytriton 0.7.0, so the PyTriton app behaves like the
model repository. Each is pinned, checked at start-up and tested.

Errors. PyTriton 0.7 has no per-request error status. For any exception it sends
``TritonError(<full traceback text>)``, so every failure reaches the client as
INTERNAL (HTTP 500) with server file paths in it. Two patches fix that:

1. In this process, ``pytriton.proxy.inference`` formats an exception as
   ``"[<STATUS>] <message>"``: the status from ``triton_ingest.errors``, and no
   traceback. Unexpected exceptions become ``"[INTERNAL] internal error; see the
   server log"``, and their traceback is logged here.
2. In the proxy model that PyTriton copies into Triton, errors become per-request
   error responses (not an exception for the whole execute), and the prefix becomes the
   ``TritonError`` code: INVALID_ARG becomes HTTP 400 and gRPC INVALID_ARGUMENT, exactly as in
   the plain-Triton deployment.

Empty tensors. PyTriton's tensor store cannot copy a zero-size tensor, which an ingest with
no chunks, or the last ``ingest_stream`` response, returns. Such frames are copied as empty
bytes instead. (Its output validator has the same blind spot for object arrays, so the
bindings send strings as ``np.bytes_``.)
"""

from __future__ import annotations

import logging
import sys
import traceback
import types

from triton_ingest.errors import TritonIngestError

LOGGER = logging.getLogger("pytriton_app")
PROXY_REPLACEMENTS = {  # decoupled models: error responses; batched models: an exception for all requests
    'error=pb_utils.TritonError(responses_payload.decode("utf-8"))':
        'error=_status_error(responses_payload.decode("utf-8"))',
    """triton_responses_or_error = pb_utils.TritonModelException(  # pytype: disable=module-attr
                        responses_payload.decode("utf-8")
                    )""":
        """triton_responses_or_error = [
                        pb_utils.InferenceResponse(error=_status_error(responses_payload.decode("utf-8")))
                        for _ in triton_requests
                    ]""",
}
PROXY_HELPER = '''

def _status_error(message):
    """triton-ingest: "[STATUS] message" -> TritonError with that status code."""
    import re as _re
    found = _re.match(r"^\\[(INVALID_ARG|UNAVAILABLE|CANCELLED|INTERNAL|NOT_FOUND)\\] ", message)
    if found is None:
        return pb_utils.TritonError(message)
    return pb_utils.TritonError(message[found.end():], getattr(pb_utils.TritonError, found.group(1)))
'''


def client_message(exc: BaseException | None) -> str:
    """What the client sees for ``exc``: its status and message, never a traceback."""
    if isinstance(exc, TritonIngestError):
        return f"[{exc.status}] {exc}"
    if exc is not None:
        LOGGER.error("".join(traceback.format_exception(exc)))
    return "[INTERNAL] internal error; see the server log"


def _formatting_module() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        format_exception=lambda exc_type, value=None, tb=None, *a, **k: [
            client_message(value if isinstance(value, BaseException) else exc_type)],
        format_exc=lambda *a, **k: client_message(sys.exc_info()[1]),
    )


def patch_proxy_source(source: bytes) -> bytes:
    """The proxy model's source with status-preserving error responses."""
    text = source.decode()
    for old, new in PROXY_REPLACEMENTS.items():
        if old not in text:
            raise RuntimeError("nvidia-pytriton's proxy model changed; pytriton_app.errors needs updating")
        text = text.replace(old, new)
    return (text + PROXY_HELPER).encode()


def _copy_frames_allowing_empty(original):
    """PyTriton's tensor store cannot copy a zero-size tensor (``memoryview.cast`` fails on a
    shape with a 0), which an ingest with no chunks, or the last stream response, returns."""

    def copy_frames(self, frames, shm, offset):
        return original(self, [b"" if memoryview(f).nbytes == 0 else f for f in frames], shm, offset)

    return copy_frames


def install() -> None:
    """Apply the patches (idempotent)."""
    import pytriton.proxy.inference as inference
    from pytriton.models.model import Model
    from pytriton.proxy.data import TensorStore

    inference.traceback = _formatting_module()
    if not getattr(TensorStore._copy_frames, "_triton_ingest", False):
        TensorStore._copy_frames = _copy_frames_allowing_empty(TensorStore._copy_frames)
        TensorStore._copy_frames._triton_ingest = True
    if getattr(Model.get_proxy_model_files, "_triton_ingest", False):
        return
    original = Model.get_proxy_model_files

    def get_proxy_model_files(self):
        files = original(self)
        key = f"file:{self.model_version}/model.py"
        files[key] = patch_proxy_source(files[key])
        return files

    get_proxy_model_files._triton_ingest = True
    Model.get_proxy_model_files = get_proxy_model_files


