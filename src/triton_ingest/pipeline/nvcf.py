"""The NVCF values of one request, and the trust boundary they cross.

NVCF tells a function where things are with headers (``NVCF-REQID``, ``NVCF-ASSET-DIR``,
``NVCF-LARGE-OUTPUT-DIR``), which Triton forwards to the model as request parameters. Any KServe v2
client can put the same keys in a request body, and the model cannot tell the two apart. So a value
is used only where it is harmless whoever sent it:

- ``NVCF-REQID`` names the result file: 1 to 128 letters, digits, ``.``, ``_`` or ``-``, not
  starting with ``.``.
- ``NVCF-ASSET-DIR`` and ``NVCF-LARGE-OUTPUT-DIR`` are absolute paths without ``..`` that, symlinks
  resolved, lie in a root the operator allows: NVCF's own layout (``/var/inf/inputAssets``,
  ``/var/inf/response``) unless ``TRITON_INGEST_NVCF_ASSET_ROOTS`` or
  ``TRITON_INGEST_NVCF_OUTPUT_ROOTS`` (``os.pathsep``-separated) say otherwise.
- An asset is a plain name; its file, symlinks resolved, lies in the asset directory and is no
  larger than the document limit.

Anything else is INVALID_ARG, naming the parameter; nothing is read or created.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import InvalidInputError

REQID_HEADER = "nvcf-reqid"
OUTPUT_DIR_HEADER = "nvcf-large-output-dir"
ASSET_DIR_HEADER = "nvcf-asset-dir"
ASSET_ROOTS_ENV = "TRITON_INGEST_NVCF_ASSET_ROOTS"
OUTPUT_ROOTS_ENV = "TRITON_INGEST_NVCF_OUTPUT_ROOTS"
NVCF_ROOTS = {ASSET_ROOTS_ENV: "/var/inf/inputAssets", OUTPUT_ROOTS_ENV: "/var/inf/response"}
"""Where NVCF puts a request's assets and takes its large outputs: the default roots."""
LOCAL_NVCF_DIR = Path(tempfile.gettempdir()) / "triton-ingest-nvcf-local"
"""What the local launchers allow besides NVCF's roots: the local gateway's work directory and the
SDK's local progress directories live here (see :func:`local_roots`)."""
REQUEST_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


def local_roots(env: Mapping[str, str]) -> dict[str, str]:
    """The root variables for a server started on this machine (``make serve``, tests): what ``env``
    sets, else NVCF's roots plus :data:`LOCAL_NVCF_DIR`."""
    return {name: env.get(name) or os.pathsep.join([nvcf_root, str(LOCAL_NVCF_DIR)])
            for name, nvcf_root in NVCF_ROOTS.items()}


def allowed_roots(name: str) -> list[Path]:
    """The roots in the environment variable ``name`` (NVCF's default when unset), symlinks resolved."""
    raw = os.environ.get(name) or NVCF_ROOTS[name]
    return [Path(os.path.realpath(root)) for root in raw.split(os.pathsep) if root]


def confined(raw: str, header: str, roots_env: str) -> Path:
    """``raw`` resolved, when it lies in one of the roots of ``roots_env``; else InvalidInputError."""
    path = Path(raw)
    if "\x00" in raw or not path.is_absolute() or ".." in path.parts:
        raise InvalidInputError(f"{header.upper()} must be an absolute path without '..', got {raw!r}")
    real = Path(os.path.realpath(path))
    if any(real == root or root in real.parents for root in allowed_roots(roots_env)):
        return real
    raise InvalidInputError(f"{header.upper()} {raw!r} is outside the directories this server allows "
                            f"for it (the operator sets them in {roots_env})")


def request_id(raw: str) -> str:
    if not REQUEST_ID.fullmatch(raw):
        raise InvalidInputError(f"NVCF-REQID must be 1 to 128 letters, digits, '.', '_' or '-' and not start "
                                f"with '.', got {raw[:40]!r}")
    return raw


@dataclass(frozen=True)
class NvcfRequest:
    """The checked NVCF values of one request; all empty without NVCF."""

    request_id: str = ""
    output_dir: Path | None = None
    asset_dir: Path | None = None

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> "NvcfRequest":
        """From request parameters (keys in any case, as header case varies); InvalidInputError
        names the first value that is not allowed."""
        given = {str(k).lower(): str(v) for k, v in parameters.items() if str(k).lower().startswith("nvcf-")}
        output, assets = given.get(OUTPUT_DIR_HEADER), given.get(ASSET_DIR_HEADER)
        return cls(request_id(given[REQID_HEADER]) if REQID_HEADER in given else "",
                   confined(output, OUTPUT_DIR_HEADER, OUTPUT_ROOTS_ENV) if output else None,
                   confined(assets, ASSET_DIR_HEADER, ASSET_ROOTS_ENV) if assets else None)

    def read_asset(self, name: str, max_bytes: int) -> bytes:
        """The document NVCF stored in the asset directory under ``name`` (inputs over 5 MB)."""
        if self.asset_dir is None:
            raise InvalidInputError("OPTIONS.asset was given but the request has no NVCF-ASSET-DIR header")
        if Path(name).name != name or name in ("", ".", ".."):
            raise InvalidInputError(f"OPTIONS.asset must be a plain asset name, got {name!r}")
        path = Path(os.path.realpath(self.asset_dir / name))
        if path.parent != self.asset_dir or not path.is_file():
            raise InvalidInputError(f"asset {name!r} is not in NVCF-ASSET-DIR")
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise InvalidInputError(f"asset {name!r} is larger than OPTIONS.max_bytes ({max_bytes} bytes)")
        return data
