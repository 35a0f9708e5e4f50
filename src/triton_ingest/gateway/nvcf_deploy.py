"""``make nvcf-commands``: print the NGC CLI and curl commands built from ``deploy/nvcf/*.json``.

Nothing is sent anywhere: the commands are printed for a person with an NGC key to run.
``--image`` replaces the placeholder ``containerImage`` of both function definitions.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from ..paths import DEPLOY

DEPLOY_DIR = DEPLOY / "nvcf"
FUNCTIONS = ("function-http.json", "function-grpc.json")
RESERVED_PORTS = frozenset({8080, 8010})
"""Ports NVCF reserves inside the container: no function may listen on them."""
API = "https://api.ngc.nvidia.com/v2/nvcf"
INVOKE_EXAMPLE = {"inputs": [
    {"name": "DOCUMENT", "shape": [1], "datatype": "BYTES", "data": ["# Cats\n\nCats purr when content."]},
    {"name": "FILENAME", "shape": [1], "datatype": "BYTES", "data": ["cats.md"]},
]}


def load(name: str, deploy_dir: Path = DEPLOY_DIR) -> dict:
    return json.loads((Path(deploy_dir) / name).read_text())


def cli_create(function: dict) -> list[str]:
    """``ngc cf function create`` arguments equivalent to one function definition."""
    image = function["containerImage"].removeprefix("nvcr.io/")
    args = ["ngc", "cf", "function", "create", "--name", function["name"],
            "--container-image", image, "--inference-url", function["inferenceUrl"],
            "--inference-port", str(function["inferencePort"]),
            "--api-body-format", function["apiBodyFormat"], "--function-type", function["functionType"]]
    health = function.get("health")
    if health:
        args += ["--health-protocol", health["protocol"], "--health-uri", health["uri"],
                 "--health-port", str(health["port"]), "--health-timeout", health["timeout"],
                 "--health-expected-status-code", str(health["expectedStatusCode"])]
    for env in function.get("containerEnvironment", []):
        args += ["--container-environment-variable", f"{env['key']}:{env['value']}"]
    for tag in function.get("tags", []):
        args += ["--tag", tag]
    return args


def cli_deploy(deployment: dict) -> list[str]:
    """``ngc cf function deploy create`` with one ``--deployment-specification`` per entry."""
    args = ["ngc", "cf", "function", "deploy", "create", "FUNCTION_ID:VERSION_ID"]
    for spec in deployment["deploymentSpecifications"]:
        fields = [spec["backend"], spec["gpu"], spec["instanceType"], spec["minInstances"],
                  spec["maxInstances"], spec.get("maxRequestConcurrency", 1)]
        args += ["--deployment-specification", ":".join(map(str, fields))]
    return args


def commands(image: str | None = None, deploy_dir: Path = DEPLOY_DIR) -> list[str]:
    """Shell lines: create both functions (CLI and REST), deploy, invoke."""
    lines = []
    for name in FUNCTIONS:
        function = load(name, deploy_dir)
        if image:
            function["containerImage"] = image
        lines.append(f"# {name}: {function['description']}")
        lines.append(shlex.join(cli_create(function)))
        lines.append(f"curl -fsS -X POST {API}/functions -H \"Authorization: Bearer $NGC_API_KEY\" "
                     f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(function))}")
    deployment = load("deployment.json", deploy_dir)
    lines.append("# deployment.json: min/max instances; NVCF autoscales between them")
    lines.append(shlex.join(cli_deploy(deployment)))
    lines.append(f"curl -fsS -X POST {API}/deployments/functions/FUNCTION_ID/versions/VERSION_ID "
                 f"-H \"Authorization: Bearer $NGC_API_KEY\" -H 'Content-Type: application/json' "
                 f"-d {shlex.quote(json.dumps(deployment))}")
    lines.append("# invoke ingest on the HTTP function (the SDK adds 202 polling and large-result downloads:")
    lines.append("#   triton-ingest --nvcf-function-id FUNCTION_ID ingest FILE)")
    lines.append("curl -fsS -X POST https://api.nvcf.nvidia.com/v2/nvcf/pexec/functions/FUNCTION_ID "
                 "-H \"Authorization: Bearer $NVCF_API_KEY\" -H 'Content-Type: application/json' "
                 f"-d {shlex.quote(json.dumps(INVOKE_EXAMPLE))}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_ingest.gateway.nvcf_deploy",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="container image, e.g. nvcr.io/my-org/triton-ingest:0.1.0")
    args = parser.parse_args(argv)
    print("\n".join(commands(args.image)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
