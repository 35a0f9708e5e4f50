"""``triton-ingest-server prepare``, the container entrypoint, run for real (exec included)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from triton_ingest.artifacts import INT8_ONNX_FILE, ONNX_FILE, TOKENIZER_FILE, artifact
from triton_ingest.repository import load_config

SHOW = "import json, os, sys; print(json.dumps({'artifacts': os.environ['TRITON_INGEST_ARTIFACTS'], 'argv': sys.argv[1:]}))"


def prepare(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "triton-ingest-server"), "prepare",
               "--models-dir", str(tmp_path / "models"), "--repository", str(tmp_path / "repo"),
               "--cache-dir", str(tmp_path / "cache"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_prepare_renders_cpu_and_execs_the_server_command(tmp_path):
    done = prepare(tmp_path, "--target", "cpu", "--", sys.executable, "-c", SHOW, "--http-port=8000")
    assert done.returncode == 0, done.stderr
    assert "target cpu" in done.stdout
    shown = last_json(done.stdout)
    assert shown["argv"] == ["--http-port=8000"]  # the command replaced prepare, with its arguments
    assert Path(shown["artifacts"]) == artifact(ONNX_FILE).parent
    assert load_config(tmp_path / "repo" / "embedder" / "config.pbtxt").backend == "python"


def test_a_model_mounted_under_config_models_wins(tmp_path):
    mounted = tmp_path / "models" / "all-minilm-l6-v2"
    mounted.mkdir(parents=True)
    for name in (ONNX_FILE, INT8_ONNX_FILE, TOKENIZER_FILE):
        shutil.copyfile(artifact(name), mounted / name)
    done = prepare(tmp_path, "--target", "cpu", "--", sys.executable, "-c", SHOW)
    assert done.returncode == 0, done.stderr
    assert "(mounted)" in done.stdout
    assert Path(last_json(done.stdout)["artifacts"]) == mounted


def test_an_incomplete_mount_is_ignored(tmp_path):
    (tmp_path / "models" / "all-minilm-l6-v2").mkdir(parents=True)
    for name in (ONNX_FILE, TOKENIZER_FILE):  # no int8 model: embedder_int8 could not load
        shutil.copyfile(artifact(name), tmp_path / "models" / "all-minilm-l6-v2" / name)
    done = prepare(tmp_path, "--target", "cpu", "--", sys.executable, "-c", SHOW)
    assert Path(last_json(done.stdout)["artifacts"]) == artifact(ONNX_FILE).parent


def test_gpu_target_without_a_gpu_fails_clearly_and_runs_nothing(tmp_path):
    if shutil.which("nvidia-smi"):
        pytest.skip("a GPU is visible here; tests/test_engine.py covers the gpu target")
    done = prepare(tmp_path, "--target", "gpu", "--", sys.executable, "-c", "print('SERVER STARTED')")
    assert done.returncode == 1
    assert "no CUDA GPU is visible" in done.stderr and "SERVER STARTED" not in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.integration
def test_supervised_tritonserver_recovers_a_killed_stub_and_drains_on_sigterm(tmp_path):
    """The container's start-up run for real, with the wheel's tritonserver standing in for the
    image's: a killed stub is reloaded, and SIGTERM lets an in-flight document finish."""
    import signal
    import time
    from concurrent.futures import ThreadPoolExecutor

    import tritonclient.grpc as grpcclient
    from conftest import embed_with, ingest_with
    from documents_factory import make_pdf

    from triton_ingest.server import TritonServer, server_env
    from triton_ingest.watchdog import stub_pids

    stand_in = TritonServer.on_free_ports(model_repository=tmp_path / "repo", work_dir=tmp_path, watch_stubs=False)
    command = [str(Path(sys.executable).parent / "triton-ingest-server"), "prepare", "--supervise", "--target", "cpu",
               "--models-dir", str(tmp_path / "models"), "--repository", str(tmp_path / "repo"), "--", *stand_in.command()]
    log = open(tmp_path / "supervised.log", "wb")
    process = subprocess.Popen(command, env=server_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not stand_in.is_ready():
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "supervised.log").read_text()
            time.sleep(0.5)
        client = grpcclient.InferenceServerClient(stand_in.grpc_url)
        reference = embed_with(client, "grpc", ["supervised"])
        time.sleep(1.0)  # the watchdog has taken its first census of the stubs
        tritonserver = next(p for p in __import__("psutil").Process(process.pid).children() if "tritonserver" in p.name())
        for pid in stub_pids(tritonserver.pid)["embedder"]:
            __import__("os").kill(pid, 9)
        deadline = time.monotonic() + 30
        while "is back after" not in (tmp_path / "supervised.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "supervised.log").read_text()
            time.sleep(0.2)
        np.testing.assert_allclose(embed_with(client, "grpc", ["supervised"]), reference, atol=1e-5)

        document = make_pdf(30)
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(ingest_with, grpcclient.InferenceServerClient(stand_in.grpc_url), "grpc", document, "d.pdf")
            time.sleep(1.0)
            process.send_signal(signal.SIGTERM)
            result = future.result(timeout=120)
        assert result["summary"]["pages"] == 30 and result["chunks"]
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
