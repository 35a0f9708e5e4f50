"""Run the real ``tritonserver`` shipped in the nvidia-pytriton wheel on a model repository.

No container needed. :class:`TritonServer` prepares a backend directory with
the Python-backend stub for the running interpreter, puts this interpreter's
libpython first on ``LD_LIBRARY_PATH`` (Debian's older copy otherwise breaks
the stub), forwards ``NVCF-*`` headers, waits for readiness and fails fast,
with the server's own error lines, if the server exits or a model fails to load.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..models.artifacts import ENV_VAR, artifact_dir
from ..paths import BUILD, DEFAULT_MODEL_REPOSITORY
from ..pipeline.nvcf import local_roots
from .repository import bls_callers
from .watchdog import StubWatchdog, drain, new_token, restricted_api_args

NVCF_HEADER_PATTERN = "(nvcf-.*|NVCF-.*)"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class ServerStartError(RuntimeError):
    """tritonserver exited or did not become ready; the message carries its errors."""


def pytriton_dir() -> Path:
    """``site-packages/pytriton/tritonserver`` of the installed nvidia-pytriton wheel."""
    import pytriton

    return Path(pytriton.__file__).parent / "tritonserver"


def free_port() -> int:
    """A TCP port on localhost that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_backend_dir(target: Path) -> Path:
    """``target/python`` holding the Python backend plus the stub for this Python version."""
    source = pytriton_dir()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = source / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        raise ServerStartError(f"nvidia-pytriton ships no Python-backend stub for Python {version}")
    backend = target / "python"
    backend.mkdir(parents=True, exist_ok=True)
    for src in [*(source / "backends" / "python").glob("*.*"), stub]:
        dst = backend / src.name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            shutil.copy2(src, dst)
    return target


def server_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for tritonserver and its stubs: our libpython first, our venv on PATH."""
    env = dict(os.environ if base is None else base)
    libs = [
        sysconfig.get_config_var("LIBDIR"),
        str(pytriton_dir().parent.parent / "nvidia_pytriton.libs"),
        env.get("LD_LIBRARY_PATH", ""),
    ]
    env["LD_LIBRARY_PATH"] = ":".join(p for p in libs if p)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.setdefault(ENV_VAR, str(artifact_dir()))
    env.update(local_roots(env))  # NVCF's directories, plus the local gateway's and SDK's
    return env


def http_ready(http_url: str, path: str = "/v2/health/ready", timeout: float = 2.0) -> bool:
    """True when ``path`` (server readiness, or a model's: ``/v2/models/<name>/ready``) of the
    server at ``host:port`` answers 200 within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(f"http://{http_url}{path}", timeout=timeout) as reply:
            return reply.status == 200
    except OSError:
        return False


class LocalEndpoints:
    """``http_url``/``grpc_url`` of a server listening on localhost ports."""

    http_port: int
    grpc_port: int

    @property
    def http_url(self) -> str:
        return f"localhost:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"localhost:{self.grpc_port}"


STOP_BUDGET_ENV = "TRITON_INGEST_STOP_BUDGET_S"
STOP_BUDGET_S = 25.0
"""Seconds a stop may take, drain included: under Kubernetes' default 30 s grace. ``docker stop``
gives 10 s: set 8 there (or give docker more, ``stop_grace_period``)."""


def stop_budget(env: dict | None = None) -> float:
    """``$TRITON_INGEST_STOP_BUDGET_S`` (seconds, at least 1), else :data:`STOP_BUDGET_S`."""
    raw = (os.environ if env is None else env).get(STOP_BUDGET_ENV, "").strip()
    try:
        return max(1.0, float(raw)) if raw else STOP_BUDGET_S
    except ValueError:
        raise ValueError(f"{STOP_BUDGET_ENV} must be a number of seconds, got {raw!r}") from None


def drain_then_stop(process: subprocess.Popen, drain_for: Callable[[float], object], budget: float,
                    kill: Callable[[], None]) -> None:
    """Stop tritonserver within ``budget`` seconds: ``drain_for(seconds)`` gets the first two
    thirds, then SIGTERM lets Triton finish; at the budget's end ``kill()``. Triton itself would
    wait out its whole exit timeout for a model that never finishes unloading (a stub stuck in
    ``finalize``, an ``ingest_stream`` its gRPC streams left busy), past any stop budget."""
    deadline = time.monotonic() + budget
    try:
        drain_for(budget * 2 / 3)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"triton-ingest: tritonserver still running after the stop budget ({budget:g} s, "
                  f"{STOP_BUDGET_ENV}); killing it", flush=True)
            kill()


def die_with_launcher() -> Callable[[], None]:
    """A ``preexec_fn``: the child gets SIGKILL when the thread that started it ends (Linux
    ``PR_SET_PDEATHSIG``), so a launcher killed mid-drain leaves no tritonserver holding its ports.
    Only for children started from the main thread: one started from another thread would die
    with that thread. Elsewhere than Linux it does nothing."""
    launcher = os.getpid()
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return lambda: None

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != launcher:  # it died before the line above: nobody would stop this child
            os._exit(1)

    return in_child


