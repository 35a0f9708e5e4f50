"""NVCF function and deployment JSON (deploy/nvcf) against NVCF's documented fields, and the
ngc/curl commands ``make nvcf-commands`` prints from them."""

from __future__ import annotations

import json
import re

import pytest

from triton_ingest.contracts import MODELS
from triton_ingest.gateway import nvcf_deploy
from triton_ingest.gateway.nvcf_deploy import RESERVED_PORTS as NVCF_RESERVED_PORTS

# POST /v2/nvcf/functions request body, as NVCF documents it
FUNCTION_FIELDS = {"name", "inferenceUrl", "inferencePort", "containerImage", "containerArgs", "containerEnvironment",
                   "healthUri", "health", "apiBodyFormat", "functionType", "models", "resources", "secrets", "tags",
                   "description", "helmChart", "helmChartServiceName"}
HEALTH_FIELDS = {"protocol", "uri", "port", "timeout", "expectedStatusCode"}
DEPLOYMENT_FIELDS = {"gpu", "backend", "instanceType", "minInstances", "maxInstances", "maxRequestConcurrency",
                     "configuration", "clusters", "regions", "attributes", "preferredOrder"}


@pytest.mark.parametrize("name", nvcf_deploy.FUNCTIONS)
def test_nvcf_function_uses_only_documented_fields(name):
    function = nvcf_deploy.load(name)
    assert set(function) <= FUNCTION_FIELDS
    assert {"name", "inferenceUrl", "inferencePort", "containerImage"} <= set(function)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", function["name"])
    assert function["apiBodyFormat"] in ("PREDICT_V2", "CUSTOM") and function["functionType"] in ("DEFAULT", "STREAMING")
    assert function["inferencePort"] not in NVCF_RESERVED_PORTS
    for env in function.get("containerEnvironment", []):
        assert set(env) == {"key", "value"}
    if "health" in function:
        health = function["health"]
        assert set(health) == HEALTH_FIELDS and health["protocol"] in ("HTTP", "gRPC")
        assert re.fullmatch(r"P(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)", health["timeout"])
        assert health["port"] not in NVCF_RESERVED_PORTS


def test_nvcf_http_function_invokes_a_served_model_and_grpc_uses_the_grpc_route():
    http, grpc = (nvcf_deploy.load(name) for name in nvcf_deploy.FUNCTIONS)
    model = re.fullmatch(r"/v2/models/(\w+)/infer", http["inferenceUrl"]).group(1)
    assert model in MODELS and http["inferencePort"] == 8000
    assert http["health"] == {"protocol": "HTTP", "uri": "/v2/health/ready", "port": 8000,
                              "timeout": http["health"]["timeout"], "expectedStatusCode": 200}
    assert grpc["inferenceUrl"] == "/grpc" and grpc["inferencePort"] == 8001


def test_nvcf_deployment_spec_has_min_and_max_instances():
    specs = nvcf_deploy.load("deployment.json")["deploymentSpecifications"]
    for spec in specs:
        assert set(spec) <= DEPLOYMENT_FIELDS
        assert 1 <= spec["minInstances"] <= spec["maxInstances"]


def test_nvcf_commands_carry_every_field():
    lines = nvcf_deploy.commands(image="nvcr.io/acme/triton-ingest:9.9")
    create = [line for line in lines if line.startswith("ngc cf function create")]
    assert len(create) == 2 and all("--container-image acme/triton-ingest:9.9" in line for line in create)
    assert "--inference-url /v2/models/ingest/infer" in create[0] and "--health-uri /v2/health/ready" in create[0]
    assert "--inference-url /grpc" in create[1] and "--inference-port 8001" in create[1]
    deploy = next(line for line in lines if line.startswith("ngc cf function deploy create"))
    spec = nvcf_deploy.load("deployment.json")["deploymentSpecifications"][0]
    assert f":{spec['gpu']}:{spec['instanceType']}:{spec['minInstances']}:{spec['maxInstances']}:" in deploy
    posted = [json.loads(line.split(" -d ", 1)[1].strip("'")) for line in lines
              if line.startswith("curl") and "/functions -H" in line]
    assert [p["containerImage"] for p in posted] == ["nvcr.io/acme/triton-ingest:9.9"] * 2