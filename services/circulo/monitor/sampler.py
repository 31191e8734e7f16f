"""The broker's counters from its ``$SYS`` topics (pure), and writing samples to the database.

Mosquitto publishes ``$SYS/broker/store/messages/count`` (every message it stores:
retained ones and those queued or in flight for clients), ``$SYS/broker/retained
messages/count`` and ``$SYS/broker/clients/connected`` every ``sys_interval`` (10 s by
default). Queued = stored − retained: the backlog that grows while the ingest is slow or
away, and that Mosquitto starts dropping once a client's queue reaches
``max_queued_messages``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from circulo.monitor import queries

STORE_TOPIC = "$SYS/broker/store/messages/count"
RETAINED_TOPIC = "$SYS/broker/retained messages/count"
CLIENTS_TOPIC = "$SYS/broker/clients/connected"
SYS_TOPICS = {
    STORE_TOPIC: "store_messages",
    RETAINED_TOPIC: "retained_messages",
    CLIENTS_TOPIC: "clients_connected",
}
REQUIRED = ("store_messages", "retained_messages")


@dataclass(frozen=True)
class BrokerSample:
    """The broker's counters at a moment."""

    store_messages: int
    retained_messages: int
    clients_connected: int | None

    @property
    def queued_messages(self) -> int:
        """Messages held for clients (stored minus retained)."""
        return max(self.store_messages - self.retained_messages, 0)


def parse_counter(payload: bytes) -> int | None:
    """A ``$SYS`` counter's value, or None when the payload is not a whole number."""
    try:
        return int(payload.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None


class SysValues:
    """The latest value of each ``$SYS`` counter, written by paho's thread, read by the sampler."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, datetime]] = {}
        self.arrived = threading.Event()

    def update(self, topic: str, payload: bytes, at: datetime) -> None:
        """Record a counter (unknown topics and malformed values are ignored)."""
        name, value = SYS_TOPICS.get(topic), parse_counter(payload)
        if name is None or value is None:
            return
        with self._lock:
            self._values[name] = (value, at)
            if all(n in self._values for n in REQUIRED):
                self.arrived.set()

    def sample(self, now: datetime, max_age: timedelta) -> BrokerSample | None:
        """The counters if both required ones are fresher than ``max_age``."""
        with self._lock:
            fresh = {n: v for n, (v, at) in self._values.items() if now - at <= max_age}
        if any(n not in fresh for n in REQUIRED):
            return None
        return BrokerSample(
            fresh["store_messages"], fresh["retained_messages"], fresh.get("clients_connected")
        )


def write_samples(
    conn: psycopg.Connection, broker: str, broker_sample: BrokerSample | None, at: datetime, keep: timedelta
) -> int:
    """One transaction: the co-ops' seq counters, the broker's (if any), old samples dropped."""
    with conn.transaction():
        coops = conn.execute(queries.INSERT_SEQ_SAMPLE, {"at": at}).rowcount
        if broker_sample is not None:
            conn.execute(queries.INSERT_BROKER_SAMPLE, {"broker": broker, "at": at, **vars(broker_sample)})
        conn.execute(queries.DELETE_OLD_SEQ, {"before": at - keep})
        conn.execute(queries.DELETE_OLD_BROKER, {"before": at - keep})
    return coops
