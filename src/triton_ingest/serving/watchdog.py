"""Restart Python-backend models whose stub process died.

What Triton 2.51 does on its own, measured in ``tests/reliability/test_faults.py``: when a stub is killed,
every request to that model (and to the ensembles and BLS models above it) fails with INTERNAL
``Stub process '<model>_0_0' is not healthy.``. ``/v2/health/ready`` and the model's own
readiness stay 200, and the stub is never restarted.

What this adds: the launcher runs Triton with ``--model-control-mode=explicit`` and this thread
watches the stub processes. When one disappears, it unloads the model, which turns that model and
the ensembles using it unready so readiness tells the truth, and then loads it again. Recovery took
0.2–0.4 s on this machine. The repository API is restricted to a per-process token, so clients
cannot unload models.

The same API makes SIGTERM safe for BLS models. On SIGTERM, Triton refuses every new request,
including the BLS calls that an in-flight ``ingest`` still has to make, so that document would
fail. :func:`drain` therefore unloads the BLS models first: readiness turns false, new ``ingest``
requests are refused, and Triton finishes the in-flight ones. Only then does the launcher send
SIGTERM.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

import psutil

STUB = "triton_python_backend_stub"
TOKEN_HEADER = "triton-ingest-watchdog"


def restricted_api_args(token: str) -> list[str]:
    """tritonserver flags: explicit model control, repository API behind ``token``."""
    return ["--model-control-mode=explicit", "--load-model=*",
            f"--http-restricted-api=model-repository:{TOKEN_HEADER}={token}",
            f"--grpc-restricted-protocol=model-repository:{TOKEN_HEADER}={token}"]


def new_token() -> str:
    return secrets.token_hex(16)


def stubs(server_pid: int) -> dict[str, dict[int, str]]:
    """Live stub processes of a tritonserver: model name -> {pid: its /dev/shm region name}."""
    found: dict[str, dict[int, str]] = {}
    try:
        children = psutil.Process(server_pid).children(recursive=True)
    except psutil.Error:
        return found
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = child.cmdline()
        except psutil.Error:
            continue
        if cmdline and cmdline[0].endswith(STUB) and len(cmdline) > 2:  # stub <model.py> <region> ...
            found.setdefault(Path(cmdline[1]).parent.parent.name, {})[child.pid] = cmdline[2]
    return found


def stub_pids(server_pid: int) -> dict[str, set[int]]:
    """Live stub process ids of a tritonserver, by model name."""
    return {model: set(pids) for model, pids in stubs(server_pid).items()}


def repository_call(http_url: str, token: str, path: str, body: dict, timeout: float = 120) -> bytes:
    """POST to Triton's (restricted) model-repository API."""
    request = urllib.request.Request(
        f"http://{http_url}/v2/repository/{path}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", TOKEN_HEADER: token}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return reply.read()


def drain(http_url: str, token: str, stages: Sequence[Sequence[str]], timeout: float) -> bool:
    """Unload the models of each stage in turn, waiting until a stage's in-flight requests are done
    before the next (a BLS model still needs the models it calls); False on timeout or on any error
    (the caller sends SIGTERM either way)."""
    deadline = time.monotonic() + timeout
    try:
        for models in stages:
            for model in models:
                repository_call(http_url, token, f"models/{model}/unload",
                                {"parameters": {"unload_dependents": False}}, max(1.0, deadline - time.monotonic()))
            while not _drained(http_url, token, models, deadline):
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.2)
    except Exception:  # noqa: BLE001 - a failed drain must never keep the server from stopping
        return False
    return True


def _drained(http_url: str, token: str, models: Sequence[str], deadline: float) -> bool:
    index = json.loads(repository_call(http_url, token, "index", {}, max(1.0, deadline - time.monotonic())))
    return not [m for m in index if m["name"] in models and m.get("state") in ("READY", "UNLOADING")]


class StubWatchdog(threading.Thread):
    """Polls every ``interval`` seconds; reloads a model as soon as one of its stubs is gone."""

    def __init__(self, server_pid: int, http_url: str, token: str, interval: float = 0.5,
                 log: Callable[[str], None] = lambda line: print(line, flush=True)):
        super().__init__(daemon=True, name="stub-watchdog")
        self.server_pid, self.http_url, self.token = server_pid, http_url, token
        self.interval, self.log = interval, log
        self.restarts: list[tuple[str, float]] = []  # (model, seconds to recover)
        self._halt = threading.Event()
        self._known = stubs(server_pid)  # the census is taken now: a stub that dies later is seen
        count = sum(len(pids) for pids in self._known.values())
        log(f"triton-ingest watchdog: watching {count} stub processes of {len(self._known)} models")

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        known = self._known
        while not self._halt.wait(self.interval):
            if not psutil.pid_exists(self.server_pid):
                return
            alive = stubs(self.server_pid)
            dead = [m for m, pids in known.items() if not set(pids) <= set(alive.get(m, {}))]
            failed = {m: known[m] for m in dead if not self._halt.is_set() and not self._recover(m)}
            for model in set(dead) - set(failed):
                self._unlink_regions(known[model], alive.get(model, {}))
            if dead:
                alive = stubs(self.server_pid)
            known = {**alive, **failed}  # a failed reload is tried again on the next tick

    def _unlink_regions(self, before: dict[int, str], alive: dict[int, str]) -> None:
        """Remove the /dev/shm region of each dead stub: Triton leaves it behind when a stub is
        killed mid-request (seen in tests/reliability/test_faults.py), and nothing else uses it any more."""
        for pid, region in before.items():
            path = Path("/dev/shm") / region
            if pid not in alive and region and path.exists():
                path.unlink(missing_ok=True)
                self.log(f"triton-ingest watchdog: removed the dead stub's shared memory {region}")

    def _recover(self, model: str) -> bool:
        started = time.monotonic()
        self.log(f"triton-ingest watchdog: a stub of model {model!r} died; reloading it")
        try:
            repository_call(self.http_url, self.token, f"models/{model}/unload",
                            {"parameters": {"unload_dependents": False}})
            repository_call(self.http_url, self.token, f"models/{model}/load", {})
        except Exception as exc:  # noqa: BLE001 - the watchdog must outlive any one failure
            self.log(f"triton-ingest watchdog: reloading {model!r} failed ({exc}); retrying")
            return False
        seconds = time.monotonic() - started
        self.restarts.append((model, seconds))
        self.log(f"triton-ingest watchdog: model {model!r} is back after {seconds:.2f} s")
        return True
