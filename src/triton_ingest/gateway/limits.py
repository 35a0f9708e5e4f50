"""The gateway's operator-set ceilings, and what enforces them before any work is done.

- :class:`Limits`: per-route request body ceilings (413), the invocations kept and in flight
  (429 with ``Retry-After``) and the timeout of every call to Triton (504).
- :func:`read_body`: a request body read in blocks, refused as soon as it passes its ceiling (by
  ``Content-Length`` before anything is read, or while reading a chunked body).
- :func:`insecure_refusal`: why a gateway must not start (a non-loopback address without an API key).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aiohttp import web

MiB = 1 << 20
READ_BLOCK = 1 << 16


@dataclass
class Limits:
    """What one gateway accepts; every field is a CLI flag (``--max-pexec-body-bytes``, ...)."""

    pexec_body_bytes: int = 64 * MiB
    embeddings_body_bytes: int = 16 * MiB
    max_invocations: int = 1000  # pexec invocations kept: in flight, or finished and kept for --ttl
    max_pending_invocations: int = 64  # of those, in flight (each holds its request body)
    triton_timeout: float = 600.0  # seconds for any one call to Triton


class BodyTooLarge(Exception):
    """A request body over its ceiling; the message names the flag that sets it."""

    def __init__(self, limit: int, flag: str, hint: str = ""):
        super().__init__(f"the request body is over {limit} bytes ({flag}){'; ' + hint if hint else ''}")


async def read_body(request: web.Request, limit: int, flag: str, hint: str = "") -> bytearray:
    """The whole body, at most ``limit`` bytes; :class:`BodyTooLarge` past it."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(limit, flag, hint)
    body = bytearray()
    async for block in request.content.iter_chunked(READ_BLOCK):
        body += block
        if len(body) > limit:
            raise BodyTooLarge(limit, flag, hint)
    return body


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name (or "" for every address): it may resolve anywhere
        return False


def insecure_refusal(host: str, api_key: str | None, insecure: bool, key_env: str) -> str | None:
    """Why the gateway must not listen on ``host``, or None when it may."""
    if api_key or insecure or is_loopback(host):
        return None
    return (f"refusing to serve on {host or 'every address'} without an API key: anyone who can reach it could "
            f"run jobs and read their results. Set ${key_env} (clients then send 'Authorization: Bearer <key>'), "
            "bind a loopback address (--host 127.0.0.1), or pass --insecure to serve without a key anyway.")
