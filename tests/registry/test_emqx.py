"""The registry serves EMQX: its views answer EMQX's queries with the rights the registry gives.

EMQX cannot run here, so tests/registry/emqx_double.py does what EMQX does with the queries and
hash settings of deploy/emqx/emqx.conf (parsed with pyhocon), against the real database; the
accounts come from the registry's own operations on the session's real Mosquitto.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from pyhocon import ConfigFactory

from circulo.cli import cli
from circulo.errors import Conflict
from circulo.localstack.mosquitto import MosquittoBroker
from circulo.localstack.postgres import PostgresCluster
from circulo.registry import devices, emqx, members, service_accounts
from circulo.registry.bundle import IssuedCredentials
from circulo.registry.dynsec import SERVICE_ROLES, service_roles
from circulo.registry.model import DeviceSpec
from circulo.registry.provision import broker_admin
from circulo.registry.service_accounts import SERVICE_ACCOUNT_ROLES, ServiceCredentials
from circulo.registry.settings import RegistrySettings
from tests.conftest import BrokerAccounts
from tests.factories import unique_id
from tests.registry.emqx_double import Emqx, prepare, topic_match, words

CONFIG_FILE = Path(__file__).resolve().parents[2] / "deploy" / "emqx" / "emqx.conf"
CONFIG = ConfigFactory.parse_file(str(CONFIG_FILE))
EMQX = Emqx.from_config(CONFIG)
TELEMETRY = "telemetry"


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


def add_device(settings: RegistrySettings, coop_id: str, kind: str = "meter") -> IssuedCredentials:
    rated = {"rated_power_w": 5000} if kind == "meter" else {}
    spec = DeviceSpec(kind, unique_id(kind[0]), coop_id, **rated)  # type: ignore[arg-type]
    return devices.add_device(settings, spec).credentials


def add_service(settings: RegistrySettings, conn: psycopg.Connection, role: str) -> ServiceCredentials:
    with broker_admin(settings) as admin:
        return service_accounts.add_service_account(admin, unique_id(f"svc-{role}"), role, conn)


# --- the EMQX configuration matches what the registry writes -----------------------------------
def test_the_config_checks_passwords_as_the_registry_hashes_them_with_the_registrys_queries() -> None:
    (authn,) = CONFIG["authentication"]
    assert (authn["mechanism"], authn["backend"]) == ("password_based", "postgresql")
    assert dict(authn["password_hash_algorithm"]) == {
        "name": "pbkdf2", "mac_fun": emqx.MAC_FUN, "iterations": emqx.ITERATIONS, "dk_length": emqx.DK_LENGTH,
    }  # fmt: skip
    assert authn["query"] == emqx.AUTHN_QUERY
    (source,) = CONFIG["authorization"]["sources"]
    assert source["type"] == "postgresql" and source["query"] == emqx.AUTHZ_QUERY
    # EMQX turns each placeholder into a statement parameter, never into SQL text
    assert prepare(emqx.AUTHN_QUERY) == (emqx.AUTHN_QUERY.replace("${username}", "$1"), ["username"])
    assert prepare(emqx.AUTHZ_QUERY)[1] == ["username"]
    for database in (authn, source):
        assert database["username"] == "circulo_emqx_login" and "password" not in database
        assert database["ssl"]["enable"] is True and database["ssl"]["verify"] == "verify_peer"


def test_the_config_denies_by_default_and_serves_devices_only_over_tls() -> None:
    assert CONFIG["authorization"]["no_match"] == "deny"
    listeners = CONFIG["listeners"]
    assert [listeners[kind]["default"]["enable"] for kind in ("tcp", "ws", "wss")] == [False] * 3
    mosquitto = (CONFIG_FILE.parents[1] / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    for name, listener in listeners["ssl"].items():
        assert listener["enable_authn"] is True, name
        options = listener["ssl_options"]
        assert set(options["versions"]) <= {"tlsv1.2", "tlsv1.3"}, name
        for key in ("certfile", "keyfile", "cacertfile"):
            if key in options:  # the PKI's broker/ files, as Mosquitto's config names them
                assert options[key].startswith("/circulo/pki/broker/"), (name, key)
                assert Path(options[key]).name in mosquitto, (name, key)
    assert listeners["ssl"]["default"]["bind"].endswith(":8883")
    assert listeners["ssl"]["services"]["bind"].endswith(":8884")


def test_the_ingests_sessions_never_drop_qos1_and_packets_above_its_limit_reach_it() -> None:
    from circulo.ingest.settings import IngestSettings  # noqa: PLC0415

    assert CONFIG["listeners"]["ssl"]["services"]["zone"] == "services"
    services = CONFIG["zones"]["services"]
    assert services["mqtt"]["max_mqueue_len"] in ("infinity", 0)  # EMQX: 0 and infinity are no limit
    assert services["mqtt"]["mqueue_store_qos0"] is False
    assert services["force_shutdown"]["enable"] is False  # a long queue never kills its session
    limit = IngestSettings().max_payload_bytes
    for mqtt in (CONFIG["mqtt"], services["mqtt"]):
        assert byte_size(mqtt["max_packet_size"]) >= 64 * limit


def byte_size(text: str) -> int:
    """EMQX's bytesize(): a number and KB, MB or GB (powers of 1024)."""
    units = {"KB": 1024, "MB": 1024**2, "GB": 1024**3}
    unit = text[-2:].upper()
    return int(text[:-2]) * units[unit] if unit in units else int(text)


