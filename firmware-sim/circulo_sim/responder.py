"""A ``circulo`` device's side of replay (SPEC §11): keep what it sends, answer commands, rate limited.

:class:`DeviceMemory` is one device's flash: its replay ring and its seq register. It keeps
every data message the device publishes on its own topics (exact bytes, by epoch and seq)
and turns a command into publishes: one ``replay_unavailable`` event per run it no longer
holds (each with a fresh seq, itself kept), then the held messages' original bytes on
their original topics. :class:`Replayer` sends those at most ``rate_per_s`` a second per
device, devices interleaved, on a thread of its own (a command arrives on the connection's
thread, which must not wait).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from circulo_schemas.payloads import ReplayCommand
from circulo_schemas.topics import device_topic
from circulo_sim.boot import DeviceCounter
from circulo_sim.fleet import DeviceSpec
from circulo_sim.logs import get_logger
from circulo_sim.plan import Label, Publish
from circulo_sim.replay import (
    InvalidCommand,
    Kept,
    ReplayRing,
    answer,
    parse_command,
    span,
    unavailable_payload,
)
from circulo_sim.summary import RunStats

log = get_logger("sim")

REPLAYED = Label("replayed", None, "replayed")  # stored or duplicate at ingest, depending on what it lacks
UNAVAILABLE = Label("replay_unavailable", None, "replay_unavailable")
DEFAULT_REPLAY_RATE = 20.0  # messages a second per device


class DeviceMemory:
    """One device's replay ring and seq register, and how it answers a replay command."""

    def __init__(self, spec: DeviceSpec, counter: DeviceCounter, ring: ReplayRing) -> None:
        if counter.epoch is None:
            raise ValueError(f"device {spec.device_id}: a replay buffer needs a boot epoch")
        self.spec = spec
        self.counter = counter
        self.ring = ring
        self._own = {device_topic(spec.kind, spec.device_id, c) for c in ("telemetry", "event")}
        self._lock = threading.Lock()

    @property
    def epoch(self) -> int:
        return self.counter.epoch or 0

    def keep(self, publish: Publish) -> None:
        """Keep a data message the device publishes on its own topics (not a forged one, not a replay)."""
        if publish.epoch is None or publish.seq is None or publish.topic not in self._own:
            return
        with self._lock:
            self.ring.keep(
                Kept(publish.epoch, publish.seq, publish.topic, publish.payload, publish.label.message_type)
            )

    def snapshot(self) -> list[Kept]:
        """Everything the ring holds, oldest first (to write it to flash)."""
        with self._lock:
            return self.ring.everything()

    def respond(self, payload: bytes, now: datetime, stats: RunStats) -> list[Publish]:
        """What to publish for a message on the command topic (nothing for an invalid one: logged)."""
        try:
            command = parse_command(payload)
        except InvalidCommand as e:
            stats.replay_event("invalid")
            log.warning("invalid_command", device_id=self.spec.device_id, reason=str(e))
            return []
        with self._lock:
            result = answer(self.ring, command)
        stats.replay_event("commands")
        log.info(
            "replay_command", device_id=self.spec.device_id, id=command.id, epoch=command.epoch,
            from_seq=command.from_seq, to_seq=command.to_seq, held=len(result.held),
            missing=len(result.missing),
        )  # fmt: skip
        unavailable = [self._unavailable(command, run, now, stats) for run in result.missing]
        replayed = [
            Publish(now, self.spec.device_id, k.topic, k.payload, REPLAYED, epoch=k.epoch, seq=k.seq)
            for k in result.held
        ]
        return unavailable + replayed

    def _unavailable(
        self, command: ReplayCommand, run: tuple[int, int], now: datetime, stats: RunStats
    ) -> Publish:
        seq = self.counter.take()
        topic = device_topic(self.spec.kind, self.spec.device_id, "event")
        payload = unavailable_payload(command, run, ts=now, seq=seq)
        publish = Publish(now, self.spec.device_id, topic, payload, UNAVAILABLE, epoch=self.epoch, seq=seq)
        self.keep(publish)  # a data message like any other: it can be asked for again
        stats.replay_event("unavailable_events")
        stats.replay_event("unavailable_seqs", span(*run))
        return publish


class Replayer:
    """Sends queued replay publishes, at most ``rate_per_s`` a second per device."""

    def __init__(
        self, send: Callable[[Publish], None], stats: RunStats, rate_per_s: float = DEFAULT_REPLAY_RATE
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("the replay rate must be positive")
        self._send = send
        self._stats = stats
        self._interval = 1.0 / rate_per_s
        self._queues: dict[str, deque[Publish]] = {}
        self._due: list[tuple[float, str]] = []  # (monotonic time of the next send, device id)
        self._next_free: dict[str, float] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._sending = 0
        self._thread = threading.Thread(target=self._run, name="sim-replayer", daemon=True)
        self._thread.start()

    def enqueue(self, device_id: str, publishes: list[Publish]) -> None:
        if not publishes:
            return
        with self._cond:
            queue = self._queues.setdefault(device_id, deque())
            if not queue:
                at = max(time.monotonic(), self._next_free.get(device_id, 0.0))
                heapq.heappush(self._due, (at, device_id))
            queue.extend(publishes)
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values()) + self._sending

    def wait_idle(self, deadline: float) -> bool:
        """Wait until every queued replay was handed to its connection (or the deadline passes)."""
        with self._cond:
            while (self._due or self._sending) and time.monotonic() < deadline:
                self._cond.wait(0.1)
            return not self._due and not self._sending

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                publish = self._next()
                if publish is None:
                    return
                self._sending += 1
            try:
                self._send(publish)
                if publish.label is REPLAYED:
                    self._stats.replay_event("republished")
            finally:
                with self._cond:
                    self._sending -= 1
                    self._cond.notify_all()

    def _next(self) -> Publish | None:
        """The next publish whose time has come (caller holds the condition); None when stopping."""
        while not self._stopping:
            if not self._due:
                self._cond.wait()
                continue
            at, device_id = self._due[0]
            wait = at - time.monotonic()
            if wait > 0:
                self._cond.wait(wait)
                continue
            heapq.heappop(self._due)
            queue = self._queues[device_id]
            publish = queue.popleft()
            after = max(at, time.monotonic()) + self._interval  # never a burst to catch up
            self._next_free[device_id] = after
            if queue:
                heapq.heappush(self._due, (after, device_id))
            return publish
        return None
