"""``circulo ingest --processes N``: N workers of one group under one supervisor (real broker and DB).

Every worker consumes; the one /healthz reports each of them; a worker killed with kill -9
is restarted and its session resumes; SIGTERM stops every worker gracefully, and what was
left uncommitted is delivered again on the next start: every message stored exactly once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.conftest import BrokerAccounts
from tests.support import IngestProcess, Publisher, http_get, payload, register, scalar, wait_for

from circulo.localstack.procs import free_port

pytestmark = pytest.mark.slow

DEVICES = 50
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def readings(first: int, count: int) -> list[tuple[str, bytes]]:
    """Distinct meter readings ``first`` … ``first + count − 1``, one a minute per meter in turn."""
    return [
        (
            f"circulo/v1/meter/m{i % DEVICES:03d}/telemetry",
            payload(ts=(START + timedelta(minutes=i // DEVICES)).isoformat(), seq=i // DEVICES,
                    energy_wh=1000 + i, power_w=420),
        )
        for i in range(first, first + count)
    ]  # fmt: skip


def health(port: int) -> tuple[int, dict[str, Any]]:
    status, body = http_get(f"http://127.0.0.1:{port}/healthz")
    return status, (json.loads(body) if body else {})


def healthy(port: int) -> bool:
    try:
        return health(port)[0] == 200
    except OSError:
        return False


def stored(db_url: str) -> int:
    return int(scalar(db_url, "SELECT count(*) FROM meter_reading"))


def stored_by_worker(port: int) -> dict[str, float]:
    metrics = http_get(f"http://127.0.0.1:{port}/metrics")[1]
    found = re.findall(
        r'circulo_ingest_messages_total\{outcome="stored",reason="",worker="([^"]+)"\} (\S+)', metrics
    )
    return {worker: float(value) for worker, value in found}


def supervised(
    db_url: str, accounts: BrokerAccounts, ingest_factory: Callable[..., IngestProcess], port: int
) -> IngestProcess:
    group = f"g{int(time.time() * 1000) % 10**9}"
    args = ["--processes", "2", "--shared-group", group, "--metrics-port", str(port)]
    return ingest_factory(db_url, accounts.url("ingest"), worker_id="sup", args=args, ready=False)


def test_two_supervised_workers_consume_and_report_in_one_health_endpoint_and_a_killed_one_restarts(
    db_url: str, fresh_broker_accounts: BrokerAccounts, ingest_factory: Callable[..., IngestProcess]
) -> None:
    register(db_url, [(f"m{d:03d}", "meter") for d in range(DEVICES)])
    port = free_port()
    ingest = supervised(db_url, fresh_broker_accounts, ingest_factory, port)
    wait_for(lambda: healthy(port), timeout=60, what="a healthy supervised ingest")
    details = health(port)[1]
    assert details["processes"] == 2 and details["subscribed"] and details["database_ok"]
    assert [w["worker_id"] for w in details["workers"]] == ["sup-0", "sup-1"]
    assert all(w["healthy"] and w["alive"] and w["restarts"] == 0 for w in details["workers"])

    with Publisher(fresh_broker_accounts.url("tester")) as pub:
        pub.publish_all(readings(0, 2000))
    wait_for(lambda: stored(db_url) == 2000, timeout=60, what="the first 2,000 rows")
    wait_for(lambda: sum(stored_by_worker(port).values()) == 2000, timeout=10, what="the metrics")
    shares = stored_by_worker(port)
    assert set(shares) == {"sup-0", "sup-1"} and min(shares.values()) > 0, shares

    victim = details["workers"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    wait_for(
        lambda: health(port)[1]["workers"][0]["restarts"] == 1 and healthy(port),
        timeout=60,
        what="the killed worker restarted and healthy again",
    )
    restarted = health(port)[1]["workers"][0]
    assert restarted["pid"] != victim and restarted["alive"]
    assert "ingest_worker_exited" in ingest.logs()

    with Publisher(fresh_broker_accounts.url("tester")) as pub:
        pub.publish_all(readings(2000, 2000))
    wait_for(lambda: stored(db_url) == 4000, timeout=60, what="all 4,000 rows")
    assert scalar(db_url, "SELECT count(*) FROM quarantine") == 0
    assert ingest.terminate() == 0


def test_sigterm_stops_every_worker_gracefully_and_nothing_is_lost(
    db_url: str,
    fresh_broker_accounts: BrokerAccounts,
    ingest_factory: Callable[..., IngestProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a small Receive Maximum: the workers hold (and flush on SIGTERM) at most a few hundred
    # messages, so the stop lands mid-stream however fast they drain
    monkeypatch.setenv("CIRCULO_QUEUE_MAX", "200")
    register(db_url, [(f"m{d:03d}", "meter") for d in range(DEVICES)])
    port = free_port()
    ingest = supervised(db_url, fresh_broker_accounts, ingest_factory, port)
    wait_for(lambda: healthy(port), timeout=60, what="a healthy supervised ingest")
    total = 20_000
    assert ingest.terminate(timeout=60) == 0  # the sessions stay: queue the stream for them
    with Publisher(fresh_broker_accounts.url("tester")) as pub:
        pub.publish_all(readings(0, total))
    ingest.start()
    wait_for(lambda: stored(db_url) > 1000, timeout=60, interval=0.02, what="the first rows")
    assert ingest.terminate(timeout=60) == 0
    assert stored(db_url) < total, "the stop must land mid-stream"
    assert scalar(db_url, "SELECT count(*) FROM ingest_worker WHERE stopped_at IS NOT NULL") == 2
    assert ingest.logs().count('"ingest_stopped"') == 4  # two workers, two stops
    assert "ingest_supervisor_stopped" in ingest.logs()

    ingest.start()  # the same workers' sessions resume: the rest is delivered
    wait_for(lambda: stored(db_url) >= total, timeout=180, what=f"{total} rows")
    time.sleep(1.0)
    assert stored(db_url) == total
    assert scalar(db_url, "SELECT count(DISTINCT (device_id, ts)) FROM meter_reading") == total
    assert scalar(db_url, "SELECT count(*) FROM quarantine") == 0
    assert scalar(db_url, "SELECT sum(seq_received) FROM device_state") == total
    assert ingest.terminate(timeout=60) == 0
