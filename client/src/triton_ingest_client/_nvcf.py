"""Private NVCF transport: KServe v2 infer through ``/v2/nvcf/pexec`` with 202 polling.

POST ``/v2/nvcf/pexec/functions/{id}[/versions/{vid}]`` carries the v2 infer body
(binary tensor extension, built by tritonclient). A 202 answer carries
``NVCF-REQID`` and ``NVCF-PERCENT-COMPLETE``; the transport then polls
``GET /v2/nvcf/pexec/status/{reqid}`` until 200. 302 redirects to large
results are followed, without the Authorization header when the host changes.
The API key is held privately and never appears in messages or reprs.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Mapping

import tritonclient.http as httpclient

from ._errors import TritonIngestClientError, UnavailableError, from_status
from ._results import Progress, ProgressCallback
from ._transport import Tensors, make_inputs

API_KEY_VARIABLES = ("NVCF_API_KEY", "NGC_API_KEY")
MIN_POLL_INTERVAL = 0.25  # seconds between status polls when the server does not long-poll


def resolve_api_key(api_key: str | None) -> str | None:
    """The explicit key, else ``$NVCF_API_KEY``, else ``$NGC_API_KEY``, else None."""
    return api_key or next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)


class _SameHostAuth(urllib.request.HTTPRedirectHandler):
    """Follow redirects, dropping credentials when the redirect leaves the original host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


class NvcfTransport:
    """NVCF pexec calls for the client's ``infer``; ``functions`` maps model (or ``"*"``) to function id."""

    def __init__(self, base_url: str, functions: Mapping[str, str], api_key: str | None, version_id: str | None,
                 timeout: float, poll_seconds: float | None = None):
        self.url = base_url.rstrip("/")
        if "://" not in self.url:
            self.url = "http://" + self.url
        self.functions, self.version_id, self.timeout = dict(functions), version_id, timeout
        self.poll_seconds = poll_seconds
        self.__api_key = api_key
        self._opener = urllib.request.build_opener(_SameHostAuth)

    def __repr__(self) -> str:
        return f"NvcfTransport(url={self.url!r}, functions={self.functions!r})"

    def _function(self, model: str) -> str:
        try:
            return self.functions.get(model) or self.functions["*"]
        except KeyError:
            raise from_status("404", f"no NVCF function id configured for model {model!r}") from None

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {**(extra or {})}
        if self.__api_key:
            headers["Authorization"] = f"Bearer {self.__api_key}"
        if self.poll_seconds is not None:
            headers["NVCF-POLL-SECONDS"] = str(int(self.poll_seconds))
        return headers

    def _open(self, request: urllib.request.Request):
        try:
            return self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code in (200, 202):
                return exc
            body = exc.read().decode(errors="replace")
            raise from_status(str(exc.code), error_message(body) or f"HTTP {exc.code} from NVCF") from None
        except (urllib.error.URLError, OSError) as exc:
            raise UnavailableError(f"cannot reach NVCF at {self.url}: {getattr(exc, 'reason', exc)}") from None

    def infer(self, model: str, tensors: Tensors, outputs: list[str], headers: Mapping[str, str] | None = None,
              on_progress: ProgressCallback | None = None) -> Tensors:
        asked = time.monotonic()
        reply = self._open(self._post(model, tensors, headers))
        deadline = asked + self.timeout
        last_percent = None
        while reply.status == 202:
            request_id = reply.headers.get("NVCF-REQID")
            percent = reply.headers.get("NVCF-PERCENT-COMPLETE")
            if on_progress is not None and percent is not None and percent != last_percent:
                last_percent = percent
                on_progress(Progress(float(percent)))
            if time.monotonic() > deadline:
                raise from_status("504", f"NVCF request {request_id} not done within {self.timeout} s")
            time.sleep(max(0.0, MIN_POLL_INTERVAL - (time.monotonic() - asked)))  # the server may answer at once
            asked = time.monotonic()
            reply = self._open(self.status_request(request_id))
        return self._parse(reply, outputs)

    def submit(self, model: str, tensors: Tensors) -> tuple[str | None, object]:
        """Start a request without waiting: (request id, None) on 202, or (None, reply) when already done."""
        request = self._post(model, tensors, {"NVCF-POLL-SECONDS": "0"})
        reply = self._open(request)
        return (reply.headers.get("NVCF-REQID"), None) if reply.status == 202 else (None, reply)

    def _post(self, model: str, tensors: Tensors, headers: Mapping[str, str] | None) -> urllib.request.Request:
        inputs = make_inputs(httpclient, tensors)  # binary tensor data, tritonclient's HTTP default
        body, json_size = httpclient.InferenceServerClient.generate_request_body(inputs)
        path = f"/v2/nvcf/pexec/functions/{self._function(model)}"
        if self.version_id:
            path += f"/versions/{self.version_id}"
        all_headers = self._headers(headers)
        all_headers["Content-Type"] = "application/octet-stream" if json_size else "application/json"
        if json_size:
            all_headers["Inference-Header-Content-Length"] = str(json_size)
        return urllib.request.Request(self.url + path, data=body, headers=all_headers, method="POST")

    def status_request(self, request_id: str) -> urllib.request.Request:
        return urllib.request.Request(f"{self.url}/v2/nvcf/pexec/status/{request_id}", headers=self._headers())

    def poll(self, request_id: str, outputs: list[str]) -> Tensors | None:
        """One status poll: the outputs when done, None while pending."""
        reply = self._open(self.status_request(request_id))
        return None if reply.status == 202 else self._parse(reply, outputs)

    @staticmethod
    def _parse(reply, outputs: list[str]) -> Tensors:
        body = reply.read()
        header_length = reply.headers.get("Inference-Header-Content-Length")
        try:
            result = httpclient.InferenceServerClient.parse_response_body(
                body, header_length=int(header_length) if header_length else None)
            return {name: result.as_numpy(name) for name in outputs}
        except Exception as exc:
            raise TritonIngestClientError(f"unreadable NVCF response: {type(exc).__name__}") from None

    def live(self) -> bool:
        return self.ready()

    def ready(self) -> bool:
        reply = self._open(urllib.request.Request(self.url + "/v2/health/ready", headers=self._headers()))
        return reply.status == 200

    def model_ready(self, model: str) -> bool:
        self._function(model)
        return self.ready()

    def close(self) -> None:
        pass


def error_message(body: str) -> str:
    """The message of an error body: ``{"error": "..."}``, OpenAI's ``{"error": {"message": ...}}``,
    FastAPI's ``{"detail": ...}``, or the text itself."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if not isinstance(parsed, dict):
        return str(parsed)[:500]
    error = parsed.get("error") or parsed.get("detail") or parsed
    return str(error.get("message", error) if isinstance(error, dict) else error)[:500]

