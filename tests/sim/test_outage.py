"""Broker outages: store-and-forward, reconnect with backoff, nothing lost (real broker and ingest)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import BrokerAccounts
from tests.sim.conftest import Background, read_log, register_coop
from tests.support import IngestProcess, Subscriber, rows, scalar, wait_for

from circulo_sim.clock import plan_window
from circulo_sim.service import RunRequest, run_simulation
from circulo_sim.settings import SimSettings

SPEED = 180.0  # a simulated minute every third of a second
OUTAGE_SIM_MINUTES = 30


def test_no_reading_is_lost_when_the_broker_is_down_for_thirty_simulated_minutes(
    db_url: str,
    fresh_broker_accounts: BrokerAccounts,
    ingest_factory: Callable[..., IngestProcess],
    sim_settings: SimSettings,
    tmp_path: Path,
) -> None:
    broker = fresh_broker_accounts.broker
    registered = register_coop(db_url, broker, tmp_path / "bundles", meters=2, bins=1, repairs=0)
    ingest_factory(db_url, fresh_broker_accounts.url("ingest"))
    window = plan_window(datetime.now(UTC), speed=SPEED, duration=timedelta(minutes=100))
    request = RunRequest(window=window, seed=5, coop_id=registered.coop_id, bundles_dir=registered.bundles)
    log_path = tmp_path / "messages.jsonl"

    statuses = Subscriber(fresh_broker_accounts.url("tester"), "circulo/v1/+/+/status")
    with log_path.open("w") as message_log:
        run = Background(lambda: run_simulation(request, sim_settings, message_log=message_log))
        statuses.wait_online(len(registered.devices))  # start-up time varies with machine load
        statuses.close()
        time.sleep(4)  # about 12 simulated minutes in
        broker.stop()
        time.sleep(OUTAGE_SIM_MINUTES * 60 / SPEED)
        broker.start()
        summary = run.join(timeout=180)

    delivery = summary["delivery"]
    assert delivery["dropped"] == delivery["unacked"] == delivery["refused"] == 0
    assert delivery["buffered"] >= 2 * 25  # each meter buffered the readings of the outage
    assert delivery["reconnects"] >= 3  # every device came back
    log = read_log(log_path)
    assert all(entry["fate"] == "acked" for entry in log)

    minutes = {e["at"] for e in log if e["type"] == "meter_telemetry"}
    assert len(minutes) >= 99
    for device_id, kind in registered.devices.items():
        sent = sum(1 for e in log if e["device_id"] == device_id and e["type"] != "status")
        table = "meter_reading" if kind == "meter" else "bin_reading"
        wait_for(
            lambda d=device_id, t=table, n=sent: (
                scalar(db_url, f"SELECT count(*) FROM {t} WHERE device_id = %s", (d,))
                + scalar(db_url, "SELECT count(*) FROM bin_event WHERE device_id = %s", (d,))
                >= n
            ),
            timeout=60,
            what=f"every message of {device_id} stored",
        )
    meter = next(d for d, k in registered.devices.items() if k == "meter")
    stamps = [
        ts
        for (ts,) in rows(db_url, "SELECT ts FROM meter_reading WHERE device_id = %s ORDER BY ts", (meter,))
    ]
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(stamps))  # no gap
    assert scalar(db_url, "SELECT count(*) FROM quarantine") == 0
