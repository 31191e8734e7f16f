"""The restore drill on real services: back up a running stack, restore it onto a fresh one, prove it.

The source stack is the session's PostgreSQL (a fresh database) and a broker of the test's
own, with devices registered through the registry, GRN minted by the real rewards engine
and a checkpoint published. The target is a PostgreSQL cluster of its own (no roles, no
databases but an empty one), a broker state folder that does not exist yet, and an empty
ledger state folder. After ``circulo backup restore``: devices reconnect with their old
passwords, ``ledger verify`` passes, the published checkpoint is consistent with the restored
ledger (``ledger prove --consistency`` checked by ``ledger verify-proof``), and the rewards
engine runs with the restored key and extends the same chain.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from circulo.cli import cli
from circulo.localstack.mosquitto import MosquittoBroker
from circulo.localstack.pki import broker_tls
from circulo.localstack.postgres import PostgresCluster
from circulo.localstack.procs import free_port
from circulo.pki.settings import PkiSettings
from circulo.registry import devices, members
from circulo.registry.model import DeviceSpec
from circulo.registry.settings import RegistrySettings
from tests.conftest import BrokerAccounts
from tests.factories import add_meter_reading
from tests.registry.mqtt_probe import Probe
from tests.support import rows, scalar

START = (datetime.now(UTC) - timedelta(hours=4)).replace(minute=0, second=0, microsecond=0)


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def ok(env: dict[str, str], *args: str) -> Result:
    result = run(env, *args)
    assert result.exit_code == 0, f"{' '.join(args)}: {result.stderr}"
    return result


@dataclass
class Source:
    env: dict[str, str]
    db_url: str
    passwords: dict[str, str]
    broker: MosquittoBroker


@pytest.fixture(scope="module")
def target_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of its own: no Circulo role, no Circulo database."""
    cluster = PostgresCluster(tmp_path_factory.mktemp("target-pg"), free_port())
    cluster.start()
    yield cluster
    cluster.stop(mode="immediate")


@pytest.fixture
def target_db(target_cluster: PostgresCluster) -> Iterator[str]:
    name = f"restored_{secrets.token_hex(4)}"
    yield target_cluster.fresh_database(name)  # empty: no extension, no table
    target_cluster.drop_database(name)


def mint(env: dict[str, str], db_url: str, hour: int, meters: tuple[str, ...]) -> None:
    """Readings of one past hour for each meter, then one drained cycle of the real rewards engine."""
    with psycopg.connect(db_url) as conn:
        for n, device_id in enumerate(meters):
            for minute in range(5, 60, 10):
                ts = START + timedelta(hours=hour, minutes=minute)
                add_meter_reading(conn, device_id, ts, 10_000 * hour + 50 * minute + n, 300.0, seq=minute)
        conn.execute(
            "INSERT INTO ingest_worker (worker_id, low_watermark, heartbeat_at, started_at)"
            " VALUES ('w', now(), now(), now()) ON CONFLICT (worker_id) DO UPDATE SET low_watermark = now()"
        )
    ok(env, "rewards", "run", "--once", "--drain")


@pytest.fixture
def source(db_url: str, fresh_broker_accounts: BrokerAccounts, tmp_path: Path) -> Source:
    broker = fresh_broker_accounts.broker
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("a long passphrase kept apart\n")
    passphrase.chmod(0o600)
    pki = tmp_path / "src" / "pki"
    pki.mkdir(parents=True)
    (pki / "root-ca.pem").write_text("-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n")
    (pki / "issuing" / "ca.key").parent.mkdir()
    (pki / "issuing" / "ca.key").write_text("issuing CA private key\n")
    (pki / "issuing" / "ca.key").chmod(0o600)
    env = {
        "CIRCULO_DATABASE_URL": db_url,
        "CIRCULO_MQTT_URL": fresh_broker_accounts.url("rewards"),
        "CIRCULO_BROKER_ADMIN_URL": fresh_broker_accounts.admin_url,
        "CIRCULO_STATE_DIR": str(tmp_path / "src" / "state"),
        "CIRCULO_BACKUP_DYNSEC_FILE": str(broker.dynsec_file),
        "CIRCULO_BACKUP_PKI_DIR": str(pki),
        "CIRCULO_BACKUP_PASSPHRASE_FILE": str(passphrase),
        "CIRCULO_BACKUP_BROKER_CHECKPOINT_WAIT_S": "2",
        "CIRCULO_METRICS_PORT": "0",
        "CIRCULO_LOG_LEVEL": "WARNING",
    }
    registry = RegistrySettings(
        database_url=db_url, mqtt_url=broker.url(), broker_admin_url=env["CIRCULO_BROKER_ADMIN_URL"]
    )
    members.add_coop(registry, "sunny", "Sunny Roofs")
    members.add_member(registry, "sunny", "ana@example.org", 3)
    members.add_member(registry, "sunny", "bo@example.org", 1)
    passwords = {}
    for device_id in ("m-roof-1", "m-roof-2"):
        done = devices.add_device(registry, DeviceSpec(kind="meter", device_id=device_id, coop_id="sunny",
                                                       rated_power_w=5000))  # fmt: skip
        passwords[device_id] = done.credentials.password
    ok(env, "ledger", "keygen")
    mint(env, db_url, 0, ("m-roof-1", "m-roof-2"))
    ok(env, "ledger", "checkpoint")  # published, retained, on the source broker
    return Source(env, db_url, passwords, broker)


