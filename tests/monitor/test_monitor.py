"""circulo monitor: the broker's SYS-topic counters and the co-ops' seq counters become samples."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from click.testing import CliRunner

from circulo.cli import cli
from circulo.monitor.daemon import Monitor
from circulo.monitor.sampler import RETAINED_TOPIC, STORE_TOPIC, BrokerSample, SysValues, parse_counter
from circulo.monitor.settings import MonitorSettings
from circulo.registry.dynsec import DynsecAdmin, ensure_service_account
from circulo.settings import MqttEndpoint
from tests.conftest import BrokerAccounts
from tests.factories import add_device
from tests.support import Publisher, Subscriber, end_broker_session, rows, wait_for

T0 = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "value"), [(b"53", 53), (b" 7\n", 7), (b"x", None), (b"\xff", None), (b"", None)]
)
def test_sys_counters_parse_as_whole_numbers_or_not_at_all(payload: bytes, value: int | None) -> None:
    assert parse_counter(payload) == value


def test_a_broker_sample_needs_fresh_store_and_retained_counts_and_queued_is_their_difference() -> None:
    values = SysValues()
    values.update(STORE_TOPIC, b"1200", T0)
    assert values.sample(T0, timedelta(seconds=30)) is None
    values.update(RETAINED_TOPIC, b"200", T0)
    assert values.sample(T0, timedelta(seconds=30)) == BrokerSample(1200, 200, None)
    assert BrokerSample(1200, 200, None).queued_messages == 1000
    assert BrokerSample(100, 200, None).queued_messages == 0
    assert values.sample(T0 + timedelta(seconds=31), timedelta(seconds=30)) is None  # stale


@pytest.fixture
def monitor_url(broker_accounts: BrokerAccounts) -> str:
    password = secrets.token_urlsafe(12)
    with DynsecAdmin(MqttEndpoint.from_url(broker_accounts.admin_url)) as admin:
        ensure_service_account(admin, "svc-monitor", password, "circulo-monitor")
    return broker_accounts.broker.url("svc-monitor", password)


def test_monitor_once_writes_each_coops_counters_and_the_brokers_queue(db_url: str, monitor_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        for device_id, coop, received, missing in (("m-1", "sunny", 100, 3), ("m-2", "sunny", 50, 0),
                                                   ("b-1", "windy", 10, 1)):  # fmt: skip
            add_device(conn, device_id, "meter" if device_id.startswith("m") else "bin", coop)
            conn.execute(
                "INSERT INTO device_state (device_id, seq_received, seq_missing) VALUES (%s, %s, %s)",
                (device_id, received, missing),
            )
        conn.execute("INSERT INTO monitor_seq_sample VALUES ('sunny', now() - interval '8 days', 1, 1)")
    env = {"CIRCULO_DATABASE_URL": db_url, "CIRCULO_MQTT_URL": monitor_url, "CIRCULO_LOG_LEVEL": "WARNING",
           "CIRCULO_METRICS_PORT": "0"}  # fmt: skip
    result = CliRunner().invoke(cli, ["monitor", "run", "--once"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    samples = rows(
        db_url, "SELECT coop_id, seq_received, seq_missing FROM monitor_seq_sample ORDER BY coop_id"
    )
    assert samples == [("sunny", 150, 3), ("windy", 10, 1)]  # the 8-day-old sample is gone
    [(broker, stored, retained, clients)] = rows(
        db_url,
        "SELECT broker, store_messages, retained_messages, clients_connected FROM monitor_broker_sample",
    )
    endpoint = MqttEndpoint.from_url(monitor_url)
    assert broker == f"{endpoint.host}:{endpoint.port}"
    assert stored >= 0 and retained >= 0 and (clients is None or clients >= 1)


def queued(db_url: str) -> int:
    [(value,)] = rows(
        db_url, "SELECT queued_messages FROM dashboards.broker_sample ORDER BY sampled_at DESC LIMIT 1"
    )
    return int(value)


def test_messages_waiting_for_an_absent_subscriber_show_as_the_brokers_queue(
    db_url: str, monitor_url: str, service_mqtt_url: str
) -> None:
    """An ingest that is away with a persistent session: what the broker holds for it is the queue."""
    env = {"CIRCULO_DATABASE_URL": db_url, "CIRCULO_MQTT_URL": monitor_url, "CIRCULO_LOG_LEVEL": "WARNING",
           "CIRCULO_METRICS_PORT": "0"}  # fmt: skip
    client_id = f"away-{secrets.token_hex(4)}"
    topic = f"circulo/test/{client_id}"
    away = Subscriber(service_mqtt_url, topic, client_id=client_id, persistent=True)
    away.close()
    try:
        assert CliRunner().invoke(cli, ["monitor", "run", "--once"], env=env).exit_code == 0
        before = queued(db_url)
        with Publisher(service_mqtt_url) as publisher:
            publisher.publish_all((topic, b"x") for _ in range(300))

        # Mosquitto refreshes its SYS topics every 10 s; the next sample that sees them counts them
        def sampled_with_the_backlog() -> bool:
            sampled = CliRunner().invoke(cli, ["monitor", "run", "--once"], env=env).exit_code == 0
            return sampled and queued(db_url) >= before + 300

        wait_for(sampled_with_the_backlog, timeout=40, what="the queued messages in a sample")
    finally:
        end_broker_session(service_mqtt_url, client_id)


def test_monitor_with_a_broker_account_that_may_not_read_sys_records_no_broker_sample(
    db_url: str, broker_accounts: BrokerAccounts
) -> None:
    env = {"CIRCULO_DATABASE_URL": db_url, "CIRCULO_MQTT_URL": broker_accounts.url("ingest"),
           "CIRCULO_MONITOR_SYS_TIMEOUT_S": "2", "CIRCULO_LOG_LEVEL": "WARNING",
           "CIRCULO_METRICS_PORT": "0"}  # fmt: skip
    result = CliRunner().invoke(cli, ["monitor", "run", "--once"], env=env, catch_exceptions=False)
    assert result.exit_code == 0
    assert rows(db_url, "SELECT count(*) FROM monitor_broker_sample") == [(0,)]
    assert "broker_counters_missing" in result.stderr


def test_the_monitor_is_healthy_only_while_samples_with_the_brokers_counters_are_on_time() -> None:
    monitor = Monitor(MonitorSettings(interval_s=60, sys_timeout_s=30))
    assert monitor.health()[0] is False  # no sample yet
    monitor.last_sample, monitor.broker_sampled = datetime.now(UTC), True
    assert monitor.health()[0] is True
    monitor.broker_sampled = False
    assert monitor.health() == (
        False,
        {"last_sample_age_s": pytest.approx(0, abs=5), "broker_sampled": False},
    )
    monitor.last_sample, monitor.broker_sampled = datetime.now(UTC) - timedelta(minutes=4), True
    assert monitor.health()[0] is False  # more than 3 intervals and the timeout ago
