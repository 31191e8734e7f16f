"""The monitor daemon: subscribe to the broker's ``$SYS`` counters, write samples every interval.

Lifecycle as the other daemons: start (connect, subscribe), run (a sample every
``interval_s``), stop on SIGTERM or SIGINT after the current sample; ``--once`` waits for
the broker's counters (up to ``sys_timeout_s``), writes one sample and exits.
"""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import paho.mqtt.client as mqtt
from prometheus_client import CollectorRegistry, Gauge

from circulo.logs import get_logger
from circulo.monitor.sampler import SYS_TOPICS, SysValues, write_samples
from circulo.monitor.settings import MonitorSettings
from circulo.mqttclient import connect as connect_broker
from circulo.mqttclient import new_client
from circulo.observability import MetricsServer
from circulo.settings import MqttEndpoint
from circulo.store.db import connect

log = get_logger("monitor")


def sys_client(settings: MonitorSettings, values: SysValues) -> mqtt.Client:
    """A connected MQTT v5 client that feeds ``values`` with the ``$SYS`` counters."""
    endpoint = MqttEndpoint.from_url(settings.mqtt_url)
    client = new_client(endpoint, f"circulo-monitor-{uuid.uuid4().hex[:8]}")  # TLS verified (SPEC §9)

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, code: Any, props: Any) -> None:
        log.info("broker_connected", code=str(code))
        c.subscribe([(topic, 0) for topic in SYS_TOPICS])

    client.on_connect = on_connect
    client.on_message = lambda c, u, m: values.update(m.topic, bytes(m.payload), datetime.now(UTC))
    client.reconnect_delay_set(1, 30)
    connect_broker(client, endpoint, keepalive=30)
    return client


class MonitorMetrics:
    """The monitor's own Prometheus registry: when it last sampled, and the broker's queue then."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.last_sample = Gauge(
            "circulo_monitor_last_sample_timestamp_seconds", "When the last sample was written (Unix time)",
            registry=self.registry,
        )  # fmt: skip
        self.queued = Gauge(
            "circulo_monitor_broker_queued_messages", "Messages the broker holds for clients, last sample",
            registry=self.registry,
        )  # fmt: skip


class Monitor:
    """One monitor process: its settings, the latest counters, its metrics and a stop flag."""

    def __init__(self, settings: MonitorSettings) -> None:
        self.settings = settings
        self.values = SysValues()
        self.stopping = threading.Event()
        self.last_sample: datetime | None = None
        self.broker_sampled = False
        self.metrics = MonitorMetrics()

    def sample_once(self) -> None:
        """Write one sample of the co-ops' counters and, when fresh, the broker's."""
        now = datetime.now(UTC)
        broker = self.values.sample(now, timedelta(seconds=self.settings.sys_timeout_s))
        with connect(self.settings.database_url, application_name="circulo-monitor") as conn:
            coops = write_samples(conn, self.settings.broker_label(), broker, now,
                                  timedelta(days=self.settings.retention_days))  # fmt: skip
        self.last_sample, self.broker_sampled = now, broker is not None
        self.metrics.last_sample.set(now.timestamp())
        if broker is not None:
            self.metrics.queued.set(broker.queued_messages)
        if broker is None:
            log.warning("broker_counters_missing", broker=self.settings.broker_label())
        log.info("monitor_sample", coops=coops, queued=broker.queued_messages if broker else None)

    def run(self, *, once: bool = False) -> None:
        """Sample until stopped (or once, after the broker's counters arrived)."""
        client = sys_client(self.settings, self.values)
        client.loop_start()
        try:
            self.values.arrived.wait(self.settings.sys_timeout_s)
            while not self.stopping.is_set():
                self.sample_once()
                if once:
                    break
                self.stopping.wait(self.settings.interval_s)
        finally:
            client.disconnect()
            client.loop_stop()
        log.info("monitor_stopped")

    def health(self) -> tuple[bool, Mapping[str, Any]]:
        """Healthy while samples are written on time and they include the broker's counters."""
        age = (datetime.now(UTC) - self.last_sample).total_seconds() if self.last_sample else None
        on_time = age is not None and age < 3 * self.settings.interval_s + self.settings.sys_timeout_s
        return on_time and self.broker_sampled, {
            "last_sample_age_s": age,
            "broker_sampled": self.broker_sampled,
        }

    def stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        """Stop after the current sample (SIGTERM, SIGINT)."""
        self.stopping.set()


def run_monitor(settings: MonitorSettings, *, once: bool = False) -> None:
    """Run the monitor in this process, stopping cleanly on SIGTERM and SIGINT."""
    monitor = Monitor(settings)
    signal.signal(signal.SIGTERM, monitor.stop)
    signal.signal(signal.SIGINT, monitor.stop)
    log.info("monitor_started", broker=settings.broker_label(), interval_s=settings.interval_s)
    server = None
    if settings.metrics_port:
        server = MetricsServer(
            settings.metrics_port, monitor.health, registry=monitor.metrics.registry
        ).start()
    try:
        monitor.run(once=once)
    finally:
        if server is not None:
            server.stop()