def test_the_cluster_compose_file_runs_three_nodes_and_one_ingest_group() -> None:
    import yaml  # noqa: PLC0415
    from jsonschema import Draft7Validator  # noqa: PLC0415

    compose_file = CONFIG_FILE.with_name("docker-compose.cluster.yml")
    compose = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    schema_file = Path(__file__).resolve().parents[1] / "deploy" / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    assert [e.message for e in Draft7Validator(schema).iter_errors(compose)] == []
    services = compose["services"]
    nodes = {name: s for name, s in services.items() if s.get("image", "").startswith("emqx/emqx:5.8.")}
    names = {s["environment"]["EMQX_NODE__NAME"] for s in nodes.values()}
    assert len(nodes) == 3 and names == set(CONFIG["cluster"]["static"]["seeds"])
    for node in nodes.values():
        assert "emqx" in node["networks"]["default"]["aliases"]
        assert node["environment"]["EMQX_NODE__NAME"].split("@")[1] in node["networks"]["default"]["aliases"]
        for volume in node["volumes"]:
            source = volume.split(":", 1)[0]
            assert not source.startswith(".") or (CONFIG_FILE.parents[1] / source).exists(), source
    workers = [s for s in services.values() if "command" in s and s["command"][0] == "ingest"]
    groups = {s["command"][s["command"].index("--shared-group") + 1] for s in workers}
    ids = [s["command"][s["command"].index("--worker-id") + 1] for s in workers]
    assert groups == {"circulo-ingest"} and len(set(ids)) == len(ids) == 2  # plus the base file's ingest-1
    assert "@emqx:8884" in services["ingest"]["environment"]["CIRCULO_MQTT_URL"]
    example = (CONFIG_FILE.parents[1] / ".env.example").read_text(encoding="utf-8")
    names = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line and line[0] != "#"}
    used = set(re.findall(r"\$\{(\w+)(?::?[-?][^}]*)?\}", compose_file.read_text(encoding="utf-8")))
    assert used - names == set()


def test_emqx_topic_matching_as_its_source_defines_it() -> None:
    assert topic_match(words("a/b"), words("a/#")) and topic_match(words("a"), words("a/#"))
    assert topic_match(words("a/b/c"), words("a/+/c")) and not topic_match(words("a/b"), words("a/+/c"))
    assert not topic_match(words("$SYS/x"), words("#")) and not topic_match(words("$SYS/x"), words("+/x"))
    # a subscription's wildcard is allowed only by an equal or wider one in the rule
    assert topic_match(words("a/+"), words("a/+")) and not topic_match(words("a/+"), words("a/b"))
    assert topic_match(words("a/#"), words("a/#")) and not topic_match(words("a/#"), words("a/b"))


# --- authentication ----------------------------------------------------------------------------
def test_a_device_connects_with_its_password_and_nothing_else_does(
    registry_settings: RegistrySettings, coop_id: str, conn: psycopg.Connection
) -> None:
    meter = add_device(registry_settings, coop_id)
    other = add_device(registry_settings, coop_id)
    assert EMQX.connects(conn, meter.device_id, meter.password)
    assert not EMQX.connects(conn, meter.device_id, other.password)
    assert not EMQX.connects(conn, meter.device_id, meter.password.upper())
    assert not EMQX.connects(conn, meter.device_id, None)
    assert not EMQX.connects(conn, None, meter.password)  # anonymous
    assert not EMQX.connects(conn, unique_id("nobody"), meter.password)
    # the database holds a hash, never the password
    stored = conn.execute(
        "SELECT * FROM broker_credential WHERE username = %s", (meter.device_id,)
    ).fetchone()
    assert stored is not None and meter.password not in str(stored)