@dataclass
class TritonServer(LocalEndpoints):
    """One tritonserver process; use as a context manager or call start()/stop()."""

    model_repository: Path = DEFAULT_MODEL_REPOSITORY
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    work_dir: Path = BUILD / "server"
    exit_timeout: int = 30  # seconds Triton drains in-flight requests on SIGTERM
    stop_budget: float = field(default_factory=stop_budget)  # seconds terminate() may take in all
    extra_args: list[str] = field(default_factory=list)
    log_path: Path | None = None
    watch_stubs: bool = True  # reload a model whose Python-backend stub died (see watchdog.py)
    env: dict[str, str] = field(default_factory=dict)  # extra environment for tritonserver and its stubs
    process: subprocess.Popen | None = field(default=None, init=False)
    watchdog: StubWatchdog | None = field(default=None, init=False)
    drained: tuple[tuple[str, ...], ...] = field(default=(), init=False)  # BLS callers, unloaded in stages before SIGTERM
    _draining: threading.Thread | None = field(default=None, init=False, repr=False)
    _token: str = field(default_factory=new_token, init=False, repr=False)

    @classmethod
    def on_free_ports(cls, **kwargs) -> "TritonServer":
        return cls(http_port=free_port(), grpc_port=free_port(), metrics_port=free_port(), **kwargs)

    def command(self) -> list[str]:
        backends = prepare_backend_dir(self.work_dir / "backends")
        return [
            str(pytriton_dir() / "bin" / "tritonserver"),
            f"--model-repository={Path(self.model_repository).resolve()}",
            f"--backend-directory={backends}",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
            f"--http-header-forward-pattern={NVCF_HEADER_PATTERN}",
            f"--grpc-header-forward-pattern={NVCF_HEADER_PATTERN}",
            "--allow-gpu-metrics=false",
            "--pinned-memory-pool-byte-size=0",
            "--exit-on-error=true",
            "--strict-readiness=true",
            "--disable-auto-complete-config",
            f"--exit-timeout-secs={self.exit_timeout}",
            *(restricted_api_args(self._token) if self.watch_stubs else []),
            *self.extra_args,
        ]

    def start(self, timeout: float = 180.0) -> "TritonServer":
        """Start tritonserver and block until ready; raise ServerStartError on failure."""
        try:
            self.drained = bls_callers(self.model_repository)
        except ValueError as exc:  # a config.pbtxt that does not parse: Triton would refuse it too
            raise ServerStartError(f"cannot read the model repository {self.model_repository}: {exc}") from None
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_path or self.work_dir / f"tritonserver-{self.http_port}.log"
        self._draining = None  # a restarted server drains again when it is stopped
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.command(), env=server_env({**os.environ, **self.env}), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the launcher, which then stops the server
            # ... and a launcher that is killed takes the server with it; PR_SET_PDEATHSIG follows the
            # starting thread, so only a server started from the main thread gets it
            preexec_fn=die_with_launcher() if threading.current_thread() is threading.main_thread() else None,
        )
        log.close()
        self.wait_ready(timeout)
        if self.watch_stubs:
            self.watchdog = StubWatchdog(self.process.pid, self.http_url, self._token)
            self.watchdog.start()
        return self

    def is_ready(self) -> bool:
        return http_ready(self.http_url)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(self._failure(f"tritonserver exited with code {self.process.returncode}"))
            if self.is_ready():
                return
            time.sleep(0.25)
        self.stop()
        raise ServerStartError(self._failure(f"tritonserver was not ready after {timeout:.0f} s"))

    def _failure(self, headline: str) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path else ""
        errors = [l for l in text.splitlines() if re.match(r"^E\d{4}", l) or "UNAVAILABLE" in l]
        detail = "\n".join(errors[-15:]) or "\n".join(text.splitlines()[-15:])
        return f"{headline}\n{detail}\n(full log: {self.log_path})"

    def terminate(self) -> None:
        """Drain in-flight requests, then let tritonserver exit (SIGTERM); do not wait.

        With the watchdog's repository access, the BLS models are drained first (see
        ``watchdog.drain``); Triton's own SIGTERM drain then finishes the rest. All of it within
        ``stop_budget`` seconds: then the server is killed (:func:`drain_then_stop`)."""
        if self.process is None or self.process.poll() is not None or self._draining is not None:
            return  # not running, or already draining: a second call changes nothing
        self._draining = threading.Thread(target=self._drain_then_sigterm, daemon=True)
        self._draining.start()

    def _drain_then_sigterm(self) -> None:
        def drain_for(seconds: float) -> None:
            if self.watchdog is None:  # not ready yet, or no repository access: Triton drains alone
                return
            deadline = time.monotonic() + min(seconds, self.exit_timeout)  # done before stop() gives up waiting
            self.watchdog.stop()
            self.watchdog.join(timeout=max(0.0, deadline - time.monotonic()))  # no reload may race the drain
            drain(self.http_url, self._token, self.drained, max(0.0, deadline - time.monotonic()))

        pid = self.process.pid  # its own session: the stubs go with it
        drain_then_stop(self.process, drain_for, self.stop_budget, lambda: os.killpg(pid, signal.SIGKILL))

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM (Triton drains in-flight requests), then SIGKILL after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.terminate()
        try:
            return self.process.wait(2 * self.exit_timeout + 10 if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
