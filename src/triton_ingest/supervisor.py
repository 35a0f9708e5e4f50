"""``prepare --supervise``: run ``tritonserver`` as a child with the launcher's guarantees.

The container's CMD is plain ``tritonserver …``. Under supervision it also gets:
- explicit model control, with the repository API restricted to a per-process token;
- the stub watchdog, which reloads a model whose Python-backend stub died;
- a drain on SIGTERM/SIGINT: the BLS models are unloaded and their in-flight documents finish,
  then Triton gets SIGTERM and drains the rest.
The exit code is tritonserver's.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time

from .server import BLS_MODELS, http_ready
from .watchdog import StubWatchdog, drain, new_token, restricted_api_args


def http_port(command: list[str]) -> int:
    """The ``--http-port`` of a tritonserver command line (Triton's default: 8000)."""
    for index, arg in enumerate(command):
        found = re.fullmatch(r"--http-port=(\d+)", arg)
        if found:
            return int(found.group(1))
        if arg == "--http-port" and index + 1 < len(command):
            return int(command[index + 1])
    return 8000


def wait_ready(url: str, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if http_ready(url):
            return True
        time.sleep(0.5)
    return False


def supervise(command: list[str], ready_timeout: float = 1800, drain_timeout: float = 30) -> int:
    """Run ``command`` (tritonserver) under the watchdog; drain on SIGTERM/SIGINT."""
    token = new_token()
    process = subprocess.Popen([*command, *restricted_api_args(token)])
    url = f"localhost:{http_port(command)}"
    watchdog: list[StubWatchdog] = []
    stopping, lock = threading.Event(), threading.Lock()  # the lock orders watchdog start vs. drain

    def shutdown() -> None:
        try:
            with lock:
                for dog in watchdog:
                    dog.stop()
                    dog.join(timeout=drain_timeout)
            drain(url, token, BLS_MODELS, drain_timeout)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

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