def test_a_rotated_devices_old_password_no_longer_verifies(
    registry_settings: RegistrySettings, coop_id: str, conn: psycopg.Connection
) -> None:
    meter = add_device(registry_settings, coop_id)
    rotated = devices.rotate_credentials(registry_settings, meter.device_id)
    assert not EMQX.connects(conn, meter.device_id, meter.password)
    assert EMQX.connects(conn, meter.device_id, rotated.password)


def test_a_retired_device_has_no_account_and_no_rights(
    registry_settings: RegistrySettings, coop_id: str, conn: psycopg.Connection
) -> None:
    meter = add_device(registry_settings, coop_id)
    devices.retire_device(registry_settings, meter.device_id)
    assert not EMQX.connects(conn, meter.device_id, meter.password)
    own = f"circulo/v1/meter/{meter.device_id}/{TELEMETRY}"
    assert not EMQX.allows(conn, meter.device_id, "publish", own)
    for view in ("emqx.mqtt_user", "emqx.mqtt_acl"):
        assert conn.execute(
            f"SELECT count(*) FROM {view} WHERE username = %s", (meter.device_id,)
        ).fetchone() == (0,)
    assert conn.execute(
        "SELECT count(*) FROM broker_credential WHERE username = %s", (meter.device_id,)
    ).fetchone() == (0,)


# --- authorisation -----------------------------------------------------------------------------
def test_a_device_publishes_only_its_own_data_and_subscribes_only_to_its_own_commands(
    registry_settings: RegistrySettings, coop_id: str, conn: psycopg.Connection
) -> None:
    meter, other = add_device(registry_settings, coop_id), add_device(registry_settings, coop_id)
    me, them = meter.device_id, other.device_id
    allowed = [
        ("publish", f"circulo/v1/meter/{me}/telemetry"),
        ("publish", f"circulo/v1/meter/{me}/status"),
        ("publish", f"circulo/v1/meter/{me}/status/switch:0"),  # a firmware's own topics (SPEC §10)
        ("subscribe", f"circulo/cmd/v1/meter/{me}"),
        ("publish", f"circulo/v1/meter/{me}"),  # `a/#` covers `a` itself, in EMQX as in Mosquitto
    ]
    refused = [
        ("publish", f"circulo/v1/meter/{them}/telemetry"),
        ("publish", f"circulo/v1/bin/{me}/telemetry"),  # same id, another kind
        ("publish", f"circulo/v1/meter/{me}/rpc"),
        ("publish", f"circulo/v1/meter/{me}/command"),
        ("publish", f"circulo/v1/meter/{me}/command/switch:0"),
        ("publish", f"circulo/v1/meter/{me}/cmnd/POWER"),
        ("publish", f"circulo/cmd/v1/meter/{me}"),
        ("publish", f"circulo/cmd/v1/meter/{them}"),
        ("publish", "circulo/ledger/v1/checkpoint"),
        ("subscribe", f"circulo/cmd/v1/meter/{them}"),
        ("subscribe", "circulo/cmd/v1/meter/+"),
        ("subscribe", "circulo/cmd/v1/#"),
        ("subscribe", f"circulo/cmd/v1/meter/{me}/#"),
        ("subscribe", f"circulo/v1/meter/{me}/#"),
        ("subscribe", f"$share/g/circulo/cmd/v1/meter/{them}"),
        ("subscribe", "$SYS/#"),
        ("subscribe", "#"),
    ]
    assert [t for a, t in allowed if not EMQX.allows(conn, me, a, t)] == []
    assert [t for a, t in refused if EMQX.allows(conn, me, a, t)] == []


def test_the_views_rules_for_a_device_are_the_registrys_rules(
    registry_settings: RegistrySettings, coop_id: str, conn: psycopg.Connection
) -> None:
    for kind in ("meter", "bin", "repair"):
        device = add_device(registry_settings, coop_id, kind)
        rows = conn.execute(
            "SELECT permission, action, topic FROM emqx.mqtt_acl WHERE username = %s ORDER BY position",
            (device.device_id,),
        ).fetchall()
        assert [emqx.AclRow(*r) for r in rows] == emqx.device_rows(kind, device.device_id)


