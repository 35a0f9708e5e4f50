"""A Milvus server in its own process: Milvus Lite's gRPC server (``python -m milvus_lite server``).

It speaks the protocol a Milvus server or cluster speaks, so an ``Index("http://127.0.0.1:PORT")``
takes the same code path as one pointed at a real cluster, and the client's own memory can be
measured without the index's.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from support.waiting import wait_until
from triton_ingest.serving.server import free_port


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class MilvusLiteServer:
    """``with MilvusLiteServer(data_dir) as milvus: Index(milvus.uri)``."""

    def __init__(self, data_dir: Path):
        self.data_dir, self.port = data_dir, free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "MilvusLiteServer":
        self.process = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data_dir),
                                         "--host", "127.0.0.1", "--port", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _listening(self.port) or self.process.poll() is not None, "the Milvus Lite server", 60)
        if self.process.poll() is not None:
            raise RuntimeError(f"milvus_lite server exited with {self.process.returncode}")
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
