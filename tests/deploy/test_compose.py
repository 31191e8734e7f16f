"""deploy/docker-compose.yml: valid Compose, pinned images, health checks, files that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
SCHEMA = json.loads((Path(__file__).with_name("compose-spec.json")).read_text(encoding="utf-8"))
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PINNED = re.compile(r"^[\w./-]+:(?!latest$)[\w.-]*\d[\w.-]*$")
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


def env_example_names() -> set[str]:
    lines = (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#") and "=" in line}


def test_the_compose_file_validates_against_the_compose_specification() -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft7Validator(SCHEMA).iter_errors(COMPOSE)]
    assert errors == []


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_a_pinned_image_and_a_healthcheck(name: str) -> None:
    service = SERVICES[name]
    image = service.get("image", "")
    assert PINNED.match(image.replace("${CIRCULO_VERSION:-0.1.0}", "0.1.0")), (
        f"{name}: image {image!r} not pinned"
    )
    assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_the_pinned_versions_are_the_ones_the_project_targets() -> None:
    assert SERVICES["timescaledb"]["image"].startswith("timescale/timescaledb:2.")
    assert SERVICES["mosquitto"]["image"].startswith("eclipse-mosquitto:2.0.")
    assert SERVICES["grafana"]["image"].startswith("grafana/grafana:11.6.")


def bind_sources() -> list[str]:
    sources = []
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("."):
                sources.append(source)
    return sources


def test_every_file_the_compose_file_mounts_or_builds_from_exists() -> None:
    for source in bind_sources():
        assert (DEPLOY / source).exists(), source
    for service in SERVICES.values():
        if "build" in service:
            context = DEPLOY / service["build"]["context"]
            assert (context / service["build"]["dockerfile"]).is_file()


def test_every_named_volume_is_declared_and_all_state_has_one() -> None:
    declared = set(COMPOSE["volumes"])
    used = {
        v.split(":", 1)[0]
        for s in SERVICES.values()
        for v in s.get("volumes", [])
        if isinstance(v, str) and not v.startswith(".")
    }
    assert used <= declared
    mounts = {v.split(":")[1] for s in SERVICES.values() for v in s.get("volumes", []) if isinstance(v, str)}
    for state in ("/var/lib/postgresql/data", "/mosquitto/data", "/var/lib/grafana", "/var/lib/circulo"):
        assert state in mounts, f"no volume for {state}"


def test_every_variable_the_compose_file_reads_is_in_the_env_example() -> None:
    used = set(INTERPOLATION.findall(COMPOSE_FILE.read_text(encoding="utf-8")))
    assert used - env_example_names() == set()


def test_the_example_env_holds_no_real_secret() -> None:
    for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines():
        if "PASSWORD" in line and "=" in line and not line.startswith("#"):
            assert line.split("=", 1)[1].startswith("change-me"), line


def test_the_mosquitto_service_runs_our_config_and_entrypoint() -> None:
    mosquitto = SERVICES["mosquitto"]
    assert "./mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in mosquitto["volumes"]
    assert mosquitto["entrypoint"] == ["/circulo/entrypoint.sh"]
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    assert "plugin /usr/lib/mosquitto_dynamic_security.so" in conf
    assert "plugin_opt_config_file /mosquitto/data/dynamic-security.json" in conf


def test_the_ingest_is_one_worker_with_a_plain_subscription_unless_a_shared_group_is_opted_in() -> None:
    """Mosquitto 2.0 restores a plain durable subscription after a restart, not a $share one."""
    ingest = [name for name, service in SERVICES.items() if "ingest" in service.get("command", [])]
    assert ingest == ["ingest"]
    assert "--shared-group" not in SERVICES["ingest"]["command"]
    assert "deploy" not in SERVICES["ingest"]  # no replicas
    # no value: passed on from deploy/.env only when the operator sets it there
    assert SERVICES["ingest"]["environment"]["CIRCULO_SHARED_GROUP"] is None
    assert "# CIRCULO_SHARED_GROUP=" in (DEPLOY / ".env.example").read_text(encoding="utf-8")