def test_every_service_role_is_served_as_its_broker_role(
    registry_settings: RegistrySettings, conn: psycopg.Connection
) -> None:
    # a new role must be served too, as an account's own role or as a companion (the replay role)
    served = {name for rolename in SERVICE_ACCOUNT_ROLES.values() for name in service_roles(rolename)}
    assert served == set(SERVICE_ROLES)
    for role, rolename in SERVICE_ACCOUNT_ROLES.items():
        account = add_service(registry_settings, conn, role)
        assert EMQX.connects(conn, account.username, account.password)
        rows = conn.execute(
            "SELECT permission, action, topic FROM emqx.mqtt_acl WHERE username = %s ORDER BY position",
            (account.username,),
        ).fetchall()
        assert [emqx.AclRow(*r) for r in rows] == emqx.service_role_rows(rolename)


@pytest.mark.parametrize(
    ("role", "action", "topic", "allowed"),
    [
        ("ingest", "subscribe", "$share/circulo-ingest/circulo/v1/#", True),
        ("ingest", "subscribe", "circulo/v1/#", True),
        ("ingest", "publish", "circulo/cmd/v1/meter/m-1", True),  # the replay role (SPEC §11)
        ("ingest", "publish", "circulo/v1/meter/m-1/telemetry", False),
        ("ingest", "subscribe", "circulo/ledger/v1/#", False),
        ("simulator", "publish", "circulo/v1/meter/m-1/telemetry", True),
        ("simulator", "publish", "circulo/v1/meter/m-1/rpc", False),
        ("simulator", "publish", "circulo/v1/meter/m-1/cmnd/POWER", False),
        ("simulator", "publish", "circulo/cmd/v1/meter/m-1", False),
        ("simulator", "subscribe", "circulo/v1/#", False),
        ("rewards", "publish", "circulo/ledger/v1/checkpoint", True),
        ("rewards", "publish", "circulo/ledger/v1/other", False),
        ("rewards", "subscribe", "circulo/ledger/v1/#", True),
        ("operator", "subscribe", "circulo/#", True),
        ("operator", "publish", "circulo/v1/meter/m-1/telemetry", False),
        ("operator", "publish", "circulo/cmd/v1/meter/m-1", False),
        ("firmware-operator", "publish", "circulo/v1/meter/m-1/rpc", True),
        ("firmware-operator", "publish", "circulo/v1/meter/m-1/command/switch:0", True),
        ("firmware-operator", "publish", "circulo/v1/meter/m-1/telemetry", False),
        ("firmware-operator", "publish", "circulo/cmd/v1/meter/m-1", False),
        ("monitor", "subscribe", "$SYS/broker/#", True),
        ("monitor", "subscribe", "circulo/v1/#", False),
    ],
)
def test_service_accounts_may_do_what_their_role_says_and_nothing_else(
    registry_settings: RegistrySettings,
    conn: psycopg.Connection,
    role: str,
    action: str,
    topic: str,
    allowed: bool,
) -> None:
    account = add_service(registry_settings, conn, role)
    assert EMQX.allows(conn, account.username, action, topic) is allowed


def test_a_rotated_service_accounts_old_password_no_longer_verifies(
    registry_settings: RegistrySettings, conn: psycopg.Connection
) -> None:
    account = add_service(registry_settings, conn, "ingest")
    with broker_admin(registry_settings) as admin:
        rotated = service_accounts.rotate_service_account(admin, account.username, conn)
    assert not EMQX.connects(conn, account.username, account.password)
    assert EMQX.connects(conn, account.username, rotated.password)


# --- the read-only login -----------------------------------------------------------------------
@pytest.fixture
def emqx_url(pg: PostgresCluster, db_url: str) -> Iterator[str]:
    role = f"emqx_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.url(), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN IN ROLE circulo_emqx")
    yield db_url.replace("postgresql://postgres@", f"postgresql://{role}@")
    with psycopg.connect(pg.url(), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE usename = %s", (role,)
        )
        admin.execute(f"DROP ROLE {role}")


