"""A small MQTT v5 client for access tests: CONNACK, PUBACK and SUBACK reason codes, received messages."""

from __future__ import annotations

import queue
import ssl
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from circulo.localstack.mosquitto import MosquittoBroker
from circulo_schemas.broker import ClientCertificate, tls_context

NOT_AUTHORIZED = 0x87
TIMEOUT = 10.0


class Probe:
    """One MQTT v5 connection (use as a context manager after :meth:`connect`)."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        *,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:10]}", protocol=mqtt.MQTTv5
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if context is not None:
            self.client.tls_set_context(context)
        self.host, self.port = host, port
        self.connack: ReasonCode | None = None
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.answered = threading.Event()  # a CONNACK, or the socket closed
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._acks: dict[int, Any] = {}
        self._acked = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_ack
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda c, u, m: self.messages.put(m)

    @classmethod
    def at(
        cls,
        broker: MosquittoBroker,
        username: str | None,
        password: str | None,
        *,
        listener: str = "devices",
        client: ClientCertificate | None = None,
    ) -> Probe:
        """A probe on one of the broker's TLS listeners, trusting its CA (and with a client certificate)."""
        context = tls_context(cafile=str(broker.tls.cafile), client=client)
        return cls("127.0.0.1", broker.ports[listener], username, password, context=context)

    def connect(self) -> ReasonCode | None:
        """Connect and return the CONNACK reason code (None when the broker just closed the socket,
        which a refused TLS handshake does too)."""
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except (OSError, ValueError):  # the handshake failed (TLS 1.2) or the socket closed
            self.answered.set()
            return None
        self.client.loop_start()
        self.answered.wait(TIMEOUT)
        return self.connack

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *_: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        # no cycle through our callbacks: paho's socket pair is closed as soon as it is dropped
        for callback in ("on_connect", "on_disconnect", "on_publish", "on_subscribe", "on_message"):
            setattr(self.client, callback, None)

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason_code: ReasonCode, _p: Any) -> None:
        self.connack = reason_code
        if not reason_code.is_failure:
            self.connected.set()
        self.answered.set()

    def _on_disconnect(self, *_: Any) -> None:
        self.disconnected.set()
        self.answered.set()

    def _on_ack(self, client: Any, userdata: Any, mid: int, reason_code: Any, props: Any) -> None:
        with self._acked:
            self._acks[mid] = reason_code
            self._acked.notify_all()

    def _on_subscribe(self, client: Any, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        self._on_ack(client, None, mid, codes[0], None)

    def _wait_ack(self, mid: int) -> ReasonCode:
        with self._acked:
            acked = self._acked.wait_for(lambda: mid in self._acks, TIMEOUT)
            assert acked, f"no acknowledgement for mid {mid}"
            code: ReasonCode = self._acks.pop(mid)
            return code

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Publish at QoS 1 and return the PUBACK reason code's value."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        return int(self._wait_ack(info.mid).value)

    def subscribe(self, topic: str) -> int:
        """Subscribe at QoS 1 and return the SUBACK reason code's value (granted QoS, or an error)."""
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        return int(self._wait_ack(mid).value)
