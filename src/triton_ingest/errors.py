"""The exception tree of triton-ingest, shared by server library and adapters.

    TritonIngestError            base of everything raised on purpose
    ├── InvalidInputError        the request is wrong           -> INVALID_ARG  (HTTP 400)
    ├── UnavailableError         try again later (overload)     -> UNAVAILABLE  (HTTP 503)
    ├── CancelledError           the client cancelled           -> CANCELLED
    └── InternalError            a bug or broken artefact       -> INTERNAL     (HTTP 500)

Each class carries the Triton status it maps to, so the Python-backend
adapter (``triton_adapter``) turns it into the same status over HTTP and
gRPC. Messages are written for the client: they name the tensor and the
problem, and never include a traceback.
"""

from __future__ import annotations

from triton_ingest_client._errors import NOT_SERVED, TRANSIENT_MESSAGES


class TritonIngestError(Exception):
    """Base class; ``status`` is a ``pb_utils.TritonError`` code name, ``reason`` a short
    machine-readable cause (the ``reason`` label of ``triton_ingest_failures_total``)."""

    status = "INTERNAL"
    reason = "internal"

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class InvalidInputError(TritonIngestError):
    """The request itself is malformed: bad text, shape, value or option."""

    status = "INVALID_ARG"
    reason = "invalid_input"


class UnavailableError(TritonIngestError):
    """The server cannot take the request now; the client may retry."""

    status = "UNAVAILABLE"
    reason = "unavailable"


def not_served(what: str, why: str) -> UnavailableError:
    """UNAVAILABLE for a model that loaded but cannot serve on this machine; the client's
    ``NotServedError`` (never retried) recognises :data:`NOT_SERVED` in the message."""
    return UnavailableError(f"{what} {NOT_SERVED}: {why}", reason="not_served")


class CancelledError(TritonIngestError):
    """The request was cancelled by its client; its work was abandoned."""

    status = "CANCELLED"
    reason = "cancelled"


class InternalError(TritonIngestError):
    """Something on the server side is broken (missing artefact, bug)."""

    status = "INTERNAL"


def is_transient(message: str) -> bool:
    """True for Triton errors that pass: a full or timed-out queue, a stub or model being restarted."""
    return any(marker in message for marker in TRANSIENT_MESSAGES)
