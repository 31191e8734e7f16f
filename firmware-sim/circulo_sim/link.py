"""One MQTT v5 connection, as good firmware runs it (the thin I/O shell).

- QoS 1 for everything; a retained ``status`` on every connect (and a firmware's boot
  messages) and a Last Will (``{"v":1,"state":"offline"}``, or the firmware's, retained)
  for when the connection dies;
- reconnect with capped exponential backoff and full jitter (:mod:`circulo_sim.backoff`);
- store-and-forward: while the broker is unreachable (or the device is in an outage),
  messages wait in a bounded buffer (:mod:`circulo_sim.buffer`) and leave in order when
  the connection returns — after the messages the client had in flight, which paho
  resends first;
- every PUBACK is matched to its message: success, or the broker's refusal (MQTT v5
  reason code, e.g. 0x87 Not authorized for a topic outside the device's ACL);
- with ``keep_unheard`` (a ``circulo`` device, SPEC §11), a PUBACK 0x10 "no matching
  subscribers" on a data message means *not delivered*: the message is kept and sent again
  after a backoff, before anything buffered since (Mosquitto 2.0 does not restore shared
  subscriptions after a restart, so the ingest's group can be absent for a moment);
- with a command topic, a subscription to it (QoS 1) on every connect, each message handed
  to a callback on this thread (which must not block); ``session_expiry_s`` > 0 keeps the
  session, so commands queue at the broker while the device is away.

A thread per connection runs the network loop; :meth:`MqttLink.submit` may be called
from another thread. Locks: ``_order`` serialises publishing (keeps order), ``_acks``
guards the in-flight table; paho calls ``on_publish`` holding its own lock, so nothing
here calls into paho while holding ``_acks``.
"""

from __future__ import annotations

import random
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from circulo_schemas.broker import tls_context, tls_failure
from circulo_sim.backoff import Backoff
from circulo_sim.buffer import StoreAndForward
from circulo_sim.logs import get_logger
from circulo_sim.plan import Publish
from circulo_sim.summary import RunStats

log = get_logger("sim")

