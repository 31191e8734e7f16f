"""The ingest daemon as operators see it: /healthz, /metrics, the watermark, SIGTERM."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import BrokerAccounts
from tests.support import IngestProcess, Publisher, http_get, payload, register, scalar, wait_for

from circulo.localstack.procs import free_port


def health(port: int) -> tuple[int, dict[str, Any]]:
    status, body = http_get(f"http://127.0.0.1:{port}/healthz")
    return status, (json.loads(body) if body else {})


def test_health_follows_the_broker_and_metrics_and_watermark_follow_the_stream(
    db_url: str, fresh_broker_accounts: BrokerAccounts, ingest_factory: Callable[..., IngestProcess]
) -> None:
    broker = fresh_broker_accounts.broker
    register(db_url, [("m1", "meter")])
    port = free_port()
    ingest = ingest_factory(db_url, fresh_broker_accounts.url("ingest"), args=["--metrics-port", str(port)])
    wait_for(lambda: health(port)[0] == 200, timeout=30, what="a healthy ingest")
    details = health(port)[1]
    assert (
        details["healthy"]
        and details["subscribed"]
        and details["broker_connected"]
        and details["database_ok"]
    )

    before = datetime.now(UTC)
    reading = payload(ts=(before - timedelta(minutes=1)).isoformat(), seq=1, energy_wh=1000, power_w=250)
    with Publisher(fresh_broker_accounts.url("tester")) as pub:
        pub.publish_all([("circulo/v1/meter/m1/telemetry", reading)])
    wait_for(lambda: scalar(db_url, "SELECT count(*) FROM meter_reading") == 1, timeout=30, what="the row")
    metrics = http_get(f"http://127.0.0.1:{port}/metrics")[1]
    assert 'circulo_ingest_messages_total{outcome="stored",reason=""} 1.0' in metrics
    assert "circulo_ingest_commit_seconds_count" in metrics
    # everything received is committed: the worker's low watermark passes the receipt
    wait_for(
        lambda: scalar(
            db_url,
            "SELECT low_watermark >= (SELECT received_at FROM meter_reading)"
            " FROM ingest_worker WHERE worker_id = %s",
            (ingest.worker_id,),
        ),
        timeout=30,
        what="the watermark past the reading's receipt",
    )

    broker.stop()
    wait_for(lambda: health(port)[0] == 503, timeout=30, what="/healthz to report the broker gone")
    details = health(port)[1]
    assert not details["healthy"] and not details["broker_connected"] and not details["subscribed"]
    broker.start()
    wait_for(lambda: health(port)[0] == 200, timeout=60, what="/healthz to recover with the broker")

    assert ingest.terminate() == 0
    assert scalar(
        db_url, "SELECT stopped_at IS NOT NULL FROM ingest_worker WHERE worker_id = %s", (ingest.worker_id,)
    )
    assert '"ingest_stopped"' in ingest.logs()
