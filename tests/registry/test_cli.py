"""The registry's command line: SPEC §8 forms, secrets shown once, one-line errors, exit codes."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from circulo.cli import cli
from circulo.localstack.mosquitto import MosquittoBroker
from tests.conftest import BrokerAccounts
from tests.factories import unique_id


@pytest.fixture
def env(db_url: str, broker: MosquittoBroker, broker_accounts: BrokerAccounts) -> dict[str, str]:
    return broker_accounts.registry_env(
        db_url, device_broker_url="mqtts://broker.example.org:8883", log_level="INFO"
    )


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def coop(env: dict[str, str]) -> str:
    assert run(env, "coop", "add", "riverside", "--name", "Riverside").exit_code == 0
    return "riverside"


def test_device_add_json_is_the_spec_bundle_and_the_password_is_never_logged(
    env: dict[str, str], coop: str
) -> None:
    device_id = unique_id("m")
    result = run(env, "device", "add", "meter", device_id, "--coop", coop, "--rated-power-w", "50", "--json")
    assert result.exit_code == 0, result.stderr
    bundle = json.loads(result.stdout)
    assert {"device_id", "kind", "username", "password", "host", "port", "tls", "topics"} <= set(bundle)
    assert (bundle["host"], bundle["port"], bundle["tls"]) == ("broker.example.org", 8883, True)
    assert bundle["topics"]["telemetry"] == f"circulo/v1/meter/{device_id}/telemetry"
    assert len(bundle["password"]) >= 32
    assert bundle["password"] not in result.stderr, "logs must never carry a secret"
    assert "credentials_issued" in result.stderr  # the audit line is there, without the secret


def test_device_add_with_a_bundle_dir_writes_private_files_and_prints_no_password(
    env: dict[str, str], coop: str, tmp_path: Path
) -> None:
    device_id = unique_id("b")
    result = run(env, "device", "add", "bin", device_id, "--coop", coop, "--bundle-dir", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    bundle = json.loads((tmp_path / f"{device_id}.json").read_text())
    assert bundle["password"] not in result.stdout + result.stderr
    assert stat.S_IMODE((tmp_path / f"{device_id}.png").stat().st_mode) == 0o600
    again = run(env, "device", "add", "bin", device_id, "--coop", coop)
    assert again.exit_code == 5
    assert again.stderr.startswith("error: ") and "rotate-credentials" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_a_survey_with_a_bad_row_exits_non_zero_naming_the_line_and_applies_nothing(
    env: dict[str, str], coop: str, tmp_path: Path
) -> None:
    survey = tmp_path / "site.csv"
    survey.write_text(f"kind,device_id,coop_id,lat,lon\nbin,{unique_id('b')},{coop},,\nbin,b2,{coop},91,0\n")
    result = run(env, "device", "import", str(survey), "--bundle-dir", str(tmp_path / "bundles"))
    assert result.exit_code == 1
    expected = f"error: {survey}: 1 problem, nothing applied: line 3: lat 91.0 is outside -90..90"
    assert result.stderr.strip() == expected
    listed = run(env, "device", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_import_then_list_and_show_in_json(env: dict[str, str], coop: str, tmp_path: Path) -> None:
    ids = [unique_id("r"), unique_id("b")]
    survey = tmp_path / "site.csv"
    survey.write_text(f"kind,device_id,coop_id,notes\nrepair,{ids[0]},{coop},Library\nbin,{ids[1]},{coop},\n")
    first = run(env, "device", "import", str(survey), "--bundle-dir", str(tmp_path / "bundles"), "--json")
    assert json.loads(first.stdout)["added"] == ids
    second = run(env, "device", "import", str(survey), "--bundle-dir", str(tmp_path / "bundles"), "--json")
    assert json.loads(second.stdout)["unchanged"] == ids and json.loads(second.stdout)["issued"] == []
    shown = json.loads(run(env, "device", "show", ids[0], "--json").stdout)
    assert shown["notes"] == "Library" and shown["credentials_version"] == 1 and "password" not in shown
    bins = json.loads(run(env, "device", "list", "--json", "--kind", "bin").stdout)
    assert [d["device_id"] for d in bins] == [ids[1]]


def test_device_check_json_fails_before_the_first_message(env: dict[str, str], coop: str) -> None:
    device_id = unique_id("m")
    run(env, "device", "add", "meter", device_id, "--coop", coop, "--rated-power-w", "100")
    result = run(env, "device", "check", device_id, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["device_id"] == device_id and report["verdict"] == "FAIL"
    assert {c["name"] for c in report["checks"]} >= {"connection", "data", "validation"}


def test_update_retire_and_members(env: dict[str, str], coop: str) -> None:
    device_id = unique_id("b")
    run(env, "device", "add", "bin", device_id, "--coop", coop, "--notes", "by the gate")
    updated = run(env, "device", "update", device_id, "--capacity-kg", "240.5", "--clear", "notes", "--json")
    assert json.loads(updated.stdout)["capacity_kg"] == "240.500"
    assert json.loads(updated.stdout)["notes"] is None
    retired = run(env, "device", "retire", device_id)
    assert retired.exit_code == 0 and "retired" in retired.stdout and "disabled" in retired.stdout
    assert run(env, "device", "update", device_id, "--notes", "x").exit_code == 5
    assert run(env, "member", "add", coop, "alice", "--shares", "10").exit_code == 0
    assert run(env, "member", "add", coop, "alice", "--shares", "10").exit_code == 0  # same again: no-op
    assert run(env, "member", "add", coop, "alice", "--shares", "3").exit_code == 5
    assert run(env, "member", "set-shares", coop, "alice", "3").exit_code == 0
    listed = json.loads(run(env, "member", "list", coop, "--json").stdout)
    assert [(m["account"], m["shares"]) for m in listed] == [("alice", 3)]


def test_service_account_add_prints_a_url_once(env: dict[str, str]) -> None:
    name = unique_id("svc")
    result = run(env, "service-account", "add", name, "--role", "simulator", "--json")
    assert result.exit_code == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["role"] == "simulator" and created["url"].startswith(f"mqtts://{name}:")
    listed = json.loads(run(env, "service-account", "list", "--json").stdout)
    assert {"username": name, "role": "simulator", "disabled": False} in listed


def test_without_a_broker_admin_url_the_error_says_how_to_set_it(db_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "circulo", "--database-url", db_url, "device", "rotate-credentials", "x"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "CIRCULO_DEVICE_BROKER_URL": "mqtt://b:8883"},
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error: device_broker_url is plaintext: devices reach the broker")
    done = subprocess.run(
        [sys.executable, "-m", "circulo", "service-account", "list"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: no broker admin URL: set CIRCULO_BROKER_ADMIN_URL=")


def test_sync_with_a_bundle_dir_writes_the_repaired_devices_bundle_and_prints_no_password(
    db_url: str, fresh_broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    own = fresh_broker_accounts.registry_env(db_url)
    run(own, "coop", "add", "c1", "--name", "C1")
    broken = {**own, "CIRCULO_BROKER_ADMIN_URL": "mqtt://admin:secret@127.0.0.1:1"}
    failed = run(broken, "device", "add", "bin", "b-1", "--coop", "c1")
    assert failed.exit_code == 3 and "circulo device sync" in failed.stderr
    listed = json.loads(run(own, "device", "list", "--json").stdout)
    assert [(d["device_id"], d["broker_state"]) for d in listed] == [("b-1", "pending")]
    synced = run(own, "device", "sync", "--bundle-dir", str(tmp_path))
    assert synced.exit_code == 0, synced.stderr
    password = json.loads((tmp_path / "b-1.json").read_text())["password"]
    assert password not in synced.stdout and "create_client" in synced.stdout
    assert run(own, "device", "sync").stdout.strip() == "broker and registry agree: nothing to do"
