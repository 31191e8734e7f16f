"""The ingest's paho client with buffered reads and batched PUBACKs, against a real broker (TLS).

Every message arrives whole and in order whatever the read boundaries (small messages
many to a read, a large one over many reads); ``ack_many`` acknowledges a batch, so a
resumed session gets nothing again; what was not acknowledged is delivered again after a
reconnect (nothing buffered from the old connection survives into the new one).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from tests.conftest import BrokerAccounts
from tests.support import Publisher

from circulo.ingest.fastclient import READ_SIZE, FastClient, new_fast_client
from circulo.settings import MqttEndpoint


class Receiver:
    """A FastClient with a persistent session that records (topic, payload, mid) in order."""

    def __init__(self, url: str, client_id: str) -> None:
        self.endpoint = MqttEndpoint.from_url(url)
        self.client: FastClient = new_fast_client(self.endpoint, client_id, manual_ack=True)
        self.got: list[tuple[str, bytes, int]] = []
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe("circulo/v1/#", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.got.append((message.topic, bytes(message.payload), message.mid))

    def __enter__(self) -> Receiver:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 600
        props.ReceiveMaximum = 10000
        self.client.connect(self.endpoint.host, self.endpoint.port, clean_start=False, properties=props)
        self.client.loop_start()
        assert self.subscribed.wait(10), "no SUBACK"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def wait_for(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.got) >= n, f"{len(self.got)} of {n} messages"


def messages(count: int) -> list[tuple[str, bytes]]:
    """Small messages of varied sizes, one of them larger than a whole read."""
    out = [
        (f"circulo/v1/meter/m{i % 7}/telemetry", f"{i}:".encode() + b"x" * (i % 300)) for i in range(count)
    ]
    out[count // 2] = ("circulo/v1/meter/big/telemetry", bytes(range(256)) * (READ_SIZE // 256 * 2 + 3))
    return out


def test_every_message_arrives_whole_and_in_order_and_ack_many_acknowledges_the_batch(
    fresh_broker_accounts: BrokerAccounts,
) -> None:
    sent = messages(5000)
    url = fresh_broker_accounts.url("ingest")
    with Receiver(url, "fast-a"):
        pass  # the session and its subscription
    with Publisher(fresh_broker_accounts.url("tester")) as pub:
        pub.publish_all(sent)  # queued: the receiver gets them back to back, many to a read
    with Receiver(url, "fast-a") as receiver:
        receiver.wait_for(len(sent))
        assert [(t, p) for t, p, _ in receiver.got] == sent
        receiver.client.ack_many(mid for _, _, mid in receiver.got)
        time.sleep(0.5)  # the PUBACKs reach the broker before the disconnect
    with Receiver(url, "fast-a") as resumed:
        time.sleep(1.5)
        assert resumed.got == [], "acknowledged messages were delivered again"


def test_what_was_not_acknowledged_is_delivered_again_after_a_reconnect(
    fresh_broker_accounts: BrokerAccounts,
) -> None:
    sent = messages(3000)
    url = fresh_broker_accounts.url("ingest")
    with Receiver(url, "fast-b"):
        pass
    with Publisher(fresh_broker_accounts.url("tester")) as pub:
        pub.publish_all(sent)
    with Receiver(url, "fast-b") as receiver:
        receiver.wait_for(len(sent))
        receiver.client.ack_many(mid for _, _, mid in receiver.got[:1000])
        time.sleep(0.5)
    with Receiver(url, "fast-b") as resumed:
        resumed.wait_for(2000)
        time.sleep(0.5)
        assert [(t, p) for t, p, _ in resumed.got] == sent[1000:]
