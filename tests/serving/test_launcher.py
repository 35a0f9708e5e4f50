"""The launcher: environment set-up, fail-fast on broken models, clean signal handling, demo."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import psutil
import pytest

from support.commands import SERVER_CLI
from support.waiting import wait_until
from triton_ingest.paths import DEFAULT_MODEL_REPOSITORY
from triton_ingest.serving.server import (
    NVCF_HEADER_PATTERN,
    ServerStartError,
    TritonServer,
    free_port,
    prepare_backend_dir,
    server_env,
)

CLI = SERVER_CLI


def test_server_env_puts_this_interpreters_libpython_first():
    env = server_env({"LD_LIBRARY_PATH": "/elsewhere", "PATH": "/usr/bin"})
    libs = env["LD_LIBRARY_PATH"].split(":")
    assert libs[0] == sysconfig.get_config_var("LIBDIR")
    assert any(p.endswith("nvidia_pytriton.libs") for p in libs) and libs[-1] == "/elsewhere"
    assert env["PATH"].startswith(str(Path(sys.executable).parent))


def test_backend_dir_has_backend_and_stub_for_this_python(tmp_path):
    backend = prepare_backend_dir(tmp_path) / "python"
    assert {p.name for p in backend.iterdir()} >= {
        "libtriton_python.so",
        "triton_python_backend_utils.py",
        "triton_python_backend_stub",
    }


def test_command_forwards_nvcf_headers_and_binds_localhost(tmp_path):
    command = TritonServer(work_dir=tmp_path).command()
    assert f"--http-header-forward-pattern={NVCF_HEADER_PATTERN}" in command
    assert "--http-address=127.0.0.1" in command and "--grpc-address=127.0.0.1" in command


def broken_repository(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(DEFAULT_MODEL_REPOSITORY, repo)
    model = repo / "embedder" / "1" / "model.py"
    source = model.read_text()
    assert "    def initialize(self, args):\n" in source
    model.write_text(source.replace("    def initialize(self, args):\n",
                                    "    def initialize(self, args):\n        raise RuntimeError('deliberately broken for a test')\n", 1))
    return repo


@pytest.mark.integration
def test_a_model_that_fails_to_load_fails_fast_with_its_error(tmp_path):
    server = TritonServer.on_free_ports(model_repository=broken_repository(tmp_path), work_dir=tmp_path)
    with pytest.raises(ServerStartError) as caught:
        server.start(timeout=600)
    assert "tritonserver exited with code" in str(caught.value)  # it failed at once: no readiness wait
    assert "deliberately broken for a test" in str(caught.value)
    assert "embedder" in str(caught.value)
    assert server.process.poll() is not None


def test_a_config_that_does_not_parse_stops_the_start_before_tritonserver_runs(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(DEFAULT_MODEL_REPOSITORY, repo)
    (repo / "ingest" / "config.pbtxt").write_text('name: "ingest"\nnot_a_field: 1\n')
    server = TritonServer.on_free_ports(model_repository=repo, work_dir=tmp_path)
    with pytest.raises(ServerStartError, match="ingest/config.pbtxt does not parse"):
        server.start()
    assert server.process is None


def start_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float = 120) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return "".join(seen)
    process.kill()
    raise AssertionError(f"{needle!r} never printed:\n{''.join(seen)}")


@pytest.mark.integration
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_signal(signum):
    ports = [str(free_port()) for _ in range(3)]
    process = start_cli("serve", "--http-port", ports[0], "--grpc-port", ports[1], "--metrics-port", ports[2])
    wait_for_line(process, "triton-ingest: ready")
    process.send_signal(signum)
    assert process.wait(timeout=60) == 0
    assert "draining and stopping" in process.stdout.read()
    for port in ports[:2]:  # tritonserver exited: nothing listens on its ports any more
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=5).close()


@pytest.mark.integration
def test_serve_exits_nonzero_with_the_model_error(tmp_path):
    process = start_cli("serve", "--model-repository", str(broken_repository(tmp_path)),
                        "--http-port", str(free_port()), "--grpc-port", str(free_port()),
                        "--metrics-port", str(free_port()))
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "failed to start" in output and "deliberately broken for a test" in output


@pytest.mark.integration
def test_a_killed_launcher_takes_tritonserver_with_it_and_its_ports_are_free_again(tmp_path):
    """SIGKILL (what a stop budget ends in) can catch the launcher mid-drain, before it stops
    tritonserver, which runs in its own session: PR_SET_PDEATHSIG ends it with its launcher."""
    empty = tmp_path / "repository"
    empty.mkdir()
    ports = [str(free_port()) for _ in range(3)]
    serve = ("serve", "--model-repository", str(empty), "--http-port", ports[0], "--grpc-port", ports[1],
             "--metrics-port", ports[2])
    launcher = start_cli(*serve)
    wait_for_line(launcher, "triton-ingest: ready")
    [server] = [p for p in psutil.Process(launcher.pid).children() if p.name() == "tritonserver"]
    launcher.kill()
    launcher.wait(10)
    wait_until(lambda: not _alive(server), "tritonserver to die with its launcher", timeout=60)
    again = start_cli(*serve)  # the same ports: nothing holds them any more
    wait_for_line(again, "triton-ingest: ready")
    again.send_signal(signal.SIGTERM)
    assert again.wait(timeout=60) == 0


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stuck_repository(tmp_path: Path) -> Path:
    """One Python model whose ``finalize`` never returns, so Triton can never finish unloading it
    (what a busy ``ingest_stream`` did after its gRPC streams: Triton then waits out its exit timeout)."""
    model = tmp_path / "stuck-repository" / "stuck"
    (model / "1").mkdir(parents=True)
    (model / "config.pbtxt").write_text('name: "stuck"\nbackend: "python"\nmax_batch_size: 0\n'
                                        'input [{ name: "X", data_type: TYPE_FP32, dims: [1] }]\n'
                                        'output [{ name: "Y", data_type: TYPE_FP32, dims: [1] }]\n'
                                        'instance_group [{ kind: KIND_CPU, count: 1 }]\n')
    (model / "1" / "model.py").write_text("import time\n\n\nclass TritonPythonModel:\n"
                                          "    def execute(self, requests):\n        return []\n\n"
                                          "    def finalize(self):\n        time.sleep(3600)\n")
    return model.parent


@pytest.mark.integration
def test_serve_stops_within_its_stop_budget_even_when_a_model_never_unloads(tmp_path):
    """Without the budget this stop took 30.6 s (Triton's exit timeout) and exited 1; docker stop
    allows 10 s, Kubernetes 30 s by default."""
    ports = [str(free_port()) for _ in range(3)]
    process = start_cli("serve", "--model-repository", str(stuck_repository(tmp_path)), "--stop-budget", "5",
                        "--http-port", ports[0], "--grpc-port", ports[1], "--metrics-port", ports[2])
    wait_for_line(process, "triton-ingest: ready")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0  # budget 5 s, and room for a slow machine; Triton alone takes 30
    print(f"stopped in {time.monotonic() - started:.1f} s with a 5 s budget")
    assert "still running after the stop budget (5 s" in process.stdout.read()
    for port in ports[:2]:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=5).close()