def target_env(source: Source, target_db: str, tmp_path: Path) -> dict[str, str]:
    """The fresh stack's settings: another database, broker folder, state folder and CA folder."""
    return {
        **source.env,
        "CIRCULO_DATABASE_URL": target_db,
        "CIRCULO_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}",  # the new broker is not running yet
        "CIRCULO_STATE_DIR": str(tmp_path / "dst" / "state"),
        "CIRCULO_BACKUP_DYNSEC_FILE": str(tmp_path / "dst" / "mosquitto" / "dynamic-security.json"),
        "CIRCULO_BACKUP_PKI_DIR": str(tmp_path / "dst" / "pki"),
    }


def device_connects(broker: MosquittoBroker, device_id: str, password: str) -> bool:
    with Probe.at(broker, device_id, password) as probe:
        code = probe.connect()
        if code is None or code.is_failure:
            return False
        # 0x10 "no matching subscribers" is a success: the broker accepted the publish
        return probe.publish(f"circulo/v1/meter/{device_id}/telemetry", b"{}") < 0x80


def test_a_restore_onto_a_fresh_stack_brings_back_devices_ledger_key_and_ca(
    source: Source, target_db: str, tmp_path: Path, local_pki_settings: PkiSettings
) -> None:
    archive = tmp_path / "backups" / "circulo.backup"
    ok(source.env, "backup", "create", "--output", str(archive))
    assert archive.stat().st_mode & 0o777 == 0o600
    for secret in (*source.passwords.values(), "issuing CA private key"):
        assert secret.encode() not in archive.read_bytes()
    checkpoint = tmp_path / "src" / "state" / "ledger-checkpoint.json"
    published = json.loads(checkpoint.read_text())

    env = target_env(source, target_db, tmp_path)
    restored = ok(env, "backup", "restore", str(archive), "--checkpoint", str(checkpoint), "--json")
    report = json.loads(restored.stdout)
    assert {c["verdict"] for c in report["checkpoints"]} == {"consistent"}
    assert (tmp_path / "dst" / "pki" / "issuing" / "ca.key").read_text() == "issuing CA private key\n"
    assert (tmp_path / "dst" / "pki" / "issuing" / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "dst" / "state" / "ledger-signing.key").stat().st_mode & 0o777 == 0o600

    # devices reconnect with the passwords they were given before the disaster
    broker = MosquittoBroker(
        tmp_path / "dst" / "mosquitto",
        free_port(),
        broker_tls(local_pki_settings),
        admin_password="unused-on-restore",
    )
    broker.start()
    try:
        for device_id, password in source.passwords.items():
            assert device_connects(broker, device_id, password), device_id
        assert not device_connects(broker, "m-roof-1", "a guessed password")
    finally:
        broker.stop()

    # the ledger verifies, and the published checkpoint is a prefix of it
    ok(env, "ledger", "verify")
    proof_file = tmp_path / "consistency.json"
    proof_file.write_text(
        ok(env, "ledger", "prove", "--consistency", str(published["size"]), "--json").stdout
    )
    assert json.loads(proof_file.read_text())["old_root"] == published["root"]
    public_key = (tmp_path / "dst" / "state" / "ledger-signing.key.pub").read_text().strip()
    ok(
        env,
        "ledger",
        "verify-proof",
        str(proof_file),
        "--old-checkpoint",
        str(checkpoint),
        "--public-key",
        public_key,
    )

    # the rewards engine starts with the restored key and continues the same chain
    before = scalar(target_db, "SELECT max(seq) FROM ledger_entry")
    mint(env, target_db, 1, ("m-roof-1", "m-roof-2"))
    assert scalar(target_db, "SELECT max(seq) FROM ledger_entry") > before
    assert rows(target_db, "SELECT DISTINCT key_id FROM ledger_entry") == [(published["key_id"],)]
    ok(env, "ledger", "verify")

    # the trail shows the backup and the restore
    trail = json.loads(ok(env, "audit", "list", "--json").stdout)
    assert [(e["command"], e["outcome"]) for e in trail][:2] == [
        ("backup restore", "ok"),
        ("backup create", "ok"),
    ]


