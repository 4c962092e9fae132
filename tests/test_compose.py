"""docker/compose.yaml is the one-machine harness (flows/stack.py) for real machines: the same
services, commands, labels and environment names. There is no Docker engine here, so the file's
structure is checked against what the harness runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from flows.stack import Stack

DOCKER = Path(__file__).resolve().parent.parent / "docker"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Stack:
    """The harness's plan, nothing started: its commands need ports and secrets, any will do."""
    ports = dict(postgres=5432, mlflow=5000, prefect=4200, ray=6379, **{"ray-client": 10001})
    secrets = {name: "x" for name in ("postgres", "mlflow", "mlflow-admin", "mlflow-csrf", "ray")}
    return Stack(tmp_path_factory.mktemp("stack"), ports=ports, secrets=secrets)


def command(service: dict) -> list[str]:
    text = service["command"]
    return shlex.split(text) if isinstance(text, str) else text


def flags(words: list[str]) -> set[str]:
    return {w for w in words if w.startswith("--")}


def test_the_same_services(compose, stack):
    assert set(compose["services"]) == set(stack.services())
    for name, service in compose["services"].items():
        assert set(service.get("depends_on", [])) <= set(compose["services"]), name


def test_published_ports_bind_loopback_only(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_ray_nodes_carry_the_harness_labels_and_token_auth(compose, stack):
    services = compose["services"]
    assert flags(stack.ray_head_command()) >= flags(command(services["ray-head"])) - {"--port"} >= {"--head", "--num-cpus", "--block"}
    head = command(services["ray-head"])
    assert head[head.index("--num-cpus") + 1] == "0"  # the head measures nothing
    for node in stack.nodes:
        words = command(services[f"ray-{node}"])
        assert flags(words) <= flags(stack.ray_node_command(node)) | {"--block", "--address"}
        labels = words[words.index("--labels") + 1]
        expected = stack.labels(node).replace(f"={stack.environment},", "=${TRADEOFF_ENVIRONMENT:-local},")
        assert labels == expected
    for name in ["ray-head", *[f"ray-{n}" for n in stack.nodes], "prefect-worker"]:
        environment = services[name]["environment"]
        assert set(stack.ray_auth()) <= set(environment), name
        assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in environment  # it refuses a second node


def test_mlflow_runs_on_postgresql_with_served_artifacts_and_basic_auth(compose, stack):
    service = compose["services"]["mlflow"]
    harness, harness_env = stack.mlflow_command()
    words = command(service)
    assert flags(words) == flags(harness) | {"--allowed-hosts"}  # reachable by its service name in the compose network
    assert words[words.index("--backend-store-uri") + 1].startswith("postgresql+psycopg2://")
    assert words[words.index("--workers") + 1] == "1" and words[words.index("--app-name") + 1] == "basic-auth"
    assert set(harness_env) <= set(service["environment"])
    assert "CREATE DATABASE mlflow_auth" in (DOCKER / "postgres-init.sql").read_text()  # the harness makes it too


def test_the_worker_gets_what_a_user_exports(compose, stack):
    service = compose["services"]["prefect-worker"]
    assert command(service) == ["tradeoff", "worker", "--pool", stack.pool]
    assert set(stack.client_env()) == set(service["environment"])


def test_every_variable_the_file_reads_is_in_the_example(compose):
    used = set(re.findall(r"\$\{(\w+)", (DOCKER / "compose.yaml").read_text()))
    example = {line.split("=")[0] for line in (DOCKER / "stack.env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert used <= example, used - example
