"""``triton-ingest-server prepare``, the container entrypoint, run for real (exec included)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
import pytest
import tritonclient.grpc as grpcclient

from support.clients import embed_with, ingest_with, nvcf_request_headers
from support.commands import SLOW_INGEST, prepare_command
from support.documents import make_pdf
from support.waiting import progress_of, wait_until
from triton_ingest.models.artifacts import MODEL_FILES, ONNX_FILE, TOKENIZER_FILE, artifact
from triton_ingest.serving.repository import load_config
from triton_ingest.serving.server import TritonServer, server_env
from triton_ingest.serving.watchdog import stub_pids

SHOW = "import json, os, sys; print(json.dumps({'artifacts': os.environ['TRITON_INGEST_ARTIFACTS'], 'argv': sys.argv[1:]}))"


def prepare(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(prepare_command(tmp_path, *args), capture_output=True, text=True, timeout=120)


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
    for name in MODEL_FILES:
        shutil.copyfile(artifact(name), mounted / name)
    done = prepare(tmp_path, "--target", "cpu", "--", sys.executable, "-c", SHOW)
    assert done.returncode == 0, done.stderr
    assert "(mounted)" in done.stdout
    assert Path(last_json(done.stdout)["artifacts"]) == mounted


def test_an_incomplete_mount_is_ignored(tmp_path):
    (tmp_path / "models" / "all-minilm-l6-v2").mkdir(parents=True)
    for name in (ONNX_FILE, TOKENIZER_FILE):  # no int8 or OCR models: those models could not load
        shutil.copyfile(artifact(name), tmp_path / "models" / "all-minilm-l6-v2" / name)
    done = prepare(tmp_path, "--target", "cpu", "--", sys.executable, "-c", SHOW)
    assert Path(last_json(done.stdout)["artifacts"]) == artifact(ONNX_FILE).parent


def test_gpu_target_without_a_gpu_fails_clearly_and_runs_nothing(tmp_path):
    if shutil.which("nvidia-smi"):
        pytest.skip("a GPU is visible here: tests/models/test_engine.py runs `prepare --target gpu` instead")
    done = prepare(tmp_path, "--target", "gpu", "--", sys.executable, "-c", "print('SERVER STARTED')")
    assert done.returncode == 1
    assert "no CUDA GPU is visible" in done.stderr and "SERVER STARTED" not in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.integration
def test_supervised_tritonserver_recovers_a_killed_stub_and_drains_on_sigterm(tmp_path):
    """The container's start-up run for real, with the wheel's tritonserver standing in for the
    image's: a killed stub is reloaded, and SIGTERM lets an in-flight document finish."""
    stand_in = TritonServer.on_free_ports(model_repository=tmp_path / "repo", work_dir=tmp_path, watch_stubs=False)
    command = prepare_command(tmp_path, "--supervise", "--target", "cpu", "--", *stand_in.command())
    log = tmp_path / "supervised.log"
    process = subprocess.Popen(command, env=server_env(), stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        def logged(text: str) -> bool:
            assert process.poll() is None, log.read_text()
            return text in log.read_text()

        wait_until(lambda: logged("triton-ingest watchdog: watching"), "the supervisor's watchdog", timeout=300)
        client = grpcclient.InferenceServerClient(stand_in.grpc_url)
        reference = embed_with(client, "grpc", ["supervised"])
        tritonserver = next(p for p in psutil.Process(process.pid).children() if "tritonserver" in p.name())
        for pid in stub_pids(tritonserver.pid)["embedder"]:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: logged("is back after"), "the watchdog to reload the embedder")
        np.testing.assert_allclose(embed_with(client, "grpc", ["supervised"]), reference, atol=1e-5)

        out = tmp_path / "in-flight"
        headers = nvcf_request_headers("grpc", "in-flight", out)
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(ingest_with, grpcclient.InferenceServerClient(stand_in.grpc_url), "grpc",
                                 make_pdf(30), "d.pdf", SLOW_INGEST, headers)
            wait_until(lambda: progress_of(out) >= 0, "the document to be in flight")
            process.send_signal(signal.SIGTERM)
            in_flight_after_sigterm = progress_of(out) < 100
            result = future.result(timeout=300)
        assert in_flight_after_sigterm
        assert result["summary"]["pages"] == 30 and result["chunks"]
        assert progress_of(out) == 100
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
