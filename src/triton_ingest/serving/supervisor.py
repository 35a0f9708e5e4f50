"""``prepare --supervise``: run ``tritonserver`` as a child with the launcher's guarantees.

The container's CMD is plain ``tritonserver …``. Under supervision it also gets:
- explicit model control, with the repository API restricted to a per-process token;
- the stub watchdog, which reloads a model whose Python-backend stub died;
- a drain on SIGTERM/SIGINT: the BLS models are unloaded and their in-flight documents finish,
  then Triton gets SIGTERM and drains the rest.
The exit code is tritonserver's.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time

from .server import die_with_launcher, drain_then_stop, http_ready, stop_budget
from .watchdog import StubWatchdog, drain, new_token, restricted_api_args


def flag(command: list[str], name: str, default: str | None = None) -> str | None:
    """The value of ``--name=value`` or ``--name value`` in a tritonserver command line."""
    for index, arg in enumerate(command):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and index + 1 < len(command):
            return command[index + 1]
    return default


def wait_ready(url: str, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if http_ready(url):
            return True
        time.sleep(0.5)
    return False


def supervise(command: list[str], drained: tuple[tuple[str, ...], ...], ready_timeout: float = 1800,
              budget: float | None = None) -> int:
    """Run ``command`` (tritonserver) under the watchdog; on SIGTERM/SIGINT drain the models
    ``drained`` (those making BLS calls), then stop, all within ``budget`` seconds
    (``$TRITON_INGEST_STOP_BUDGET_S``, 25 by default)."""
    token = new_token()
    process = subprocess.Popen([*command, *restricted_api_args(token)], preexec_fn=die_with_launcher())
    url = f"localhost:{flag(command, 'http-port', '8000')}"  # 8000: Triton's default
    watchdog: list[StubWatchdog] = []
    stopping, lock = threading.Event(), threading.Lock()  # the lock orders watchdog start vs. drain

    def drain_for(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with lock:
            for dog in watchdog:
                dog.stop()
                dog.join(timeout=seconds)
        drain(url, token, drained, max(0.0, deadline - time.monotonic()))

    def shutdown() -> None:
        drain_then_stop(process, drain_for, stop_budget() if budget is None else budget, process.kill)

    def on_signal(signum, _frame) -> None:
        if stopping.is_set():  # a second signal: no more waiting
            process.send_signal(signal.SIGTERM)
            return
        stopping.set()
        print(f"triton-ingest supervise: {signal.Signals(signum).name}, draining", flush=True)
        threading.Thread(target=shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if wait_ready(url, process, ready_timeout):
        with lock:
            if not stopping.is_set():
                watchdog.append(StubWatchdog(process.pid, url, token))
                watchdog[0].start()
    code = process.wait()
    return 128 - code if code < 0 else code  # killed by signal N: exit 128 + N, as a shell reports it
