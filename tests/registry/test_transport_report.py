"""How a device reaches the broker, from what the broker can tell (its log and config), and the
migration window: `device list` shows who is still on plaintext, `device check` the listener."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from circulo.cli import cli
from circulo.localstack.mosquitto import MosquittoBroker
from circulo.pki.settings import PkiSettings
from circulo.registry import devices, members
from circulo.registry.brokerlog import Listener, last_connections, listeners, transport_of
from circulo.registry.check import CheckSnapshot, TlsFacts, Verdict, evaluate
from circulo.registry.commissioning import check_device
from circulo.registry.handout import Handout
from circulo.registry.model import DeviceSpec
from tests.conftest import BrokerAccounts, service_passwords, start_broker
from tests.factories import unique_id
from tests.registry.mqtt_probe import Probe

# lines as Mosquitto 2.0.11 writes them with deploy/mosquitto/mosquitto.conf's log_timestamp_format
LOG = """\
2026-12-02T20:47:06+0000: New connection from 127.0.0.1:53752 on port 18883.
2026-12-02T20:47:06+0000: OpenSSL Error[0]: error:0A00010B:SSL routines::wrong version number
2026-12-02T20:47:06+0000: Client <unknown> disconnected: Protocol error.
2026-12-02T20:47:07+0000: New connection from 127.0.0.1:51932 on port 18883.
2026-12-02T20:47:07+0000: New connection from 10.0.0.9:40001 on port 1883.
2026-12-02T20:47:07+0000: New client connected from 10.0.0.9:40001 as old-meter (p2, c1, k60, u'old-meter').
2026-12-02T20:47:08+0000: New client connected from 127.0.0.1:51932 as dev1 (p5, c0, k30, u'dev1').
2026-12-02T20:47:09+0000: New connection from 127.0.0.1:51990 on port 18884.
2026-12-02T20:47:09+0000: New client connected from 127.0.0.1:51990 as auto-1 (p5, c1, k60).
2026-12-02T21:00:00+0000: New connection from 127.0.0.1:52000 on port 18884.
2026-12-02T21:00:00+0000: New client connected from 127.0.0.1:52000 as dev1 (p5, c0, k30, u'dev1').
"""
CONF = """\
listener 18883 0.0.0.0
protocol mqtt
certfile /certs/server.pem
require_certificate true
listener 18884
certfile /certs/server.pem
#MIGRATION# listener 1
listener 1883 0.0.0.0
"""


def test_the_config_says_which_listener_is_tls_and_which_requires_a_certificate() -> None:
    assert listeners(CONF) == {
        18883: Listener(18883, tls=True, certificate_required=True, bind="0.0.0.0"),  # noqa: S104 - a config read, not a bind
        18884: Listener(18884, tls=True, certificate_required=False, bind=""),
        1883: Listener(1883, tls=False, certificate_required=False, bind="0.0.0.0"),  # noqa: S104 - a config read, not a bind
    }


def test_each_username_gets_its_last_connection_matched_by_address_and_port() -> None:
    found = last_connections(LOG.splitlines())
    assert set(found) == {"old-meter", "dev1"}  # no username (auto-1): not a device
    assert (found["dev1"].port, found["dev1"].at) == (18884, datetime(2026, 12, 2, 21, 0, tzinfo=UTC))
    assert found["old-meter"].port == 1883
    config = listeners(CONF)
    assert transport_of("old-meter", found, config).words() == "plaintext on port 1883"  # type: ignore[union-attr]
    assert transport_of("nobody", found, config) is None


def snapshot(transport_port: int, *, mutual_tls: bool = False, status: str = "active") -> CheckSnapshot:
    now = datetime(2026, 12, 2, 21, 5, tzinfo=UTC)
    port_line = f"2026-12-02T21:04:00+0000: New connection from 127.0.0.1:9 on port {transport_port}.\n"
    client = "2026-12-02T21:04:00+0000: New client connected from 127.0.0.1:9 as d (p5, c0, k30, u'd').\n"
    transport = transport_of("d", last_connections([port_line.strip(), client.strip()]), listeners(CONF))
    tls = TlsFacts(mutual_tls=mutual_tls, device_listener=18883, transport=transport, log_read=True)
    return CheckSnapshot("d", "meter", "c1", status, now, tls=tls)


@pytest.mark.parametrize(
    ("port", "mutual_tls", "verdict", "words"),
    [
        (18883, True, Verdict.PASS, "TLS on port 18883, client certificate required"),
        (1883, False, Verdict.WARN, "plaintext on port 1883"),
        (18884, False, Verdict.WARN, "TLS on port 18884, client certificate not required"),
    ],
)
def test_the_transport_check_judges_the_listener_the_device_last_used(
    port: int, mutual_tls: bool, verdict: Verdict, words: str
) -> None:
    checks = {c.name: c for c in evaluate(snapshot(port, mutual_tls=mutual_tls)).checks}
    assert checks["transport"].status is verdict
    assert checks["transport"].summary.startswith(f"last connected {words}")


def test_a_bundle_left_in_the_bundle_directory_after_commissioning_is_a_warning() -> None:
    base = snapshot(18883)
    left = CheckSnapshot("d", "meter", "c1", "active", base.now, tls=TlsFacts(bundle_file="/b/d.json"))
    before = CheckSnapshot("d", "meter", "c1", "registered", base.now, tls=TlsFacts(bundle_file="/b/d.json"))
    assert {c.name: c.status for c in evaluate(left).checks}["bundle_file"] is Verdict.WARN
    assert "bundle_file" not in {c.name for c in evaluate(before).checks}  # the installer still needs it


def test_the_broker_certificate_expiring_soon_is_a_warning_and_expired_a_failure() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    for days, verdict in ((90, Verdict.PASS), (10, Verdict.WARN), (-1, Verdict.FAIL)):
        tls = TlsFacts(broker_certificate_not_after=now + timedelta(days=days))
        s = CheckSnapshot("d", "meter", "c1", "active", now, tls=tls)
        assert {c.name: c.status for c in evaluate(s).checks}["broker_certificate"] is verdict


# --- on a real broker with the migration window open ----------------------------------------------
@pytest.fixture
def window(tmp_path: Path, local_pki_settings: PkiSettings) -> BrokerAccounts:
    passwords = service_passwords()
    broker = start_broker(tmp_path / "mosquitto", passwords, local_pki_settings, plain=True)
    yield BrokerAccounts(broker, passwords, local_pki_settings)
    broker.kill()


def connect_and_say_online(broker: MosquittoBroker, device_id: str, password: str, listener: str) -> None:
    probe = (
        Probe.at(broker, device_id, password, listener=listener)
        if listener != "plain"
        else Probe("127.0.0.1", broker.ports["plain"], device_id, password)
    )
    with probe:
        code = probe.connect()
        assert code is not None and not code.is_failure
        assert probe.publish(f"circulo/v1/meter/{device_id}/status", b"", retain=True) < 0x80


def test_device_list_shows_who_still_uses_plaintext_during_the_migration_window(
    db_url: str, window: BrokerAccounts, tmp_path: Path
) -> None:
    env = window.registry_env(db_url)
    settings = window.registry_settings(db_url)
    members.add_coop(settings, "c1", "C1")
    moved, waiting = unique_id("m"), unique_id("m")
    issued = {
        d: devices.add_device(settings, DeviceSpec("meter", d, "c1", rated_power_w=100)).credentials.password
        for d in (moved, waiting)
    }
    connect_and_say_online(window.broker, moved, issued[moved], "devices")
    connect_and_say_online(window.broker, waiting, issued[waiting], "plain")
    listed = CliRunner().invoke(cli, ["device", "list", "--json"], env=env, catch_exceptions=False)
    assert listed.exit_code == 0, listed.stderr
    transport = {d["device_id"]: d["transport"] for d in json.loads(listed.stdout)}
    assert transport[moved]["tls"] is True and transport[moved]["port"] == window.broker.port
    assert transport[waiting] == {**transport[waiting], "tls": False, "port": window.broker.plain_port}
    table = CliRunner().invoke(cli, ["device", "list"], env=env, catch_exceptions=False).stdout
    rows = {line.split()[0]: line.split()[-1] for line in table.splitlines()[1:]}
    assert rows[moved] == "TLS" and rows[waiting] == "PLAIN"


def test_device_check_reports_the_listener_and_warns_about_a_bundle_left_behind(
    db_url: str, broker_accounts: BrokerAccounts, tmp_path: Path
) -> None:
    bundles = tmp_path / "bundles"
    settings = broker_accounts.registry_settings(db_url, bundle_dir=str(bundles))
    members.add_coop(settings, "c1", "C1")
    device_id = unique_id("m")
    credentials = devices.add_device(
        settings, DeviceSpec("meter", device_id, "c1", rated_power_w=100)
    ).credentials
    Handout.prepare(settings, bundles).hand_out(credentials)
    connect_and_say_online(broker_accounts.broker, device_id, credentials.password, "devices")
    devices_store_active(db_url, device_id)
    checks = {c.name: c for c in check_device(settings, device_id).report.checks}
    assert checks["transport"].status is Verdict.PASS
    port = broker_accounts.broker.port
    assert checks["transport"].summary.startswith(
        f"last connected TLS on port {port}, client certificate not"
    )
    assert checks["bundle_file"].status is Verdict.WARN
    assert str(bundles / f"{device_id}.json") in checks["bundle_file"].summary
    (bundles / f"{device_id}.json").unlink()
    after = {c.name for c in check_device(settings, device_id).report.checks}
    assert "bundle_file" not in after


def devices_store_active(db_url: str, device_id: str) -> None:
    """The device as commissioned (what its first PASS records)."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE device SET status = 'active', commissioned_at = now() WHERE device_id = %s", (device_id,)
        )
