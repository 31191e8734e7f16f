"""systemd units: the two daemons and retention, hardened, restarted on failure, verified."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
DAEMONS = {"circulo-ingest@.service": "circulo ingest", "circulo-rewards.service": "circulo rewards run"}
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "RestrictNamespaces": "yes",
    "CapabilityBoundingSet": "",
}


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read(SYSTEMD / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize(("name", "command"), DAEMONS.items())
def test_each_daemon_unit_runs_its_command_with_restart_and_an_environment_file(
    name: str, command: str
) -> None:
    service = unit(name)["Service"]
    assert command in service["ExecStart"]
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"]
    assert service["User"] == "circulo"


@pytest.mark.parametrize("name", [*DAEMONS, "circulo-retention.service", "circulo-pki-renew.service"])
def test_each_unit_is_hardened(name: str) -> None:
    service = unit(name)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == value, f"{name}: {key}"


def test_retention_runs_on_a_timer_the_operator_sets() -> None:
    timer = unit("circulo-retention.timer")["Timer"]
    assert timer["OnCalendar"]
    assert "dashboards retention --older-than" in unit("circulo-retention.service")["Service"]["ExecStart"]


def test_the_pki_is_renewed_hourly_and_the_broker_reloaded_with_privileges() -> None:
    timer = unit("circulo-pki-renew.timer")["Timer"]
    assert timer["OnCalendar"] == "hourly" and timer["Persistent"] == "true"
    service = unit("circulo-pki-renew.service")["Service"]
    assert service["ExecStart"].endswith("circulo pki renew")
    assert service["User"] == "circulo"
    assert service["ExecStartPost"].startswith("+") and "reload" in service["ExecStartPost"]


@pytest.mark.parametrize(
    "name",
    [
        *sorted(p.name for p in SYSTEMD.glob("*.service")),
        "circulo-retention.timer",
        "circulo-pki-renew.timer",
    ],
)
def test_systemd_analyze_finds_nothing_wrong_but_the_absent_binary(name: str) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed for this test"
    result = subprocess.run(
        [analyze, "verify", str(SYSTEMD / name)], capture_output=True, text=True, check=False
    )
    problems = [line for line in result.stderr.splitlines() if line and "is not executable" not in line]
    assert problems == []


def test_the_ingest_unit_subscribes_plainly_unless_a_shared_group_is_set_in_its_environment() -> None:
    service = unit("circulo-ingest@.service")["Service"]
    assert "--shared-group" not in service["ExecStart"]
    assert "CIRCULO_SHARED_GROUP" in (SYSTEMD / "circulo-ingest@.service").read_text(encoding="utf-8")
