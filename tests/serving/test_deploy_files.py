"""Deployment files checked offline: Dockerfile (hadolint) and Kubernetes manifests (kubernetes-validate,
strict); and Triton's gRPC port answering the health check NVCF uses."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import tomllib
import yaml

from triton_ingest.gateway import nvcf_local as gateway
from triton_ingest.gateway.job_worker import add_worker_arguments
from triton_ingest.jobs.redis_store import GROUP, RedisJobStore
from triton_ingest.gateway.nvcf_deploy import RESERVED_PORTS as NVCF_RESERVED_PORTS
from triton_ingest.models.engine import TENSORRT_VERSION, TRITON_IMAGE
from triton_ingest.paths import DEPLOY, REPO_ROOT
from triton_ingest.serving.server import NVCF_HEADER_PATTERN

DOCKERFILE = REPO_ROOT / "Dockerfile"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))
REDIS_URL = "redis://triton-ingest-redis:6379/0"  # the job store every gateway and worker shares


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [tuple(line.split(None, 1)) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_dockerfile_lints_clean():
    done = subprocess.run([str(Path(sys.executable).parent / "hadolint"), str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_builds_on_the_pinned_triton_image_with_matching_tensorrt():
    instructions = dockerfile_instructions()
    assert ("ARG", f"TRITON_IMAGE={TRITON_IMAGE}") in instructions
    assert re.fullmatch(r"nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3", TRITON_IMAGE)
    froms = [arg for op, arg in instructions if op == "FROM"]
    assert froms[-1] == "${TRITON_IMAGE}" and " AS builder" in froms[0]  # torch stays in the builder
    gpu_extra = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]
    assert f"tensorrt-cu12=={TENSORRT_VERSION}" in gpu_extra


def test_dockerfile_runs_as_non_root_and_serves_triton_on_allowed_ports():
    instructions = dockerfile_instructions()
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    exposed = {int(p) for op, arg in instructions if op == "EXPOSE" for p in arg.split()}
    assert exposed == {8000, 8001, 8002} and not exposed & NVCF_RESERVED_PORTS
    cmd = json.loads(next(arg for op, arg in instructions if op == "CMD"))
    assert cmd[0] == "tritonserver"
    for flag in ("--http-port=8000", "--grpc-port=8001", "--strict-readiness=1",
                 f"--http-header-forward-pattern={NVCF_HEADER_PATTERN}"):
        assert flag in cmd
    assert not any(str(port) in arg for arg in cmd for port in NVCF_RESERVED_PORTS)
    entrypoint = json.loads(next(arg for op, arg in instructions if op == "ENTRYPOINT"))
    assert entrypoint[1:4] == ["triton-ingest-server", "prepare", "--supervise"] and entrypoint[-1] == "--"


@pytest.mark.parametrize("path", K8S, ids=lambda p: p.name)
def test_kubernetes_manifest_validates_strictly(path):
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


def k8s(kind: str, name: str | None = None) -> dict:
    """The manifest of this kind (and name, where there are several of the kind)."""
    documents = [d for p in K8S for d in yaml.safe_load_all(p.read_text())]
    matching = [d for d in documents if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(matching) == 1, f"{len(matching)} {kind} manifests named {name}"
    return matching[0]


def test_deployment_has_gpu_probes_and_memory_backed_shm():
    pod = k8s("Deployment", "triton-ingest")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert not {p["containerPort"] for p in container["ports"]} & NVCF_RESERVED_PORTS


def test_hpa_scales_on_the_metric_the_adapter_rule_exposes():
    hpa = k8s("HorizontalPodAutoscaler", "triton-ingest")["spec"]
    target = k8s("Deployment", hpa["scaleTargetRef"]["name"])["spec"]["template"]["spec"]["containers"][0]
    assert target["resources"]["limits"]["nvidia.com/gpu"] == 1  # the GPU Deployment: Triton scales on its queue
    metric = hpa["metrics"][0]["pods"]["metric"]["name"]
    rules = yaml.safe_load(k8s("ConfigMap")["data"]["config.yaml"])["rules"]
    assert [r["name"]["as"] for r in rules] == [metric] == ["nv_inference_pending_request_count"]
    assert metric in rules[0]["seriesQuery"]


def parsed_command(container: dict, command: str, add_arguments) -> argparse.Namespace:
    """The container's ``triton-ingest-server COMMAND`` flags, read by that command's own parser."""
    assert container["command"][:2] == ["triton-ingest-server", command]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(container["command"][2:])  # every flag is one the command has


def test_stateless_gateways_roll_one_at_a_time_in_front_of_the_triton_service():
    deployment = k8s("Deployment", "triton-ingest-gateway")
    assert deployment["spec"]["replicas"] >= 2 and deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = k8s("PodDisruptionBudget", "triton-ingest-gateway")["spec"]
    assert pdb["selector"] == deployment["spec"]["selector"] and pdb["minAvailable"] == 1
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    args = parsed_command(container, "gateway", gateway.add_arguments)
    triton = k8s("Service", "triton-ingest")["spec"]["ports"]
    assert args.triton == f"triton-ingest:{next(p['port'] for p in triton if p['name'] == 'http')}"
    assert args.triton_grpc == f"triton-ingest:{next(p['port'] for p in triton if p['name'] == 'grpc')}"
    assert args.jobs == REDIS_URL and args.job_concurrency == 0  # front only: the workers run the jobs
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]  # no job volume
    port = container["ports"][0]["containerPort"]
    assert args.host == "0.0.0.0" and args.port == port and port not in NVCF_RESERVED_PORTS
    assert k8s("Service", "triton-ingest-gateway")["spec"]["ports"][0]["port"] == port
    assert k8s("Service", "triton-ingest-gateway")["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert k8s("Service", "triton-ingest")["spec"]["selector"] != deployment["spec"]["selector"]["matchLabels"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    [key] = container["env"]
    # required: a pod without its key Secret does not start (a gateway on 0.0.0.0 never runs open)
    assert key["name"] == args.api_key_env and key["valueFrom"]["secretKeyRef"].get("optional", False) is False
    assert "nvidia.com/gpu" not in container["resources"]["limits"] and pod["securityContext"]["runAsNonRoot"]


def test_workers_share_the_gateways_redis_hand_back_within_their_grace_and_scale_on_the_backlog():
    deployment = k8s("Deployment", "triton-ingest-worker")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    args = parsed_command(container, "worker", add_worker_arguments)
    gateway_args = parsed_command(k8s("Deployment", "triton-ingest-gateway")["spec"]["template"]["spec"]["containers"][0],
                                  "gateway", gateway.add_arguments)
    assert args.jobs == REDIS_URL and args.triton_grpc == gateway_args.triton_grpc and args.concurrency >= 1
    assert args.job_ttl == gateway_args.job_ttl
    assert args.grace < pod["terminationGracePeriodSeconds"]
    fallback = k8s("HorizontalPodAutoscaler", "triton-ingest-worker")["spec"]
    assert fallback["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    [scaled] = yaml.safe_load_all((DEPLOY / "k8s" / "keda" / "jobs-worker-scaledobject.yaml").read_text())
    assert scaled["kind"] == "ScaledObject" and scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    [trigger] = scaled["spec"]["triggers"]
    store = RedisJobStore(REDIS_URL, 60)
    assert trigger["type"] == "redis-streams"
    assert (trigger["metadata"]["stream"], trigger["metadata"]["consumerGroup"]) == (store.stream, GROUP)
    assert trigger["metadata"]["address"] == REDIS_URL.removeprefix("redis://").removesuffix("/0")


def test_the_job_redis_persists_every_write_and_never_evicts():
    redis = k8s("StatefulSet", "triton-ingest-redis")
    command = redis["spec"]["template"]["spec"]["containers"][0]["command"]
    flags = dict(zip(command[1::2], command[2::2]))
    assert flags["--appendonly"] == "yes" and flags["--appendfsync"] == "always"
    assert flags["--maxmemory-policy"] == "noeviction"
    port = k8s("Service", "triton-ingest-redis")["spec"]["ports"][0]["port"]
    assert REDIS_URL == f"redis://{redis['metadata']['name']}:{port}/0"


@pytest.mark.integration
def test_grpc_port_serves_the_standard_health_check_nvcf_uses(server):
    """NVCF health-checks gRPC functions on the inference port with grpc.health.v1."""
    import grpc

    with grpc.insecure_channel(server.grpc_url) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda b: b, response_deserializer=lambda b: b)
        assert check(b"", timeout=10) == b"\x08\x01"  # HealthCheckResponse{status: SERVING}


def test_compose_runs_triton_redis_two_gateways_workers_and_milvus_with_commands_the_parsers_accept():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"triton", "redis", "gateway-1", "gateway-2", "worker", "milvus"} <= set(services)
    redis_flags = dict(zip(services["redis"]["command"][1::2], services["redis"]["command"][2::2]))
    assert redis_flags["--appendonly"] == "yes" and redis_flags["--appendfsync"] == "always"
    gateways = [parsed_command({"command": ["triton-ingest-server", *services[name]["command"]]}, "gateway",
                               gateway.add_arguments) for name in ("gateway-1", "gateway-2")]
    worker = parsed_command({"command": ["triton-ingest-server", *services["worker"]["command"]]}, "worker",
                            add_worker_arguments)
    for name in ("gateway-1", "gateway-2", "worker"):
        assert services[name]["entrypoint"] == ["triton-ingest-server"] and services[name]["image"] == \
            services["triton"]["image"]
    assert {g.jobs for g in gateways} == {worker.jobs} == {"redis://redis:6379/0"}
    assert {g.triton_grpc for g in gateways} == {worker.triton_grpc} == {"triton:8001"}
    assert all(g.job_concurrency == 0 and g.host == "0.0.0.0" for g in gateways)
    assert [f"{g.port}:{g.port}" for g in gateways] == [services[n]["ports"][0] for n in ("gateway-1", "gateway-2")]
    assert "8001:8001" in services["triton"]["ports"] and services["worker"]["deploy"]["replicas"] >= 2
    assert worker.grace < int(services["worker"]["stop_grace_period"].removesuffix("s"))
    assert services["milvus"]["command"] == ["milvus", "run", "standalone"]


def test_each_stop_budget_fits_its_platform_s_grace():
    """docker stop's 10 s for the image; the Deployment's and compose's own grace periods."""
    image_budget = re.search(r"TRITON_INGEST_STOP_BUDGET_S=(\d+)", (REPO_ROOT / "Dockerfile").read_text())
    assert image_budget and int(image_budget.group(1)) < 10
    pod = k8s("Deployment", "triton-ingest")["spec"]["template"]["spec"]
    budget = next(e["value"] for e in pod["containers"][0]["env"] if e["name"] == "TRITON_INGEST_STOP_BUDGET_S")
    assert float(budget) < pod["terminationGracePeriodSeconds"]
    triton = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["triton"]
    grace = int(triton["stop_grace_period"].removesuffix("s"))
    assert float(triton["environment"]["TRITON_INGEST_STOP_BUDGET_S"]) < grace
