"""The ingest's MQTT connection in a receiver process of its own (``receiver_process``, on by default).

One worker's threads take turns on one GIL: paho's network thread, classification and the
writer. With the connection in a child process, the receive path (reading packets and
writing PUBACKs) runs on its own interpreter and core, and the worker's process keeps
classification and the database. Nothing of the contract moves:
- the child runs the same :class:`~circulo.ingest.mqtt.IngestConnection` (same session,
  Receive Maximum, subscription and logs) and forwards each message's topic, payload,
  mid, connection epoch and QoS to the worker in chunks over a pipe, with the connection's
  state (epoch, connected, subscribed) in front of every chunk, so the worker always knows
  the epoch of what it is given;
- the worker stamps the receipt time when a message enters its receipt queue (the
  watermark, SPEC §3, only counts what it has stamped: a message still in the pipe is not
  received yet and will be stamped later than the watermark);
- acknowledgements go back after commit, as one command per batch; the child sends them
  only when the batch's epoch is still its connection's (after a reconnect the broker
  redelivers the rest);
- the Receive Maximum still bounds everything in flight: child, pipe and receipt queue.
The child exits when the worker is gone (its pipes close); a child that dies is started
again with epochs that never repeat, so an acknowledgement can never reach the wrong
message.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
import time
from collections.abc import Iterable
from multiprocessing.connection import Connection
from typing import Any

from circulo.ingest.metrics import IngestMetrics
from circulo.ingest.mqtt import IngestConnection, acks_of
from circulo.ingest.receipt import ReceiptQueue
from circulo.ingest.records import Received
from circulo.ingest.settings import IngestSettings
from circulo.logs import configure_logging, get_logger
from circulo.mqttclient import check_broker
from circulo.settings import MqttEndpoint

log = get_logger("ingest.receiver")
FLUSH_S = 0.002  # how often the child forwards what arrived
STATE_EVERY_S = 0.2  # the connection's state at least this often, messages or not
EPOCHS_PER_CHILD = 1_000_000
STOP_TIMEOUT_S = 30.0
Item = tuple[str, bytes, int, int, int]  # topic, payload, mid, epoch, qos
State = tuple[int, bool, bool]  # epoch, connected, subscribed


# --- the child -----------------------------------------------------------------------------
class Forwarder:
    """The child's stand-in for the receipt queue: collects messages for the next chunk."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Item] = []

    def put(self, topic: str, payload: bytes, mid: int, epoch: int, qos: int) -> bool:
        with self._lock:
            self._items.append((topic, payload, mid, epoch, qos))
        return True

    def take(self) -> list[Item]:
        with self._lock:
            items, self._items = self._items, []
        return items


