"""Test support: run the real ingest as a subprocess, publish at QoS 1, wait for conditions."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from circulo.mqttclient import new_client
from circulo.settings import MqttEndpoint
from tests.factories import add_device


def wait_for(check: Callable[[], Any], *, timeout: float = 30, interval: float = 0.1, what: str = "") -> Any:
    """Poll until ``check()`` is truthy; fail the test naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")
        time.sleep(interval)


def http_get(url: str) -> tuple[int, str]:
    """Status and body of a GET (an error status too); ``(0, "")`` when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local test URL
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def scalar(db_url: str, sql: str, params: Any = None) -> Any:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def rows(db_url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def register(
    db_url: str,
    devices: Iterable[tuple[str, str]],
    *,
    coop: str = "coop1",
    retired: Iterable[str] = (),
    profiles: Mapping[str, str] | None = None,
) -> None:
    """Register devices (device_id, kind) in a co-op, straight into the registry tables."""
    retired, profiles = set(retired), profiles or {}
    with psycopg.connect(db_url, autocommit=True) as conn:
        for device_id, kind in devices:
            status = "retired" if device_id in retired else "active"
            add_device(conn, device_id, kind, coop, status=status, profile=profiles.get(device_id, "circulo"))


def v5_client(url: str, client_id: str = "") -> tuple[mqtt.Client, MqttEndpoint]:
    """A paho MQTT v5 client with the URL's credentials and TLS (not connected), and the endpoint."""
    endpoint = MqttEndpoint.from_url(url)
    return new_client(endpoint, client_id), endpoint


class Subscriber:
    """A tester client collecting what arrives on a filter (optionally a persistent session);
    it returns once the broker confirmed the subscription."""

    def __init__(self, url: str, topic: str, *, client_id: str = "", persistent: bool = False) -> None:
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self.client, endpoint = v5_client(url, client_id)
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload, m.retain))
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        properties = None
        if persistent:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = 3600
        self.client.connect(endpoint.host, endpoint.port, clean_start=not persistent, properties=properties)
        self.client.loop_start()
        assert subscribed.wait(30), f"the broker did not confirm the subscription to {topic}"

    def next(self, timeout: float = 10) -> tuple[str, bytes, bool]:
        return self.messages.get(timeout=timeout)

    def wait_online(
        self, devices: int, *, where: Callable[[str], bool] = bool, timeout: float = 60
    ) -> set[str]:
        """Until ``devices`` devices (of the topics ``where`` accepts) said ``online``; their ids."""
        online: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(online) < devices:
            topic, body, _ = self.next(timeout=max(0.1, deadline - time.monotonic()))
            if where(topic) and body and json.loads(body).get("state") == "online":
                online.add(topic.split("/")[3])
        return online

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Publisher:
    """A QoS 1 publisher that waits for every PUBACK (use as a context manager)."""

    def __init__(self, url: str, client_id: str = "", *, max_inflight: int = 1000) -> None:
        self.client, endpoint = v5_client(url, client_id)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(0)
        self._endpoint = endpoint
        self._connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: self._connected.set()

    def __enter__(self) -> Publisher:
        self.client.connect(self._endpoint.host, self._endpoint.port)
        self.client.loop_start()
        assert self._connected.wait(10), "publisher could not connect"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish_all(
        self, messages: Iterable[tuple[str, bytes | str]], *, retain: bool = False, timeout: float = 120
    ) -> int:
        infos = [self.client.publish(topic, payload, qos=1, retain=retain) for topic, payload in messages]
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            assert info.is_published(), "a QoS 1 publish was not acknowledged by the broker"
        return len(infos)


def end_broker_session(url: str, client_id: str, timeout: float = 5) -> bool:
    """Connect as ``client_id`` with a clean start and no session expiry, then leave:
    the broker drops the stored session and its queue. False when the broker is gone."""
    client, endpoint = v5_client(url, client_id)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
    try:
        client.connect(endpoint.host, endpoint.port, clean_start=True)
    except OSError:
        return False
    client.loop_start()
    try:
        return connected.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()


def clear_retained(url: str, topic_filter: str, quiet_s: float = 0.5) -> int:
    """Delete the retained messages under ``topic_filter`` (an empty retained publish each);
    how many there were. The broker sends them right after the SUBACK."""
    watcher = Subscriber(url, topic_filter)
    retained: set[str] = set()
    try:
        while True:
            try:
                topic, body, retain = watcher.next(timeout=quiet_s)
            except queue.Empty:
                break
            if retain and body:
                retained.add(topic)
        infos = [watcher.client.publish(topic, b"", qos=1, retain=True) for topic in sorted(retained)]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        watcher.close()
    return len(retained)


def payload(**fields: Any) -> bytes:
    return json.dumps({"v": 1, **fields}).encode()


@dataclass
class IngestProcess:
    """``circulo ingest`` as a real subprocess, to kill -9, stop and restart."""

    db_url: str
    mqtt_url: str
    worker_id: str
    log_dir: Path
    extra_args: list[str] = field(default_factory=list)
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> IngestProcess:
        self.starts += 1
        with (self.log_dir / f"ingest-{self.worker_id}-{self.starts}.log").open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "circulo",
                    "--database-url",
                    self.db_url,
                    "--mqtt-url",
                    self.mqtt_url,
                    "ingest",
                    "--worker-id",
                    self.worker_id,
                    "--metrics-port",
                    "0",
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
            )
        return self

    def current_log(self) -> Path:
        return self.log_dir / f"ingest-{self.worker_id}-{self.starts}.log"

    def wait_ready(self, timeout: float = 60) -> None:
        """Until this start of the worker has its subscription in place (SUBACK received).

        A heartbeat alone is not enough: it is written before the broker connection, and
        after a restart the previous process's heartbeat may still look fresh. Messages
        published before the first subscription of a new session are not queued for it.
        """
        wait_for(
            lambda: '"subscribed"' in self.current_log().read_text(errors="replace"),
            timeout=timeout,
            what=f"ingest {self.worker_id} (start {self.starts}) to subscribe",
        )
        wait_for(
            lambda: scalar(
                self.db_url,
                "SELECT count(*) FROM ingest_worker WHERE worker_id = %s "
                "AND stopped_at IS NULL AND heartbeat_at > now() - interval '5 s'",
                (self.worker_id,),
            ),
            timeout=timeout,
            what=f"ingest {self.worker_id} heartbeat",
        )

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def end_session(self) -> None:
        """Discard the worker's persistent broker session (test teardown).

        A killed worker's session would otherwise keep queueing every later test's
        messages in the shared broker for a week (its session expiry).
        """
        end_broker_session(self.mqtt_url, self.worker_id)

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.log_dir.glob(f"ingest-{self.worker_id}-*.log"))
        )