def test_emqxs_login_reads_the_two_views_and_nothing_else(
    registry_settings: RegistrySettings, coop_id: str, emqx_url: str
) -> None:
    meter = add_device(registry_settings, coop_id)
    with psycopg.connect(emqx_url, autocommit=True) as as_emqx:
        assert EMQX.connects(as_emqx, meter.device_id, meter.password)
        assert EMQX.allows(
            as_emqx, meter.device_id, "publish", f"circulo/v1/meter/{meter.device_id}/telemetry"
        )
        readable = as_emqx.execute(
            """SELECT n.nspname || '.' || c.relname
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                 AND n.nspname NOT LIKE '\\_timescaledb%%' AND n.nspname NOT LIKE 'timescaledb\\_%%'
                 AND has_table_privilege(c.oid, 'SELECT') ORDER BY 1"""
        ).fetchall()
        # (TimescaleDB's own catalog is readable by every role; it holds no Circulo data)
        assert [r[0] for r in readable] == ["emqx.mqtt_acl", "emqx.mqtt_user"]
        for table in ("broker_credential", "device", "device_credentials", "broker_role_acl"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                as_emqx.execute(f"SELECT 1 FROM {table} LIMIT 1")
        writes = as_emqx.execute(
            "SELECT has_table_privilege(v, p) FROM unnest(ARRAY['emqx.mqtt_user', 'emqx.mqtt_acl']) AS v,"
            " unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p"
        ).fetchall()
        assert writes == [(False,)] * 8


# --- moving from Mosquitto: its hashes are EMQX's -----------------------------------------------
def test_a_mosquitto_dynsec_hash_verifies_with_emqxs_configured_algorithm(tmp_path: Path) -> None:
    file = tmp_path / "dynsec.json"
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(file), "someone", "a-Password-1"], check=True,
                   capture_output=True)  # fmt: skip
    (client,) = json.loads(file.read_text(encoding="utf-8"))["clients"]
    hashed = emqx.dynsec_hash(client)
    assert hashed is not None and hashed.served()
    import hashlib  # noqa: PLC0415

    derived = hashlib.pbkdf2_hmac(EMQX.mac_fun, b"a-Password-1", hashed.salt, EMQX.iterations, EMQX.dk_length)
    assert derived.hex() == hashed.password_hash
    assert emqx.hash_password("a-Password-1", hashed.salt) == hashed


def dynsec_document(broker: MosquittoBroker) -> dict[str, Any]:
    return json.loads(broker.dynsec_file.read_text(encoding="utf-8"))


def test_devices_registered_before_emqx_keep_their_passwords_through_an_import(
    registry_settings: RegistrySettings, coop_id: str, conn: psycopg.Connection, broker: MosquittoBroker
) -> None:
    meter, moved_on, retired = (add_device(registry_settings, coop_id) for _ in range(3))
    ingest = add_service(registry_settings, conn, "ingest")
    devices.retire_device(registry_settings, retired.device_id)
    # before this migration the registry kept no hashes: only Mosquitto had them
    conn.execute("DELETE FROM broker_credential")
    document = dynsec_document(broker)
    rotated = devices.rotate_credentials(registry_settings, moved_on.device_id)  # after the file was copied

    result = emqx.import_dynsec(conn, document)

    assert {meter.device_id, ingest.username} <= set(result.imported)
    assert result.kept == (moved_on.device_id,)  # the registry's newer hash wins
    assert result.skipped[retired.device_id] == "disabled on the broker"
    assert EMQX.connects(conn, meter.device_id, meter.password)  # hashed by Mosquitto, checked as EMQX does
    assert EMQX.connects(conn, ingest.username, ingest.password)
    assert EMQX.allows(conn, ingest.username, "subscribe", "$share/circulo-ingest/circulo/v1/#")
    assert not EMQX.connects(conn, moved_on.device_id, moved_on.password)
    assert EMQX.connects(conn, moved_on.device_id, rotated.password)
    assert not EMQX.connects(conn, retired.device_id, retired.password)
    assert emqx.import_dynsec(conn, document).imported == ()  # a second run changes nothing