def receiver_main(
    settings: IngestSettings, data: Connection, control: Connection, first_epoch: int, log_level: str
) -> None:
    """The receiver process: connect, forward messages, acknowledge on command, stop on command.

    It ignores SIGTERM and SIGINT (systemd signals the whole control group, a terminal the
    whole process group): the worker stops it once the worker's last acknowledgements are
    sent, and it exits by itself when the worker is gone."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    configure_logging(level=log_level)
    forwarder = Forwarder()
    metrics = IngestMetrics()
    connection = IngestConnection(settings, forwarder, metrics)  # type: ignore[arg-type]
    connection.epoch = first_epoch
    stopped = threading.Event()
    sender = threading.Thread(target=send_loop, args=(connection, forwarder, data, stopped), daemon=True)
    sender.start()
    connection.start()
    try:
        while True:
            try:
                command = control.recv()
            except (EOFError, OSError):
                return  # the worker is gone: exit, acknowledging nothing more
            if command[0] == "ack":
                _, epoch, mids = command
                if epoch == connection.epoch and connection.connected.is_set():
                    connection.ack_mids(mids)
            elif command[0] == "publish":  # a replay request (SPEC §11), QoS 1 on our session
                _, topic, payload = command
                connection.publish(topic, payload)
            elif command[0] == "unsubscribe":
                connection.unsubscribe()
            elif command[0] == "stop":
                connection.stop(session_expiry_s=command[1])
                return
    finally:
        stopped.set()
        sender.join(1.0)
        send_state(connection, data)


def state_of(connection: IngestConnection) -> State:
    return connection.epoch, connection.connected.is_set(), connection.subscribed.is_set()


def send_state(connection: IngestConnection, data: Connection) -> None:
    with contextlib.suppress(OSError, ValueError):
        data.send((state_of(connection), []))


def send_loop(
    connection: IngestConnection, forwarder: Forwarder, data: Connection, stopped: threading.Event
) -> None:
    last_state, last_sent = None, 0.0
    while not stopped.wait(FLUSH_S):
        items = forwarder.take()
        state = state_of(connection)  # read after taking: no item is of a later epoch than it
        now = time.monotonic()
        if items or state != last_state or now - last_sent >= STATE_EVERY_S:
            try:
                data.send((state, items))
            except OSError:
                return  # the worker is gone; the control loop sees it too
            last_state, last_sent = state, now


# --- the worker's side ---------------------------------------------------------------------
class ReceiverProcess:
    """The worker's handle on the receiver process; the same surface as :class:`IngestConnection`."""

    def __init__(self, settings: IngestSettings, queue: ReceiptQueue, metrics: IngestMetrics) -> None:
        self._settings, self._queue, self._metrics = settings, queue, metrics
        self._endpoint = MqttEndpoint.from_url(settings.mqtt_url)
        self._context = multiprocessing.get_context("spawn")
        self._control: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._reader: threading.Thread | None = None
        self._stopping = False
        self._children = 0
        self._first_epoch = 0
        self.epoch = 0
        self.connected = threading.Event()
        self.subscribed = threading.Event()

    @property
    def subscription(self) -> str:
        group = self._settings.shared_group
        return f"$share/{group}/{self._settings.topic_filter}" if group else self._settings.topic_filter

    def verify_broker(self) -> None:
        check_broker(self._endpoint)

    def start(self) -> None:
        data_ours, data_theirs = self._context.Pipe(duplex=False)
        control_theirs, control_ours = self._context.Pipe(duplex=False)
        first_epoch = self._children * EPOCHS_PER_CHILD
        self._children += 1
        self.epoch = self._first_epoch = first_epoch
        self._process = self._context.Process(
            target=receiver_main,
            args=(self._settings, data_theirs, control_theirs, first_epoch, self._settings.log_level),
            name=f"ingest-receiver-{self._settings.worker_id}",
            daemon=True,
        )
        self._process.start()
        data_theirs.close()
        control_theirs.close()
        self._control = control_ours
        self._reader = threading.Thread(target=self._read_loop, args=(data_ours,), name="ingest-receive")
        self._reader.daemon = True
        self._reader.start()

    def stop(self, *, session_expiry_s: int | None = None) -> None:
        """Disconnect (after every acknowledgement sent before) and wait for the child to exit."""
        self._stopping = True
        self._command(("stop", session_expiry_s))
        if self._process is not None:
            self._process.join(STOP_TIMEOUT_S)
            if self._process.is_alive():
                self._process.kill()
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT_S)
        self.connected.clear()
        self._metrics.connected.set(0)

    def unsubscribe(self) -> None:
        self._command(("unsubscribe",))

    def publish(self, topic: str, payload: bytes) -> bool:
        """As :meth:`IngestConnection.publish` (replay requests, SPEC §11), sent by the child on
        the ingest's connection; False when it is not connected now. The requester asks again
        after its back-off if a request was lost with the connection."""
        if not self.connected.is_set() or self._control is None:
            return False
        return self._command(("publish", topic, payload))

    def ack_batch(self, received: Iterable[Received]) -> int:
        """As :meth:`IngestConnection.ack_batch`: one command for the batch; returns how many
        arrived on an earlier connection (the broker redelivers those)."""
        if not self.connected.is_set():
            return sum(1 for r in received if r.qos)
        epoch = self.epoch
        mids, skipped = acks_of(received, epoch)
        if mids:
            self._command(("ack", epoch, mids))
        return skipped

    def _command(self, command: tuple[Any, ...]) -> bool:
        try:
            if self._control is not None:
                self._control.send(command)
                return True
        except OSError:
            pass  # the child is gone: nothing it held was acknowledged; it is started again
        return False

    def _read_loop(self, data: Connection) -> None:
        while True:
            try:
                state, items = data.recv()
            except (EOFError, OSError):
                break
            self._apply_state(state)
            if items:
                self._queue.put_many(items)
        data.close()
        self.connected.clear()
        self.subscribed.clear()
        self._metrics.connected.set(0)
        if not self._stopping:
            code = self._process.exitcode if self._process is not None else None
            log.error("receiver_exited", exitcode=code)
            time.sleep(1.0)
            if not self._stopping:
                self.start()

    def _apply_state(self, state: State) -> None:
        epoch, connected, subscribed = state
        if epoch > self.epoch:  # each connection of the child's has the next epoch
            self._metrics.reconnects.inc(epoch - self.epoch)
        self.epoch = epoch
        if connected:
            self.connected.set()
        else:
            self.connected.clear()
        if subscribed:
            self.subscribed.set()
        else:
            self.subscribed.clear()
        self._metrics.connected.set(1 if connected else 0)
