"""The client's exception tree: one meaning over HTTP, gRPC and NVCF.

    TritonIngestClientError        base of everything the client raises
    ├── InvalidInputError          the request is wrong; do not retry       HTTP 400 | INVALID_ARGUMENT
    ├── NotFoundError              unknown model, job id or function        HTTP 404 | NOT_FOUND
    ├── AuthenticationError        missing or refused credentials           HTTP 401/403 | UNAUTHENTICATED
    ├── UnavailableError           overloaded or restarting: retried        HTTP 429/503 | UNAVAILABLE
    │   │                          (and the transient INTERNAL messages in TRANSIENT_MESSAGES)
    │   └── NotServedError         the model cannot serve on that machine   UNAVAILABLE naming NOT_SERVED
    │                              (embed_int8 with no accurate variant on its CPU): not retried
    ├── DeadlineExceededError      the request timed out                    HTTP 504 | DEADLINE_EXCEEDED
    ├── CancelledError             the request was cancelled                CANCELLED
    └── ServerError                anything else on the server side         HTTP 5xx | INTERNAL ...

A job's failure travels as a ``reason`` (:data:`REASONS`, plus ``"interrupted"`` for a job that
was running when its gateway stopped), so ``fetch`` raises the same class on the other side.

tritonclient reports ``"400"`` over HTTP and ``"StatusCode.INVALID_ARGUMENT"``
over gRPC for the same problem; :func:`from_status` maps both to one class.
"""

from __future__ import annotations


class TritonIngestClientError(Exception):
    """Base class. ``status`` is the transport's raw status (``"400"``, ``"StatusCode.UNAVAILABLE"``)."""

    retryable = False

    def __init__(self, message: str, status: str | None = None):
        super().__init__(message)
        self.message, self.status = message, status


class InvalidInputError(TritonIngestClientError):
    """The request or document is invalid; the message names the problem."""


class NotFoundError(TritonIngestClientError):
    """The model, job or function does not exist (or a result has expired)."""


class AuthenticationError(TritonIngestClientError):
    """Credentials were missing or refused."""


class UnavailableError(TritonIngestClientError):
    """The server is overloaded, starting or restarting; retried with backoff."""

    retryable = True


class NotServedError(UnavailableError):
    """The model is loaded but cannot serve on that server's machine (``embed_int8`` where no int8
    variant is accurate on its CPU); retrying will not help: use another model or server."""

    retryable = False


class DeadlineExceededError(TritonIngestClientError):
    """The request did not finish within its timeout."""


class CancelledError(TritonIngestClientError):
    """The request was cancelled."""


class ServerError(TritonIngestClientError):
    """An internal error on the server side."""


_STATUS = {
    "400": InvalidInputError, "INVALID_ARGUMENT": InvalidInputError, "INVALID_ARG": InvalidInputError,
    "404": NotFoundError, "NOT_FOUND": NotFoundError,
    "401": AuthenticationError, "403": AuthenticationError,
    "UNAUTHENTICATED": AuthenticationError, "PERMISSION_DENIED": AuthenticationError,
    "429": UnavailableError, "502": UnavailableError, "503": UnavailableError,
    "UNAVAILABLE": UnavailableError, "RESOURCE_EXHAUSTED": UnavailableError,
    "504": DeadlineExceededError, "DEADLINE_EXCEEDED": DeadlineExceededError,
    "CANCELLED": CancelledError, "499": CancelledError,
}


def error_class(status: str | None) -> type[TritonIngestClientError]:
    """The exception class for an HTTP status code or gRPC status name."""
    key = (status or "").removeprefix("StatusCode.")
    return _STATUS.get(key, ServerError)


TRANSIENT_MESSAGES = ("is not healthy", "Server not ready", "is not ready", "has no available versions",
                      "Exceeds maximum queue size", "Request timeout expired")
"""Triton reports these with INTERNAL, NOT_FOUND or a bare 400/500, yet they pass: a Python-backend
stub being restarted, a model (or an ensemble over it) being reloaded or drained, a full or
timed-out queue. They are retried."""


NOT_SERVED = "is not served on this machine"
"""The server says this (with UNAVAILABLE) of a model that loaded but cannot serve there."""


def from_status(status: str | None, message: str) -> TritonIngestClientError:
    """Build the exception for a transport status and message."""
    if NOT_SERVED in message:
        return NotServedError(message, status)
    if any(marker in message for marker in TRANSIENT_MESSAGES):
        return UnavailableError(message, status)
    return error_class(status)(message, status)


REASONS = {InvalidInputError: "invalid_input", NotFoundError: "not_found", AuthenticationError: "unauthenticated",
           NotServedError: "not_served", UnavailableError: "unavailable", DeadlineExceededError: "deadline_exceeded", CancelledError: "cancelled",
           ServerError: "server_error"}
"""The reason a failed job reports, per class (a base class's reason covers its subclasses)."""
INTERRUPTED = "interrupted"
WORKER_LOST = "worker_lost"


def reason_of(exc: TritonIngestClientError) -> str:
    return next((reason for cls, reason in REASONS.items() if isinstance(exc, cls)), "server_error")


def from_reason(reason: str, message: str) -> TritonIngestClientError:
    """The exception for a failed job's reason; an interrupted job, or one whose workers kept dying, is
    UnavailableError (submit it again)."""
    if reason in (INTERRUPTED, WORKER_LOST):
        return UnavailableError(message, reason)
    return next((cls for cls, known in REASONS.items() if known == reason), ServerError)(message, reason)
