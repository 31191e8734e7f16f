"""The operator audit trail: every registry and ledger command is recorded, and nobody rewrites it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from circulo.audit.trail import REDACTED, os_user, recorded_arguments
from circulo.cli import cli
from circulo.localstack.mosquitto import MosquittoBroker
from circulo.localstack.postgres import PostgresCluster
from tests.conftest import BrokerAccounts
from tests.factories import unique_id
from tests.support import rows, scalar


@pytest.fixture
def env(
    db_url: str, broker: MosquittoBroker, broker_accounts: BrokerAccounts, tmp_path: Path
) -> dict[str, str]:
    return broker_accounts.registry_env(
        db_url, state_dir=str(tmp_path / "state"), operator="Ana Treasurer", log_level="WARNING"
    )


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def audit(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    result = run(env, "audit", "list", "--json", *args)
    assert result.exit_code == 0, result.stderr
    entries: list[dict[str, object]] = json.loads(result.stdout)
    return entries


@pytest.mark.parametrize(
    ("name", "value", "recorded"),
    [
        ("device_id", "m-1", "m-1"),
        ("password", "hunter2", REDACTED),
        ("passphrase_file", "/etc/x", REDACTED),
        ("grafana_token", "glsa_x", REDACTED),
        ("bundle_dir", Path("bundles/b"), "bundles/b"),
        ("clear", ("notes", "position"), ["notes", "position"]),
        ("lat", None, None),
    ],
)
def test_arguments_are_recorded_with_secrets_redacted_and_unset_flags_left_out(
    name: str, value: object, recorded: object
) -> None:
    arguments = recorded_arguments({name: value})
    assert arguments.get(name) == recorded
    assert (name in arguments) == (value is not None)


def test_every_registry_command_leaves_who_when_what_and_from_where(env: dict[str, str]) -> None:
    device_id = unique_id("m")
    steps = [
        ("coop add", ["coop", "add", "riverside", "--name", "Riverside"]),
        ("member add", ["member", "add", "riverside", "ana@example.org", "--shares", "3"]),
        ("member set-shares", ["member", "set-shares", "riverside", "ana@example.org", "5"]),
        ("device add", ["device", "add", "meter", device_id, "--coop", "riverside", "--rated-power-w", "80"]),
        ("device update", ["device", "update", device_id, "--notes", "on the school roof"]),
        ("device rotate-credentials", ["device", "rotate-credentials", device_id]),
        ("device retire", ["device", "retire", device_id]),
    ]
    for _, args in steps:
        result = run(env, *args)
        assert result.exit_code == 0, result.stderr
    entries = list(reversed(audit(env)))
    assert [e["command"] for e in entries] == [name for name, _ in steps]
    for entry in entries:
        assert entry["outcome"] == "ok"
        assert entry["os_user"] == os_user()
        assert entry["operator"] == "Ana Treasurer"
        assert entry["host"] == socket.gethostname()
        assert entry["db_user"] == "postgres"
        assert entry["client_addr"] == "127.0.0.1"
        assert entry["started_at"] <= entry["finished_at"]  # type: ignore[operator]
    assert entries[3]["arguments"] == {"as_json": False, "coop_id": "riverside", "device_id": device_id,
                                       "kind": "meter", "qr": False, "rated_power_w": 80}  # fmt: skip
    assert entries[6]["arguments"]["device_id"] == device_id  # type: ignore[index]


def test_a_failed_command_is_recorded_with_its_error_and_reads_are_not_recorded(env: dict[str, str]) -> None:
    result = run(env, "device", "retire", "no-such-device")
    assert result.exit_code != 0
    assert run(env, "device", "list").exit_code == 0
    [entry] = audit(env)
    assert (entry["command"], entry["outcome"]) == ("device retire", "error")
    assert "no-such-device" in str(entry["detail"])


def test_audit_list_filters_by_command_group_and_prints_one_line_per_command(env: dict[str, str]) -> None:
    assert run(env, "coop", "add", "hillside", "--name", "Hillside").exit_code == 0
    assert run(env, "member", "add", "hillside", "bo@example.org", "--shares", "1").exit_code == 0
    assert [e["command"] for e in audit(env, "--command", "member")] == ["member add"]
    assert [e["command"] for e in audit(env, "--command", "coop add")] == ["coop add"]
    text = run(env, "audit", "list").stdout.splitlines()
    assert len(text) == 2
    assert "Ana Treasurer@" in text[0] and "member add" in text[0] and "-> ok" in text[0]


def test_a_ledger_correction_and_a_key_rotation_are_recorded_but_a_first_keygen_is_not(
    env: dict[str, str],
) -> None:
    assert run(env, "ledger", "keygen").exit_code == 0
    result = run(env, "ledger", "correct", "1", "--why", "meter installed twice")
    assert result.exit_code != 0  # the ledger is empty: nothing to correct, and that is recorded
    rotated = run(env, "ledger", "keygen", "--rotate", "--note", "yearly")
    assert rotated.exit_code != 0  # no entry yet: nothing to rotate from
    entries = list(reversed(audit(env)))
    assert [(e["command"], e["outcome"]) for e in entries] == [("ledger correct", "error"),
                                                               ("ledger keygen", "error")]  # fmt: skip
    assert "nothing to rotate from" in str(entries[1]["detail"])
    assert entries[0]["arguments"]["why"] == "meter installed twice"  # type: ignore[index]


def test_ledger_moves_dividends_and_governance_commands_are_recorded(env: dict[str, str]) -> None:
    assert run(env, "ledger", "keygen").exit_code == 0
    coop = unique_id("coop")
    run(env, "ledger", "transfer", "--coop", coop, "--to", "m-1", "--token", "GRN", "--amount", "2.5")
    run(env, "treasury", "dividend", "--coop", coop, "--token", "GRN", "--all")
    run(env, "governance", "secretary", "--coop", coop, "--account", "m-1", "--public-key", "ab" * 32)
    commands = [e["command"] for e in reversed(audit(env))]
    assert commands == ["ledger transfer", "treasury dividend", "governance secretary"]


def test_a_command_that_cannot_be_recorded_does_not_run(env: dict[str, str], pg: PostgresCluster) -> None:
    with psycopg.connect(env["CIRCULO_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("REVOKE INSERT ON operator_audit FROM PUBLIC")
        conn.execute("DO $$ BEGIN CREATE ROLE audit_test_registry LOGIN IN ROLE circulo_registry; "
                     "EXCEPTION WHEN duplicate_object THEN NULL; END $$")  # fmt: skip
        conn.execute("REVOKE INSERT ON operator_audit FROM circulo_registry")
    limited = {
        **env,
        "CIRCULO_DATABASE_URL": env["CIRCULO_DATABASE_URL"].replace("postgres@", "audit_test_registry@"),
    }
    result = run(limited, "coop", "add", "valley", "--name", "Valley")
    assert result.exit_code != 0
    assert result.stderr.startswith("error: cannot record the command in the audit trail")
    assert scalar(env["CIRCULO_DATABASE_URL"], "SELECT count(*) FROM coop WHERE coop_id = 'valley'") == 0


@pytest.mark.parametrize(
    "statement",
    ["UPDATE operator_audit SET os_user = 'someone-else'", "DELETE FROM operator_audit",
     "TRUNCATE operator_audit CASCADE", "UPDATE operator_audit_outcome SET outcome = 'ok'",
     "DELETE FROM operator_audit_outcome", "TRUNCATE operator_audit_outcome"],
)  # fmt: skip
def test_nobody_rewrites_the_audit_trail_not_even_its_owner(env: dict[str, str], statement: str) -> None:
    assert run(env, "device", "retire", "ghost").exit_code != 0  # one recorded command (an error)
    url = env["CIRCULO_DATABASE_URL"]
    with (
        psycopg.connect(url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute(statement)  # type: ignore[call-overload]  # fixed test statements
    assert rows(url, "SELECT outcome FROM operator_audit_outcome") == [("error",)]


@pytest.mark.parametrize("role", ["circulo_operator", "circulo_registry", "circulo_rewards"])
def test_the_operator_roles_may_add_to_the_trail_but_hold_no_right_to_change_it(
    env: dict[str, str], role: str
) -> None:
    query = "SELECT has_table_privilege(%s, %s, %s)"
    for table in ("operator_audit", "operator_audit_outcome"):
        for privilege, expected in (("INSERT", True), ("SELECT", True), ("UPDATE", False),
                                    ("DELETE", False), ("TRUNCATE", False)):  # fmt: skip
            assert scalar(env["CIRCULO_DATABASE_URL"], query, (role, table, privilege)) is expected
