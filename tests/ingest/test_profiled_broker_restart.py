"""A profiled meter (Tasmota: no replay, no retry on 0x10) across a graceful broker restart.

Profiled firmware cannot replay (SPEC §10, §11): what the broker refuses or drops is gone.
So the one-worker default subscribes plainly (no ``--shared-group``): Mosquitto saves a
durable session's plain subscription with its persistence and restores it on start, so a
reading published after the restart, before the ingest is back, is queued for the ingest
and stored. A ``$share`` subscription is not saved (Mosquitto 2.0's ``persist__subs_save``
writes only a topic node's plain subscribers; the shared ones live elsewhere, and no 2.0.x
ChangeLog entry through 2.0.23 changes that): the same publishes get PUBACK 0x10 (no
matching subscribers) and the broker drops them. Measured here on Mosquitto 2.0.11 (the
local broker): plain, 30 of 30 readings stored, every PUBACK 0; shared group, the 10
readings published while the ingest was away each got 0x10 and only 20 of 30 were stored.

The ingest is held (SIGSTOP) across the restart so that the device is back first, as it is
when paho's reconnect backoff (1–30 s) is longer than the device's.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from tests.conftest import BrokerAccounts
from tests.ingest.test_profiled_meters import PREFIX, sensor
from tests.support import IngestProcess, register, scalar, v5_client, wait_for

from circulo.localstack.mosquitto import MosquittoBroker

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
PER_PHASE = 10
NO_MATCHING_SUBSCRIBERS = 0x10


class TasmotaPublisher:
    """A Tasmota-like QoS 1 publisher: it records each PUBACK's reason code and never resends.

    Each :meth:`publish` is one connection (the meter reconnects after the broker restarts).
    """

    def __init__(self, url: str, client_id: str) -> None:
        self.url = url
        self.client_id = client_id

    def publish(self, readings: list[tuple[str, bytes]]) -> list[int]:
        """Connect, publish every reading at QoS 1, wait for the PUBACKs, disconnect; the reason codes."""
        client, endpoint = v5_client(self.url, self.client_id)
        reasons: dict[int, int] = {}
        acked = threading.Condition()
        connected = threading.Event()

        def on_publish(
            c: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, props: Properties | None
        ) -> None:
            with acked:
                reasons[mid] = reason.value
                acked.notify_all()

        client.on_publish = on_publish
        client.on_connect = lambda c, u, f, rc, p: connected.set()
        client.connect(endpoint.host, endpoint.port)
        client.loop_start()
        try:
            assert connected.wait(10), "the meter could not connect"
            mids = [client.publish(topic, body, qos=1).mid for topic, body in readings]
            with acked:
                assert acked.wait_for(lambda: all(m in reasons for m in mids), timeout=30)
            return [reasons[m] for m in mids]
        finally:
            client.disconnect()
            client.loop_stop()


def readings(phase: int) -> list[tuple[str, bytes]]:
    """``tele/SENSOR`` of meter ta1, a minute apart, its register +0.010 kWh each."""
    first = phase * PER_PHASE
    return [
        (f"{PREFIX}/ta1/tele/SENSOR", sensor(START + timedelta(minutes=i), f"{12.5 + i * 0.01:.3f}"))
        for i in range(first, first + PER_PHASE)
    ]


def stored(db_url: str) -> int:
    return int(scalar(db_url, "SELECT count(*) FROM meter_reading WHERE device_id = 'ta1'"))


def publish_across_a_graceful_restart(
    db_url: str, broker: MosquittoBroker, accounts: BrokerAccounts, ingest: IngestProcess
) -> list[list[int]]:
    """Before the restart, while the ingest is still away after it, and once it is back."""
    meter = TasmotaPublisher(accounts.url("tester"), "tasmota-ta1")
    codes = [meter.publish(readings(0))]
    wait_for(lambda: stored(db_url) == PER_PHASE, timeout=30, what="the first readings")
    assert ingest.process is not None
    ingest.process.send_signal(signal.SIGSTOP)
    try:
        broker.restart()  # SIGTERM: Mosquitto saves its persistence file, then starts from it
        codes.append(meter.publish(readings(1)))
    finally:
        ingest.process.send_signal(signal.SIGCONT)
    wait_for(lambda: ingest.logs().count('"subscribed"') >= 2, timeout=60, what="the ingest back")
    codes.append(meter.publish(readings(2)))
    return codes


def test_a_tasmota_meter_loses_nothing_across_a_graceful_restart_with_the_one_worker_plain_subscription(
    db_url: str,
    fresh_broker: MosquittoBroker,
    fresh_broker_accounts: BrokerAccounts,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    register(db_url, [("ta1", "meter")], profiles={"ta1": "tasmota"})
    ingest = ingest_factory(db_url, fresh_broker_accounts.url("ingest"))
    codes = publish_across_a_graceful_restart(db_url, fresh_broker, fresh_broker_accounts, ingest)
    assert codes == [[0] * PER_PHASE] * 3
    wait_for(lambda: stored(db_url) == 3 * PER_PHASE, timeout=30, what="every reading")
    time.sleep(0.5)
    assert stored(db_url) == 3 * PER_PHASE
    assert scalar(db_url, "SELECT count(*) FROM quarantine") == 0


@pytest.mark.slow
def test_with_a_shared_group_the_same_publishes_get_0x10_and_are_lost_on_mosquitto_2_0(
    db_url: str,
    fresh_broker: MosquittoBroker,
    fresh_broker_accounts: BrokerAccounts,
    ingest_factory: Callable[..., IngestProcess],
) -> None:
    """Why the shared group is opt-in: measured on the local Mosquitto (2.0.11)."""
    register(db_url, [("ta1", "meter")], profiles={"ta1": "tasmota"})
    ingest = ingest_factory(db_url, fresh_broker_accounts.url("ingest"), args=["--shared-group", "g1"])
    codes = publish_across_a_graceful_restart(db_url, fresh_broker, fresh_broker_accounts, ingest)
    assert codes[0] == codes[2] == [0] * PER_PHASE
    assert codes[1] == [NO_MATCHING_SUBSCRIBERS] * PER_PHASE, "the $share subscription came back?"
    wait_for(lambda: stored(db_url) == 2 * PER_PHASE, timeout=30, what="the readings before and after")
    time.sleep(1.0)
    assert stored(db_url) == 2 * PER_PHASE  # the 10 published while the ingest was away are gone
