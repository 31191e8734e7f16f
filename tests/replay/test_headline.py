"""Nothing lost even when the broker crashes (SPEC §11): the simulator's devices, two ingest
workers in one shared group, the broker killed twice mid-stream and restarted gracefully once.

Mosquitto (persistence on, the deploy config's autosave) loses on a SIGKILL what it accepted
since its last save, and 2.0.11 restores no shared subscription after a restart (PUBACK 0x10
until the group is back). The devices keep their last 2,000 messages and a boot epoch; the
ingest finds the gaps, asks once ``W`` passed them by ``replay_after``, and the devices
republish the original bytes. At the end every message the devices published is stored
exactly once, and nothing is lost for good.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from circulo_sim.clock import plan_window
from circulo_sim.service import RunRequest, run_simulation
from circulo_sim.settings import SimSettings
from tests.conftest import BrokerAccounts
from tests.replay.support import replay_env
from tests.sim.conftest import Background, read_log, register_coop
from tests.support import IngestProcess, Subscriber, rows, scalar, wait_for

pytestmark = pytest.mark.slow
logger = logging.getLogger(__name__)

METERS, BINS = 24, 2
SIM_MINUTES = 860  # 24 meters x 860 minutes: 20,640 readings, and the bins' telemetry and deposits
SPEED = 1200.0  # 43 s of wall time
STALL_S = 2.0  # about 40 messages a meter the broker holds when it is killed
DATA_TABLES = {
    "meter_telemetry": "meter_reading",
    "bin_telemetry": "bin_reading",
    "deposit": "bin_event",
    "collection": "bin_event",
}


def stored_hashes(db_url: str) -> Counter[bytes]:
    found: Counter[bytes] = Counter()
    for table in sorted(set(DATA_TABLES.values())):
        found.update(bytes(h) for (h,) in rows(db_url, f"SELECT payload_sha256 FROM {table}"))
    return found


def published(log: list[dict[str, Any]]) -> set[bytes]:
    """The payload hashes of every data message the devices published (acknowledged by the broker)."""
    return {
        hashlib.sha256(entry["payload"].encode()).digest()
        for entry in log
        if entry["type"] in DATA_TABLES and entry["fate"] == "acked"
    }


def signal_all(workers: list[IngestProcess], sig: signal.Signals) -> None:
    for worker in workers:
        assert worker.process is not None
        worker.process.send_signal(sig)


def pending_gaps(db_url: str) -> int:
    return int(scalar(db_url, "SELECT count(*) FROM replay_gap WHERE state IN ('open', 'requested')"))


def test_two_broker_crashes_and_a_graceful_restart_lose_nothing_and_store_nothing_twice(
    db_url: str,
    fresh_broker_accounts: BrokerAccounts,
    ingest_factory: Callable[..., IngestProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = fresh_broker_accounts.broker
    registered = register_coop(db_url, broker, tmp_path / "bundles", meters=METERS, bins=BINS, repairs=0)
    # a small Receive Maximum keeps what the broker holds in the broker during a stall (not in
    # the stopped workers' socket buffers, which they would still read after the kill), so the
    # kills lose messages for certain and only a replay can bring them back
    replay_env(monkeypatch, replay_after_s=2, replay_retry_s=5, replay_poll_s=0.5, queue_max=200)
    ingest_url = fresh_broker_accounts.url("ingest")
    workers = [ingest_factory(db_url, ingest_url, args=["--shared-group", "headline"]) for _ in range(2)]
    window = plan_window(datetime.now(UTC), speed=SPEED, duration=timedelta(minutes=SIM_MINUTES))
    request = RunRequest(window=window, seed=11, coop_id=registered.coop_id, bundles_dir=registered.bundles)
    settings = SimSettings(
        database_url=db_url,
        mqtt_url="mqtt://127.0.0.1:1",
        drain_timeout_s=90,
        connect_timeout_s=20,
        replay_rate=200,
    )
    log_path = tmp_path / "messages.jsonl"

    restarts: list[datetime] = []
    statuses = Subscriber(fresh_broker_accounts.url("tester"), "circulo/v1/+/+/status")
    with log_path.open("w") as message_log:
        run = Background(lambda: run_simulation(request, settings, message_log=message_log))
        statuses.wait_online(len(registered.devices))
        statuses.close()
        for wait_s, graceful in ((8, False), (9, False), (9, True)):
            time.sleep(wait_s)
            if graceful:
                broker.stop()
            else:
                # the ingest stalls for a moment (a slow disk, a long batch): the broker holds what
                # it acknowledged to the devices, and the kill loses all of it since its last save
                signal_all(workers, signal.SIGSTOP)
                time.sleep(STALL_S)
                broker.kill()
                signal_all(workers, signal.SIGCONT)
            broker.start()
            restarts.append(datetime.now(UTC))
        summary = run.join(timeout=150)

    log = read_log(log_path)
    sent = published(log)
    assert len(sent) >= 20_000
    assert summary["delivery"]["dropped"] == summary["delivery"]["unacked"] == 0
    wait_for(lambda: pending_gaps(db_url) == 0 and set(stored_hashes(db_url)) >= sent, timeout=90,
             what="every gap filled")  # fmt: skip
    time.sleep(1.0)  # a late duplicate would show up now
    stored = stored_hashes(db_url)
    assert set(stored) == sent, "every message the devices published is stored"
    assert max(stored.values()) == 1, "and stored once"
    assert scalar(db_url, "SELECT count(*) FROM quarantine") == 0
    assert rows(
        db_url, "SELECT count(*), COALESCE(sum(missing), 0) FROM replay_gap WHERE state = 'lost'"
    ) == [(0, 0)], "nothing lost for good"
    assert scalar(db_url, "SELECT count(*) FROM replay_unavailable") == 0
    assert scalar(db_url, "SELECT sum(seq_missing) FROM device_state") == 0

    recovered = rows(
        db_url, "SELECT count(*), COALESCE(sum(requests), 0) FROM replay_gap WHERE state = 'recovered'"
    )
    gaps, requests = recovered[0]
    assert gaps > 0, "the kills lost messages that only a replay brought back"
    # the numbers of docs/benchmarks.md "Replay" (pytest -o log_cli=true shows them)
    logger.info(
        "headline: %d published, %d gaps recovered by %d requests, %d republished; last recovered "
        "after each restart: %s s",
        len(sent), gaps, requests, summary["replay"]["republished"], recovery_s(db_url, restarts),
    )  # fmt: skip


def recovery_s(db_url: str, restarts: list[datetime]) -> list[float | None]:
    """Per restart: seconds from it to the last gap recovered before the next one."""
    closed = [at for (at,) in rows(db_url, "SELECT closed_at FROM replay_gap WHERE state = 'recovered'")]
    ends = [*restarts[1:], datetime.max.replace(tzinfo=UTC)]
    spans = []
    for start, end in zip(restarts, ends, strict=True):
        inside = [at for at in closed if start <= at < end]
        spans.append(round((max(inside) - start).total_seconds(), 1) if inside else None)
    return spans
