"""The ingest's MQTT connection: a persistent session that really resumes, manual acks.

- a fixed client id and ``clean_start=False`` on every connect (paho's default wipes the
  session on the first connect of each process), MQTT v5 session expiry > 0;
- Receive Maximum = the receipt queue's bound, so the broker never has more
  unacknowledged messages in flight to us than we can hold;
- manual acknowledgement: a message is acknowledged only after its batch committed, and
  only when it arrived on the current connection (``epoch``); after a reconnect the
  broker redelivers the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from circulo.errors import ServiceUnavailable
from circulo.ingest.fastclient import FastClient, new_fast_client
from circulo.ingest.metrics import IngestMetrics
from circulo.ingest.receipt import ReceiptQueue
from circulo.ingest.records import Received
from circulo.ingest.settings import IngestSettings
from circulo.logs import get_logger
from circulo.mqttclient import check_broker
from circulo.settings import MqttEndpoint

log = get_logger("ingest.mqtt")


class IngestConnection:
    """Owns the paho client; the network loop runs in paho's thread."""

    def __init__(self, settings: IngestSettings, queue: ReceiptQueue, metrics: IngestMetrics) -> None:
        self._settings = settings
        self._queue = queue
        self._metrics = metrics
        self._endpoint = MqttEndpoint.from_url(settings.mqtt_url)
        self._lock = threading.Lock()
        self.epoch = 0
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._client = self._make_client()

    @property
    def subscription(self) -> str:
        group = self._settings.shared_group
        return f"$share/{group}/{self._settings.topic_filter}" if group else self._settings.topic_filter

    def _make_client(self) -> FastClient:
        client = new_fast_client(self._endpoint, self._settings.worker_id, manual_ack=True)
        client.max_inflight_messages_set(1000)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_connect_fail = self._on_connect_fail
        return client

    def connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._settings.session_expiry_s
        props.ReceiveMaximum = self._settings.queue_max
        return props

    def verify_broker(self) -> None:
        """A broker that answers but cannot be verified (wrong CA, wrong host name) is an error at
        once: retrying would never help, and plaintext is never tried instead. A broker that does
        not answer yet is fine: :meth:`start` keeps trying."""
        check_broker(self._endpoint)

    def start(self) -> None:
        """Connect in the background; paho retries with backoff until the broker answers."""
        self._client.connect_async(
            self._endpoint.host,
            self._endpoint.port,
            keepalive=self._settings.keepalive_s,
            clean_start=False,
            properties=self.connect_properties(),
        )
        self._client.loop_start()

    def stop(self, *, session_expiry_s: int | None = None) -> None:
        """Disconnect; ``session_expiry_s=0`` ends the broker session (leaving a group for good)."""
        props = None
        if session_expiry_s is not None:
            props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = session_expiry_s
        self._client.disconnect(properties=props)
        self._client.loop_stop()
        self.connected.clear()
        self._metrics.connected.set(0)

    def unsubscribe(self) -> None:
        self._client.unsubscribe(self.subscription)

    def publish(self, topic: str, payload: bytes) -> bool:
        """Publish a command at QoS 1 (replay requests, SPEC §11); False when not connected now."""
        if not self.connected.is_set():
            return False
        info = self._client.publish(topic, payload, qos=1)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def ack_mids(self, mids: list[int]) -> None:
        """PUBACK these QoS 1 messages of the current connection, in one write."""
        self._client.ack_many(mids)

    def ack_batch(self, received: Iterable[Received]) -> int:
        """Acknowledge a committed batch's QoS 1 messages of this connection in one write;
        returns how many of them arrived on an earlier connection (the broker redelivers those)."""
        if not self.connected.is_set():
            return sum(1 for r in received if r.qos)
        mids, skipped = acks_of(received, self.epoch)
        self._client.ack_many(mids)
        return skipped

    # --- paho callbacks (network thread): keep them short -----------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("broker_refused", reason=str(reason_code))
            return
        with self._lock:
            self.epoch += 1
        self.connected.set()
        self._metrics.connected.set(1)
        self._metrics.reconnects.inc()
        log.info(
            "broker_connected",
            epoch=self.epoch,
            session_present=flags.session_present,
            subscription=self.subscription,
        )
        # retain handling 1: retained messages only for a new subscription, not on every resume
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        client.subscribe(self.subscription, options=options)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if any(rc.is_failure for rc in reason_codes):
            log.error("subscription_refused", subscription=self.subscription, reason=str(reason_codes[0]))
            return
        log.info("subscribed", subscription=self.subscription, epoch=self.epoch)
        self.subscribed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        self._metrics.connected.set(0)
        log.warning("broker_disconnected", reason=str(reason_code))

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        try:
            check_broker(self._endpoint)
        except ServiceUnavailable as e:  # paho retries on its own; say why it keeps failing
            log.error("broker_tls_refused", error=e.message)
            return
        log.warning("broker_unreachable", host=self._endpoint.host, port=self._endpoint.port)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = message._topic.decode("utf-8", "replace")
        # when stopping, put() refuses: left unacknowledged, the broker redelivers it later
        self._queue.put(topic, bytes(message.payload), message.mid, self.epoch, message.qos)


def acks_of(received: Iterable[Received], epoch: int) -> tuple[list[int], int]:
    """The mids of a batch's QoS 1 messages that arrived on connection ``epoch``, and how many
    QoS 1 messages arrived on an earlier one (those cannot be acknowledged: the broker redelivers)."""
    mids, skipped = [], 0
    for r in received:
        if r.qos == 1 and r.epoch == epoch:
            mids.append(r.mid)
        elif r.qos:
            skipped += 1
    return mids, skipped
