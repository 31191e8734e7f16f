"""The foundation: TimescaleDB really is there, migrations took effect, services restart."""

from __future__ import annotations

import subprocess
import sys
import threading

import psycopg

from circulo.localstack.mosquitto import MosquittoBroker
from circulo.localstack.postgres import PostgresCluster
from circulo.localstack.procs import free_port
from circulo.mqttclient import new_client
from circulo.settings import MqttEndpoint
from circulo.store import migrate

INSERT_COLLECTION = (
    "INSERT INTO bin_event (device_id, event_id, type, ts, received_at, seq, weight_g, payload_sha256)"
    " VALUES ('b1', 'e1', 'collection', %s::timestamptz, now(), 1, %s, %s)"
)
TIME_SERIES_TABLES = {"meter_reading", "bin_reading", "device_status", "quarantine"}


def test_the_test_cluster_runs_timescaledb(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT extname, extversion FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
        preload = conn.execute("SHOW shared_preload_libraries").fetchone()
    assert row is not None and row[0] == "timescaledb"
    assert preload is not None and "timescaledb" in preload[0]


def test_every_time_series_table_is_a_hypertable_with_a_time_dimension(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT hypertable_name, column_name, time_interval FROM timescaledb_information.dimensions"
        ).fetchall()
    dims = {name: (column, interval) for name, column, interval in rows}
    assert set(dims) >= TIME_SERIES_TABLES
    assert dims["meter_reading"][0] == "ts"
    assert dims["quarantine"][0] == "received_at"
    assert dims["meter_reading"][1].days == 1


def test_event_tables_are_plain_tables_keyed_by_device_and_event(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        hypertables = {
            r[0] for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
        }
        conn.execute(INSERT_COLLECTION, ("now", 1000, b"\x00"))
        try:
            conn.execute(INSERT_COLLECTION, ("yesterday", 5, b"\x01"))
            raised = False
        except psycopg.errors.UniqueViolation:
            raised = True
    assert not {"bin_event", "repair_event"} & hypertables
    assert raised, "the same (device_id, event_id) at another time must violate the key"


def test_db_upgrade_on_an_empty_database_then_again_is_a_no_op(pg: PostgresCluster) -> None:
    url = pg.fresh_database("upgrade_check")
    first = subprocess.run(
        [sys.executable, "-m", "circulo", "--database-url", url, "db", "upgrade"],
        capture_output=True,
        text=True,
        check=False,
    )
    second = subprocess.run(
        [sys.executable, "-m", "circulo", "--database-url", url, "db", "upgrade"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    assert "upgraded: empty ->" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "already at revision" in second.stdout
    assert migrate.current_revision(url) == migrate.head_revision()


def test_a_database_that_is_down_gives_one_clear_line(pg: PostgresCluster) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    done = subprocess.run(
        [sys.executable, "-m", "circulo", "--database-url", url, "db", "upgrade"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert done.stderr.startswith("error: database postgresql://postgres@127.0.0.1")
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_database_fixture_survives_a_kill_and_restart(pg: PostgresCluster, db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE survives (x int)")
        conn.execute("INSERT INTO survives VALUES (42)")
    pg.kill()
    assert not pg.running()
    pg.start()
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT x FROM survives").fetchone() == (42,)


def roundtrip(url: str, topic: str) -> bytes | None:
    """Subscribe and publish one retained-free QoS 1 message as the same client; return what arrived."""
    endpoint = MqttEndpoint.from_url(url)
    got: list[bytes] = []
    arrived = threading.Event()
    subscribed = threading.Event()
    client = new_client(endpoint)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = lambda c, u, m: (got.append(m.payload), arrived.set())
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        client.subscribe(topic, qos=1)
        assert subscribed.wait(30)
        client.publish(topic, b"ping", qos=1).wait_for_publish(30)
        arrived.wait(30)
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0] if got else None


def test_the_broker_fixture_survives_kill_and_graceful_restart(
    fresh_broker: MosquittoBroker, fresh_broker_accounts: object
) -> None:
    url = fresh_broker_accounts.url("tester")  # type: ignore[attr-defined]
    assert roundtrip(url, "circulo/v1/meter/m1/telemetry") == b"ping"
    fresh_broker.kill()
    assert not fresh_broker.running()
    fresh_broker.start()
    assert roundtrip(url, "circulo/v1/meter/m1/telemetry") == b"ping"
    fresh_broker.restart()
    assert roundtrip(url, "circulo/v1/meter/m1/telemetry") == b"ping"


def test_the_broker_refuses_anonymous_clients(broker: MosquittoBroker) -> None:
    client = new_client(MqttEndpoint.from_url(broker.url(listener="devices")))
    result: list[object] = []
    done = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: (result.append(rc), done.set())
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    done.wait(30)
    client.loop_stop()
    assert result and getattr(result[0], "is_failure", False)
