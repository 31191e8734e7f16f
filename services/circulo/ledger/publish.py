"""Publish a checkpoint: retained, QoS 1, MQTT v5 on ``circulo/ledger/v1/checkpoint``, and to a file.

The publish counts only when the broker acknowledges it with a success reason code (a
broker ACL that refuses the topic answers an MQTT v5 PUBACK with "not authorized").
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from circulo.errors import ServiceUnavailable
from circulo.ledger.checkpoint import Checkpoint
from circulo.ledger.settings import CHECKPOINT_TOPIC
from circulo.mqttclient import connect, new_client
from circulo.settings import MqttEndpoint


def checkpoint_payload(checkpoint: Checkpoint) -> bytes:
    """The published bytes: the checkpoint's JSON object, compact, UTF-8."""
    return json.dumps(checkpoint.to_dict(), separators=(",", ":")).encode("utf-8")


def write_checkpoint_file(path: Path, checkpoint: Checkpoint) -> None:
    """Write the checkpoint to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(checkpoint_payload(checkpoint) + b"\n")
    os.replace(partial, path)


class _Acks:
    """Connection and publish acknowledgements as the network thread reports them."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.published = threading.Event()
        self.connect_code: ReasonCode | None = None
        self.publish_code: ReasonCode | None = None

    def on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, code: ReasonCode, props: Any
    ) -> None:
        self.connect_code = code
        self.connected.set()

    def on_publish(self, client: mqtt.Client, userdata: Any, mid: int, code: ReasonCode, props: Any) -> None:
        self.publish_code = code
        self.published.set()


def publish_checkpoint(mqtt_url: str, checkpoint: Checkpoint, *, timeout_s: float = 10.0) -> None:
    """Publish ``checkpoint`` retained with QoS 1 and wait for the broker's acknowledgement."""
    endpoint = MqttEndpoint.from_url(mqtt_url)
    acks = _Acks()
    client = new_client(endpoint, f"circulo-ledger-{uuid.uuid4().hex[:12]}")
    client.on_connect = acks.on_connect
    client.on_publish = acks.on_publish
    where = endpoint.where()
    connect(client, endpoint, keepalive=30)
    client.loop_start()
    try:
        wait_for(acks.connected, acks, "connect_code", f"{where}: connection", timeout_s)
        client.publish(CHECKPOINT_TOPIC, checkpoint_payload(checkpoint), qos=1, retain=True)
        wait_for(acks.published, acks, "publish_code", f"{where}: publish to {CHECKPOINT_TOPIC}", timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()


def wait_for(event: threading.Event, acks: _Acks, code_name: str, what: str, timeout_s: float) -> None:
    """Wait for an acknowledgement and require a success reason code."""
    if not event.wait(timeout_s):
        raise ServiceUnavailable(f"{what}: no acknowledgement within {timeout_s:g} s")
    code: ReasonCode | None = getattr(acks, code_name)
    if code is not None and code.is_failure:
        raise ServiceUnavailable(f"{what} refused: {code}")