def test_an_import_skips_what_emqx_must_not_accept(conn: psycopg.Connection) -> None:
    hashed = emqx.hash_password("x")
    good = {
        "password": _b64(bytes.fromhex(hashed.password_hash)),
        "salt": _b64(hashed.salt),
        "iterations": 101,
    }
    document = {
        "clients": [
            {"username": "circulo-admin", "roles": [{"rolename": "admin"}], **good},
            {"username": "m-unknown", "roles": [{"rolename": "circulo-device-m-unknown"}], **good},
            {"username": "svc-slow", "roles": [{"rolename": "circulo-ingest"}], **good, "iterations": 1000},
            {"username": "svc-nopw", "roles": [{"rolename": "circulo-ingest"}]},
        ]
    }
    result = emqx.import_dynsec(conn, document)
    assert result.imported == ()
    assert set(result.skipped) == {"circulo-admin", "m-unknown", "svc-slow", "svc-nopw"}
    assert conn.execute("SELECT count(*) FROM broker_credential").fetchone() == (0,)


def _b64(data: bytes) -> str:
    import base64  # noqa: PLC0415

    return base64.b64encode(data).decode()


# --- the command line --------------------------------------------------------------------------
def test_the_command_line_keeps_service_hashes_and_imports_a_dynsec_file(
    db_url: str, broker_accounts: BrokerAccounts, conn: psycopg.Connection, tmp_path: Path
) -> None:
    env = broker_accounts.registry_env(db_url, BUNDLE_DIR=str(tmp_path / "bundles"))
    name = unique_id("svc-sim")
    added = CliRunner().invoke(
        cli, ["service-account", "add", name, "--role", "simulator", "--json"], env=env
    )
    assert added.exit_code == 0, added.output
    assert EMQX.connects(conn, name, json.loads(added.output)["password"])
    conn.execute("DELETE FROM broker_credential")
    file = tmp_path / "dynamic-security.json"
    file.write_text(broker_accounts.broker.dynsec_file.read_text(encoding="utf-8"), encoding="utf-8")
    imported = CliRunner().invoke(cli, ["device", "import-hashes", str(file), "--json"], env=env)
    assert imported.exit_code == 0, imported.output
    assert name in json.loads(imported.output)["imported"]
    assert EMQX.connects(conn, name, json.loads(added.output)["password"])


# --- the registry with EMQX as its broker: no Mosquitto at all -----------------------------------
@pytest.fixture
def emqx_settings(db_url: str) -> RegistrySettings:
    """The registry as it runs beside an EMQX cluster: no broker admin URL, no PKI reload."""
    settings = RegistrySettings(
        database_url=db_url, broker="emqx", device_broker_url="mqtts://mqtt.example.org:8883"
    )
    members.add_coop(settings, "coop1", "Co-op One")
    return settings


def test_with_emqx_the_registrys_own_operations_are_the_broker_step(
    emqx_settings: RegistrySettings, conn: psycopg.Connection
) -> None:
    meter = add_device(emqx_settings, "coop1")
    assert EMQX.connects(conn, meter.device_id, meter.password)
    with pytest.raises(Conflict, match="already registered and has credentials"):
        devices.add_device(emqx_settings, devices.show_device(emqx_settings, meter.device_id).spec)
    rotated = devices.rotate_credentials(emqx_settings, meter.device_id)
    assert not EMQX.connects(conn, meter.device_id, meter.password)
    assert EMQX.connects(conn, meter.device_id, rotated.password)
    assert devices.sync_broker(emqx_settings, lambda c: None) == []  # nothing is missing
    devices.retire_device(emqx_settings, meter.device_id)
    assert not EMQX.connects(conn, meter.device_id, rotated.password)
    assert devices.show_device(emqx_settings, meter.device_id).broker_state == "disabled"

    with broker_admin(emqx_settings) as admin:
        account = service_accounts.add_service_account(admin, unique_id("svc-ingest"), "ingest", conn)
        with pytest.raises(Conflict):
            service_accounts.add_service_account(admin, account.username, "ingest", conn)
        assert [(c.username, r) for c, r in service_accounts.list_service_accounts(admin)] == [
            (account.username, "ingest")
        ]
    assert EMQX.allows(conn, account.username, "subscribe", "$share/circulo-ingest/circulo/v1/#")


def test_with_emqx_sync_gives_a_device_without_a_hash_fresh_credentials(
    emqx_settings: RegistrySettings, conn: psycopg.Connection
) -> None:
    meter = add_device(emqx_settings, "coop1")
    conn.execute("DELETE FROM broker_credential")  # registered before the registry kept hashes
    issued: list[IssuedCredentials] = []
    plan = devices.sync_broker(emqx_settings, issued.append)
    assert [(a.step.name, a.target) for a in plan] == [("CREATE_CLIENT", meter.device_id)]
    assert EMQX.connects(conn, meter.device_id, issued[0].password)
