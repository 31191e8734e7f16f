"""Crashes and outages lose nothing and store nothing twice (SPEC §3).

Each test queues 20,000 messages in the broker for the ingest's persistent session,
starts the ingest, and interrupts it mid-stream: kill -9 of the ingest, the database
stopped for seconds, the broker restarted gracefully, or two workers sharing the stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from tests.conftest import BrokerAccounts
from tests.support import IngestProcess, Publisher, payload, register, scalar, wait_for

from circulo.localstack.mosquitto import MosquittoBroker
from circulo.localstack.postgres import PostgresCluster

pytestmark = pytest.mark.slow

DEVICES = 100
PER_DEVICE = 200
TOTAL = DEVICES * PER_DEVICE
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def fleet_messages() -> list[tuple[str, bytes]]:
    """20,000 distinct meter readings from 100 meters, one a minute each."""
    return [
        (f"circulo/v1/meter/m{d:03d}/telemetry",
         payload(ts=(START + timedelta(minutes=i)).isoformat(), seq=i, energy_wh=1000 + i * 7, power_w=420))
        for i in range(PER_DEVICE)
        for d in range(DEVICES)
    ]  # fmt: skip


def stored(db_url: str) -> int:
    return int(scalar(db_url, "SELECT count(*) FROM meter_reading"))


def queue_for_session(db_url: str, publisher_url: str, ingest: IngestProcess) -> None:
    """Create the ingest's session, stop it, and queue the whole stream for it in the broker."""
    register(db_url, [(f"m{d:03d}", "meter") for d in range(DEVICES)])
    assert ingest.terminate() == 0
    with Publisher(publisher_url) as pub:
        pub.publish_all(fleet_messages())


def stopped_outcomes(worker: IngestProcess) -> dict[str, int]:
    """SIGTERM a worker and read the outcome totals from its last log line."""
    assert worker.terminate() == 0
    last = [json.loads(line) for line in worker.logs().splitlines() if '"ingest_stopped"' in line][-1]
    return {k: v for k, v in last.items() if k in ("stored", "duplicate", "quarantined")}


def assert_exactly_once(db_url: str) -> None:
    wait_for(lambda: stored(db_url) >= TOTAL, timeout=180, what=f"{TOTAL} rows")
    time.sleep(1.0)  # anything left in flight would show up now
    assert stored(db_url) == TOTAL
    assert scalar(db_url, "SELECT count(DISTINCT (device_id, ts)) FROM meter_reading") == TOTAL
    assert scalar(db_url, "SELECT count(*) FROM quarantine") == 0
    assert scalar(db_url, "SELECT sum(seq_received) FROM device_state") == TOTAL


def test_kill_9_of_the_ingest_mid_stream_loses_nothing_and_stores_nothing_twice(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    queue_for_session(db_url, service_mqtt_url, ingest)
    ingest.start()
    wait_for(lambda: stored(db_url) > 500, timeout=60, interval=0.02, what="the first rows")
    ingest.kill()
    assert stored(db_url) < TOTAL, "the kill must land mid-stream"
    ingest.start()
    assert_exactly_once(db_url)


def test_the_database_stopped_for_seconds_mid_stream_loses_nothing(
    db_url: str, pg: PostgresCluster, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    queue_for_session(db_url, service_mqtt_url, ingest)
    ingest.start()
    wait_for(lambda: stored(db_url) > 500, timeout=60, interval=0.02, what="the first rows")
    pg.stop(mode="fast")
    time.sleep(4)
    assert ingest.process is not None and ingest.process.poll() is None, "the ingest waits for the database"
    pg.start()
    assert_exactly_once(db_url)
    assert "database_error_batch_retried" in ingest.logs() or "database_unavailable" in ingest.logs()


def test_a_graceful_broker_restart_mid_stream_loses_nothing(
    db_url: str,
    fresh_broker: MosquittoBroker,
    fresh_broker_accounts: BrokerAccounts,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    ingest = ingest_factory(db_url, fresh_broker_accounts.url("ingest"))
    queue_for_session(db_url, fresh_broker_accounts.url("tester"), ingest)
    ingest.start()
    wait_for(lambda: stored(db_url) > 500, timeout=60, interval=0.02, what="the first rows")
    fresh_broker.restart()
    assert_exactly_once(db_url)
    wait_for(
        lambda: ingest.logs().count("broker_connected") >= 2, timeout=30, what="the reconnect in the log"
    )


def test_two_workers_in_one_shared_group_store_every_message_once(
    db_url: str, ingest_url: str, service_mqtt_url: str, ingest_factory: Callable[..., IngestProcess]
) -> None:
    register(db_url, [(f"m{d:03d}", "meter") for d in range(DEVICES)])
    group = ["--shared-group", f"g{int(time.time() * 1000) % 10**9}"]
    first = ingest_factory(db_url, ingest_url, worker_id="w-a", args=group)
    second = ingest_factory(db_url, ingest_url, worker_id="w-b", args=group)
    with Publisher(service_mqtt_url) as pub:
        pub.publish_all(fleet_messages())
    assert_exactly_once(db_url)
    shares = [stopped_outcomes(worker).get("stored", 0) for worker in (first, second)]
    assert sum(shares) == TOTAL
    assert min(shares) > TOTAL // 10, f"the group must split the stream, got {shares}"
    assert scalar(db_url, "SELECT count(*) FROM ingest_worker WHERE worker_id IN ('w-a', 'w-b')") == 2
