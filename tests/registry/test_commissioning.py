"""`device check` over a real database: from rows written by SQL, and end to end through the
real ingest daemon with the device's own credentials."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from circulo.errors import NotFound
from circulo.registry import devices, members
from circulo.registry.check import CheckResult, Verdict
from circulo.registry.commissioning import check_device
from circulo.registry.model import DeviceSpec
from circulo.registry.settings import RegistrySettings
from tests.conftest import BrokerAccounts
from tests.factories import add_bin_reading, add_device, add_meter_reading, add_quarantine, add_status
from tests.registry.mqtt_probe import Probe
from tests.support import IngestProcess, wait_for


@pytest.fixture
def db_only(db_url: str) -> RegistrySettings:
    return RegistrySettings(database_url=db_url)


def connect(db_url: str) -> psycopg.Connection:
    return psycopg.connect(db_url, autocommit=True)


def checks(results: tuple[CheckResult, ...]) -> dict[str, str]:
    return {c.name: str(c.status) for c in results}


def test_a_device_that_sent_nothing_fails(db_url: str, db_only: RegistrySettings) -> None:
    with connect(db_url) as conn:
        add_device(conn, "m1", "meter")
    outcome = check_device(db_only, "m1")
    assert outcome.report.verdict is Verdict.FAIL
    assert checks(outcome.report.checks)["connection"] == "FAIL"
    assert outcome.commissioned_at is None


def test_valid_telemetry_and_an_online_status_pass_and_commission_the_device(
    db_url: str, db_only: RegistrySettings
) -> None:
    now = datetime.now(UTC)
    with connect(db_url) as conn:
        add_device(conn, "m1", "meter")
        add_status(conn, "m1", "online", now - timedelta(minutes=5), fw="1.0.0")
        for minute in range(3):
            ts = now - timedelta(minutes=minute)
            received = ts + timedelta(milliseconds=300)
            add_meter_reading(conn, "m1", ts, 1000 + minute, 800.0, received_at=received)
    outcome = check_device(db_only, "m1")
    assert outcome.report.verdict is Verdict.PASS, outcome.report.as_dict()
    assert outcome.newly_commissioned and outcome.commissioned_at is not None
    energy = next(c for c in outcome.report.checks if c.name == "energy")
    assert "register 1000 Wh" in energy.summary
    assert outcome.snapshot.valid_last_hour == 4
    assert devices.show_device(db_only, "m1").status == "active"
    assert not check_device(db_only, "m1").newly_commissioned  # commissioned once


def test_a_schema_rejection_after_valid_messages_warns_with_the_quarantine_reason(
    db_url: str, db_only: RegistrySettings
) -> None:
    now = datetime.now(UTC)
    with connect(db_url) as conn:
        add_device(conn, "b1", "bin")
        add_status(conn, "b1", "online", now - timedelta(minutes=5))
        add_bin_reading(conn, "b1", now - timedelta(seconds=30), 40, 5000, battery_pct=90, rssi_dbm=-70)
        topic = "circulo/v1/bin/b1/telemetry"
        add_quarantine(conn, "b1", topic, "schema", "fill_pct: above 100", received_at=now)
    outcome = check_device(db_only, "b1")
    assert outcome.report.verdict is Verdict.WARN
    validation = next(c for c in outcome.report.checks if c.name == "validation")
    assert validation.data["reason"] == "schema"
    assert "fill_pct: above 100" in validation.summary
    assert {"battery", "signal"} <= set(checks(outcome.report.checks))
    assert devices.show_device(db_only, "b1").status == "registered"  # a WARN commissions nothing


def test_checking_an_unknown_device_is_a_clear_error(db_only: RegistrySettings) -> None:
    with pytest.raises(NotFound, match="ghost is not registered"):
        check_device(db_only, "ghost")


# --- end to end: registry credentials, real broker, real ingest ------------------------------------
def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_device_check_end_to_end_fail_then_pass_then_warn(
    own_broker_settings: RegistrySettings,
    fresh_broker_accounts: BrokerAccounts,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    settings = own_broker_settings
    members.add_coop(settings, "coop1", "Co-op One")
    spec = DeviceSpec("meter", "m-e2e", "coop1", rated_power_w=4000)
    credentials = devices.add_device(settings, spec).credentials
    ingest_factory(settings.database_url, fresh_broker_accounts.url("ingest"))
    assert check_device(settings, "m-e2e").report.verdict is Verdict.FAIL

    topic = "circulo/v1/meter/m-e2e/{}"
    with Probe.at(fresh_broker_accounts.broker, "m-e2e", credentials.password) as device:
        device.client.will_set(topic.format("status"), b'{"v":1,"state":"offline"}', qos=1, retain=True)
        device.connect()
        online = b'{"v":1,"state":"online","fw":"1.0.0"}'
        assert device.publish(topic.format("status"), online, retain=True) == 0
        for seq in range(1, 4):
            body = {"v": 1, "ts": iso(datetime.now(UTC)), "seq": seq, "energy_wh": 100 * seq, "power_w": 750}
            assert device.publish(topic.format("telemetry"), json.dumps(body).encode()) == 0
        outcome = check_device(settings, "m-e2e", wait_s=30, poll_s=0.2)
        assert outcome.report.verdict is Verdict.PASS, outcome.report.as_dict()
        assert outcome.newly_commissioned

        bad = {"v": 1, "ts": iso(datetime.now(UTC)), "seq": 4, "energy_wh": "lots", "power_w": 750}
        assert device.publish(topic.format("telemetry"), json.dumps(bad).encode()) == 0
        outcome = wait_for(
            lambda: (o := check_device(settings, "m-e2e")).report.verdict is Verdict.WARN and o,
            timeout=30,
            what="a WARN after the schema-invalid message",
        )
    validation = next(c for c in outcome.report.checks if c.name == "validation")
    assert validation.data["reason"] == "schema" and "energy_wh" in validation.summary