DISCONNECT_WITH_WILL = 0x04  # MQTT v5: "disconnect, but publish my Last Will"
NO_MATCHING_SUBSCRIBERS = 0x10  # MQTT v5 PUBACK: accepted, but nobody was subscribed
LOOP_TIMEOUT_S = 0.05


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom to connect; ``tls_context`` verifies the broker (and, with mutual TLS,
    holds the device's certificate), built once from the bundle or the URL's ``cafile``."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None = field(repr=False)
    client_id: str
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    ca_label: str | None = None  # where the trusted CA came from, for error messages


@dataclass(frozen=True)
class LinkOptions:
    """How a connection behaves (shared by every link of a run)."""

    inflight: int = 100
    buffer_max: int = 10_000
    keepalive_s: int = 30
    backoff: Backoff = field(default_factory=Backoff)
    keep_unheard: bool = False  # a PUBACK 0x10 on a data message: keep it and send it again
    session_expiry_s: int = 0  # > 0: resume the session (queued commands) on reconnect


StatusOnConnect = Callable[[bool], Sequence[Publish]]  # first connect? -> what to publish first
CommandHandler = Callable[[bytes], None]  # a message on the device's command topic


def _leave_writes_to_the_loop(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    """paho's write hook: nothing to do, the link's loop() writes (see MqttLink._new_client)."""


def is_data(publish: Publish) -> bool:
    """A telemetry or event message (not a status, not a firmware's boot or info message)."""
    return not publish.retain and publish.label.expected not in ("status", "ignored", "refused")


class MqttLink:
    """A QoS 1 publisher with a will, backoff, and a bounded store-and-forward buffer."""

    def __init__(
        self,
        endpoint: Endpoint,
        options: LinkOptions,
        stats: RunStats,
        *,
        will: tuple[str, bytes] | None = None,
        status_on_connect: StatusOnConnect | None = None,
        commands: tuple[str, CommandHandler] | None = None,
        seed: int = 0,
    ) -> None:
        self.endpoint = endpoint
        self.options = options
        self.stats = stats
        self._status_on_connect = status_on_connect
        self._commands = commands
        self._rng = random.Random(f"{seed}/{endpoint.client_id}")
        self._client = self._new_client(will)
        self._order = threading.Lock()
        self._acks = threading.Condition()
        self._buffer: StoreAndForward[Publish] = StoreAndForward(options.buffer_max)
        self._inflight: dict[int, Publish] = {}
        self._early: dict[int, ReasonCode] = {}
        self._unheard: list[Publish] = []  # PUBACK 0x10: to send again, oldest first (under _acks)
        self._unheard_attempt = 0
        self._resend_at = 0.0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{endpoint.client_id}", daemon=True)
        self._ready = False  # connected, status sent, buffer flushed: publish directly
        self._held = False  # in an outage (fault): stay disconnected
        # an outage began: drop the connection with the will even if the outage already
        # ended (a short one at high speed can end before this thread looks)
        self._drop_due = False
        self._socket_open = False
        self._connack_ok = False
        self._status_due = False
        self._ever_online = False
        self._attempt = 0
        self._next_attempt = 0.0
        self._refusal_logged = False

    def _new_client(self, will: tuple[str, bytes] | None) -> mqtt.Client:
        e = self.endpoint
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=e.client_id, protocol=mqtt.MQTTv5)
        client.username_pw_set(e.username, e.password)
        if e.tls:
            # never a default (unverified) context: a TLS endpoint is built with its CA
            client.tls_set_context(e.tls_context or tls_context())
        if will is not None:
            client.will_set(will[0], will[1], qos=1, retain=True)
        client.max_inflight_messages_set(self.options.inflight)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        # Only this link's thread writes to the socket. Without a write hook, paho's publish()
        # from another thread (the runner, the replayer) writes at once, racing this thread's
        # own writes (a PUBACK, a PINGREQ): over TLS two writers corrupt the stream ("bad record
        # mac", the broker drops the connection). With the hook, publish() only queues the
        # packet and wakes loop(), which writes it.
        client.on_socket_register_write = _leave_writes_to_the_loop
        return client

    # --- the caller's side -----------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def ready(self) -> bool:
        return self._ready

    def submit(self, publish: Publish, *, counted: bool = False) -> None:
        """Publish now when connected, else keep it in the buffer (evicting if full).

        ``counted``: the message was already counted as published and buffered elsewhere
        (a bulk device's outage buffer).
        """
        if not counted:
            self.stats.planned(publish)
        evicted = None
        with self._order:
            if self._ready:
                self._publish_locked(publish)
                return
            evicted = self._buffer.push(
                publish, is_telemetry=publish.label.message_type.endswith("telemetry")
            )
        if not counted:
            self.stats.was_buffered(publish)
        if evicted is not None:
            self.stats.lost(evicted, "dropped")

    def wait_for_room(self, stop: threading.Event, *, until_connected: bool = False) -> None:
        """Block while the in-flight window is full (flow control: as fast as the broker takes it).

        ``until_connected`` (backfill, where simulated time costs nothing): also block while
        the connection is down, instead of racing ahead and filling the buffer.
        """
        with self._acks:
            while not stop.is_set():
                full = self._ready and len(self._inflight) >= 2 * self.options.inflight
                down = until_connected and not self._ready and not self._held
                if not (full or down):
                    return
                self._acks.wait(0.1)

    def hold(self) -> None:
        """Start an outage: stop publishing and drop the connection so the broker sends the will."""
        with self._order:
            self._held, self._ready, self._drop_due = True, False, True
        self._wake.set()

    def release(self) -> None:
        """End an outage: reconnect at once, then flush the buffer."""
        with self._order:
            self._held = False
            self._attempt, self._next_attempt = 0, 0.0
        self._wake.set()

    def backlog(self) -> int:
        """Messages not yet acknowledged: buffered plus in flight."""
        with self._acks:
            return len(self._buffer) + len(self._inflight) + len(self._unheard)

    def buffered(self) -> int:
        """Messages waiting to be sent: the store-and-forward buffer and those heard by nobody."""
        return len(self._buffer) + len(self._unheard)

    def wait_idle(self, deadline: float) -> bool:
        """Wait until nothing is buffered or in flight (or the deadline passes).

        A device the broker never let in (wrong credentials, retired) will not get better:
        it does not hold the end of the run up.
        """
        with self._acks:
            while (self._inflight or len(self._buffer) or self._unheard) and time.monotonic() < deadline:
                if self._refusal_logged and not self._ever_online:
                    break
                self._acks.wait(0.1)
            return not self._inflight and not len(self._buffer) and not self._unheard

    def close(self, deadline: float) -> None:
        """Disconnect cleanly (no will); whatever is still unacknowledged is counted as such."""
        self.wait_idle(deadline)
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=max(1.0, deadline - time.monotonic() + 1.0))
        with self._order, self._acks:
            leftovers = [*self._inflight.values(), *self._unheard, *self._buffer.drain()]
            self._inflight.clear()
            self._unheard.clear()
        for publish in leftovers:
            self.stats.lost(publish, "unacked")

    # --- publishing ------------------------------------------------------------------------
    def _publish_locked(self, publish: Publish) -> None:
        """Hand one message to paho (caller holds ``_order``) and remember it until its PUBACK."""
        info = self._client.publish(publish.topic, publish.payload, qos=1, retain=publish.retain)
        # Only a full queue makes paho forget a message; on a lost connection it keeps it and
        # resends it (DUP) after reconnecting, before anything newer.
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            log.warning("publish_refused_by_client", client_id=self.endpoint.client_id, rc=str(info.rc))
            self.stats.lost(publish, "dropped")
            return
        with self._acks:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._inflight[info.mid] = publish
        if early is not None:
            self._settle(publish, early)

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_code: ReasonCode, properties: Any
    ) -> None:
        with self._acks:
            publish = self._inflight.pop(mid, None)
            if publish is None:  # the PUBACK beat _publish_locked to the table
                self._early[mid] = reason_code
                return
            self._acks.notify_all()
        self._settle(publish, reason_code)

    def _settle(self, publish: Publish, reason_code: ReasonCode) -> None:
        if reason_code.is_failure:
            self.stats.refused(publish, f"0x{reason_code.value:02x} {reason_code.getName()}")
        elif reason_code.value == NO_MATCHING_SUBSCRIBERS and self.options.keep_unheard and is_data(publish):
            self.stats.unheard(publish)
            with self._acks:  # never _order here: paho may hold its own lock (see the module doc)
                self._unheard.append(publish)
        else:
            if self._unheard_attempt and publish.label.expected != "status":
                self._unheard_attempt = 0  # someone listens again
            self.stats.acked(publish)

    # --- the connection thread --------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._order:
                drop, self._drop_due = self._held or self._drop_due, False
            if drop:
                self._disconnect(with_will=True)
                if self._held:
                    self._sleep(1.0)
            elif not self._socket_open:
                self._connect()
            else:
                self._step()
        self._disconnect(with_will=False)
        # paho has no public close for the socket pair its loop() opens to wake itself up;
        # without this it is left to the garbage collector (a ResourceWarning)
        self._client._reset_sockets()

    def _step(self) -> None:
        rc = self._client.loop(timeout=LOOP_TIMEOUT_S)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._connection_lost()
            return
        if self._connack_ok:
            self._connack_ok = False
            self.stats.connected(first=not self._ever_online)
            self._attempt, self._status_due = 0, True
            if self._commands is not None:
                self._client.subscribe(self._commands[0], qos=1)
        self._pause_if_unheard()
        if (
            not self._ready
            and not self._held
            and not self._drop_due
            and self._client.is_connected()
            and time.monotonic() >= self._resend_at
        ):
            self._go_ready()

    def _pause_if_unheard(self) -> None:
        """Messages nobody heard: stop sending directly, and try them again after a backoff."""
        with self._acks:
            unheard = bool(self._unheard)
        if not unheard or not self._ready:
            return
        with self._order:
            self._ready = False
        self._unheard_attempt += 1
        self._resend_at = time.monotonic() + self.options.backoff.wait(self._unheard_attempt, self._rng)
        log.debug("no_subscribers", client_id=self.endpoint.client_id, attempt=self._unheard_attempt)

    def _connect(self) -> None:
        wait = self._next_attempt - time.monotonic()
        if wait > 0:
            self._sleep(wait)
            return
        e = self.endpoint
        try:
            if self.options.session_expiry_s > 0:
                session = Properties(PacketTypes.CONNECT)
                session.SessionExpiryInterval = self.options.session_expiry_s
                self._client.connect(
                    e.host, e.port, keepalive=self.options.keepalive_s, clean_start=False, properties=session
                )
            else:
                self._client.connect(e.host, e.port, keepalive=self.options.keepalive_s)
            self._socket_open = True
        except (OSError, ValueError) as error:
            why = tls_failure(error, e.host, e.ca_label)
            if why is not None and not self._refusal_logged:
                log.warning("tls_refused", client_id=e.client_id, reason=why)
                self._refusal_logged = True
            self._schedule_retry(why or str(error))

    def _schedule_retry(self, reason: str) -> None:
        self._attempt += 1
        self._next_attempt = time.monotonic() + self.options.backoff.wait(self._attempt, self._rng)
        log.debug(
            "reconnect_scheduled", client_id=self.endpoint.client_id, attempt=self._attempt, reason=reason
        )

    def _connection_lost(self) -> None:
        with self._order:
            self._ready = False
        self._socket_open = False
        if not self._held and not self._stopping.is_set():
            self._schedule_retry("connection lost")

    def _go_ready(self) -> None:
        """Connected: announce ``online`` (once per connection), flush the buffer in order, go direct."""
        announced: Sequence[Publish] = ()
        if self._status_due and self._status_on_connect is not None:
            announced = self._status_on_connect(not self._ever_online)
        with self._order:
            if self._held or self._drop_due:
                return
            for status in announced:
                self.stats.planned(status)
                self._publish_locked(status)
            self._status_due, self._ever_online = False, True
            with self._acks:
                unheard, self._unheard = self._unheard, []
            for publish in unheard:
                self.stats.resent(publish)
                self._publish_locked(publish)
            for publish in self._buffer.drain():
                self._publish_locked(publish)
            self._ready = True

    def _disconnect(self, *, with_will: bool) -> None:
        """Close the connection (with the will: an outage; without: a clean shutdown)."""
        if not self._socket_open:
            return
        with self._order:
            self._ready = False
        if with_will:
            self._client.disconnect(
                reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=DISCONNECT_WITH_WILL)
            )
        else:
            self._client.disconnect()
        deadline = time.monotonic() + 2.0
        while (
            time.monotonic() < deadline
            and self._client.loop(timeout=LOOP_TIMEOUT_S) == MQTTErrorCode.MQTT_ERR_SUCCESS
        ):
            pass
        self._socket_open = False

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: ReasonCode, properties: Any
    ) -> None:
        if reason_code.is_failure:
            self.stats.connect_failed(reason_code.getName())
            if not self._refusal_logged:
                log.warning(
                    "connect_refused", client_id=self.endpoint.client_id, reason=reason_code.getName()
                )
                self._refusal_logged = True
            return
        self._connack_ok = True

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: list[ReasonCode], properties: Any
    ) -> None:
        refused = [rc for rc in reason_codes if rc.is_failure]
        if refused:
            topic = self._commands[0] if self._commands else None
            log.warning(
                "command_subscription_refused",
                client_id=self.endpoint.client_id,
                topic=topic,
                reason=refused[0].getName(),
            )

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._commands is not None and message.topic == self._commands[0]:
            self._commands[1](bytes(message.payload))

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        log.debug("disconnected", client_id=self.endpoint.client_id, reason=str(reason_code), held=self._held)
        with self._acks:
            self._acks.notify_all()