def test_a_restore_of_a_ledger_older_than_the_last_published_checkpoint_is_refused_and_changes_nothing(
    source: Source, target_db: str, tmp_path: Path
) -> None:
    archive = tmp_path / "old.backup"
    ok(source.env, "backup", "create", "--output", str(archive))
    mint(source.env, source.db_url, 1, ("m-roof-1",))  # more GRN after the backup ...
    ok(source.env, "ledger", "checkpoint")  # ... and members were shown it
    newer = tmp_path / "src" / "state" / "ledger-checkpoint.json"
    env = target_env(source, target_db, tmp_path)

    for how in (["--checkpoint", str(newer)], []):  # a member's copy; the source broker's retained one
        if not how:
            env["CIRCULO_MQTT_URL"] = source.env["CIRCULO_MQTT_URL"]
        refused = run(env, "backup", "restore", str(archive), *how)
        assert refused.exit_code == 5
        assert refused.stderr.startswith(
            "error: the archive's ledger is older than the last published checkpoint"
        )
        assert len(refused.stderr.strip().splitlines()) == 1
        assert scalar(target_db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        assert not (tmp_path / "dst").exists()

    accepted = ok(env, "backup", "restore", str(archive), "--accept-older-ledger")
    assert "ACCEPTED on purpose" in accepted.stdout
    [entry] = [
        e for e in json.loads(ok(env, "audit", "list", "--json").stdout) if e["command"] == "backup restore"
    ]
    assert entry["arguments"]["accept_older_ledger"] is True and "older" in entry["detail"]


@pytest.mark.parametrize(
    "damage", ["wrong passphrase", "flipped byte", "truncated", "missing file", "not empty"]
)
def test_bad_input_is_one_clear_line_and_changes_nothing(
    source: Source, target_db: str, tmp_path: Path, damage: str
) -> None:
    archive = tmp_path / "circulo.backup"
    ok(source.env, "backup", "create", "--output", str(archive))
    env = target_env(source, target_db, tmp_path)
    data = bytearray(archive.read_bytes())
    expected = {"wrong passphrase": "error: wrong passphrase", "flipped byte": "error: archive is damaged",
                "truncated": "error: archive is truncated", "missing file": "error: no archive at",
                "not empty": "error: the target database is not empty"}[damage]  # fmt: skip
    if damage == "wrong passphrase":
        (tmp_path / "other").write_text("another long passphrase\n")
        env["CIRCULO_BACKUP_PASSPHRASE_FILE"] = str(tmp_path / "other")
    elif damage == "flipped byte":
        data[len(data) // 2] ^= 0x40
        archive.write_bytes(bytes(data))
    elif damage == "truncated":
        archive.write_bytes(bytes(data[: len(data) - 100]))
    elif damage == "missing file":
        archive = tmp_path / "no-such.backup"
    else:
        with psycopg.connect(target_db) as conn:
            conn.execute("CREATE TABLE notes (line text)")
    result = run(env, "backup", "restore", str(archive))
    assert result.exit_code != 0
    assert result.stderr.startswith(expected), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    expected_tables = 1 if damage == "not empty" else 0
    assert scalar(target_db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == expected_tables
    assert not (tmp_path / "dst").exists()


def test_backup_refuses_a_short_passphrase_an_existing_archive_and_a_missing_broker_file(
    source: Source, tmp_path: Path
) -> None:
    (tmp_path / "short").write_text("short\n")
    short = run({**source.env, "CIRCULO_BACKUP_PASSPHRASE_FILE": str(tmp_path / "short")},
                "backup", "create", "-o", str(tmp_path / "a.backup"))  # fmt: skip
    assert short.stderr.startswith("error: the passphrase must have at least 12 characters")
    (tmp_path / "b.backup").write_text("keep me")
    exists = run(source.env, "backup", "create", "-o", str(tmp_path / "b.backup"))
    assert exists.stderr.startswith("error:") and "refusing to overwrite" in exists.stderr
    assert (tmp_path / "b.backup").read_text() == "keep me"
    gone = run({**source.env, "CIRCULO_BACKUP_DYNSEC_FILE": str(tmp_path / "nope.json")},
               "backup", "create", "-o", str(tmp_path / "c.backup"))  # fmt: skip
    assert gone.stderr.startswith("error: broker/dynamic-security.json:") and "does not exist" in gone.stderr
    assert not (tmp_path / "a.backup").exists() and not (tmp_path / "c.backup").exists()


def test_backup_verify_reads_the_archive_and_judges_it_against_a_checkpoint(
    source: Source, tmp_path: Path
) -> None:
    archive = tmp_path / "circulo.backup"
    ok(source.env, "backup", "create", "--output", str(archive))
    verified = json.loads(ok(source.env, "backup", "verify", str(archive), "--json").stdout)
    assert verified["ledger_size"] == scalar(source.db_url, "SELECT count(*) FROM ledger_entry")
    assert set(verified["files"]) == {"broker/dynamic-security.json", "ledger/ledger-signing.key",
                                      "ledger/ledger-signing.key.pub", "pki"}  # fmt: skip
    assert {c["verdict"] for c in verified["checkpoints"]} == {"consistent"}
