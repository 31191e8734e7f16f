"""The receiver process (the worker's MQTT connection in a child process), on real processes.

kill -9 of the receiver mid-stream loses nothing and stores nothing twice (the worker
starts it again; its epochs never repeat, so no acknowledgement reaches a message of the
new connection); a SIGTERM that reaches the receiver directly (systemd signals the whole
control group) is ignored, and the worker's own SIGTERM stops both gracefully.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from tests.ingest.test_resilience import TOTAL, assert_exactly_once, queue_for_session, stored
from tests.support import IngestProcess, scalar, wait_for

pytestmark = pytest.mark.slow
WITH_RECEIVER = {"CIRCULO_INGEST_RECEIVER_PROCESS": "true"}


def receiver_pid(ingest: IngestProcess) -> int:
    """The worker's receiver process (its one child besides multiprocessing's tracker)."""
    assert ingest.process is not None
    pids = [
        int(pid)
        for listing in Path(f"/proc/{ingest.process.pid}/task").glob("*/children")
        for pid in listing.read_text().split()
    ]
    receivers = [p for p in pids if is_spawned(p)]
    assert len(receivers) == 1, receivers
    return receivers[0]


def is_spawned(pid: int) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    return b"multiprocessing.spawn" in cmdline and b"resource_tracker" not in cmdline


def test_kill_9_of_the_receiver_mid_stream_loses_nothing_and_stores_nothing_twice(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    queue_for_session(db_url, service_mqtt_url, ingest)
    ingest.env = WITH_RECEIVER
    ingest.start()
    wait_for(lambda: stored(db_url) > 500, timeout=60, interval=0.02, what="the first rows")
    victim = receiver_pid(ingest)
    os.kill(victim, signal.SIGKILL)
    assert stored(db_url) < TOTAL, "the kill must land mid-stream"
    assert_exactly_once(db_url)
    assert "receiver_exited" in ingest.logs()
    assert receiver_pid(ingest) != victim
    assert ingest.terminate() == 0


def test_sigterm_to_the_receiver_alone_is_ignored_and_the_worker_stops_both(
    db_url: str, ingest: IngestProcess
) -> None:
    assert ingest.terminate() == 0
    ingest.env = WITH_RECEIVER
    ingest.start().wait_ready()
    receiver = receiver_pid(ingest)
    os.kill(receiver, signal.SIGTERM)
    time.sleep(1.0)
    assert Path(f"/proc/{receiver}").exists() and "receiver_exited" not in ingest.logs()
    assert ingest.terminate() == 0
    wait_for(lambda: not Path(f"/proc/{receiver}").exists(), timeout=10, what="the receiver gone")
    assert scalar(
        db_url, "SELECT stopped_at IS NOT NULL FROM ingest_worker WHERE worker_id = %s", (ingest.worker_id,)
    )
