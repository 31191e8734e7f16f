"""How a run's messages reach the broker: one connection per device, or a few shared ones.

- :class:`DeviceTransport` is the fleet as it really is: each device connects with its
  own credentials from its provisioning bundle, has its own Last Will and retained status,
  and may publish only under its own topics (the broker enforces it). With
  :class:`ReplaySetup`, each ``circulo`` device also keeps a replay ring, sends its boot
  epoch, answers replay commands on ``circulo/cmd/v1/{kind}/{device_id}`` and keeps a
  message the broker found no subscriber for (SPEC §11); profiled meters do none of it.
- :class:`BulkTransport` multiplexes many devices over a few connections of a service
  account allowed to publish to all of ``circulo/v1/#`` (benchmarks, large fleets). It
  publishes each device's retained status itself; an outage is a per-device buffer plus
  the offline status the broker would have sent as the device's will.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from circulo_schemas.profiles import CIRCULO, SHELLY_GEN2, device_prefix
from circulo_schemas.topics import command_topic, device_topic
from circulo_sim.boot import BootStore, DeviceCounter
from circulo_sim.buffer import StoreAndForward
from circulo_sim.firmware import shelly, tasmota
from circulo_sim.fleet import DeviceSpec
from circulo_sim.link import Endpoint, LinkOptions, MqttLink
from circulo_sim.plan import Label, Publish
from circulo_sim.replay import DEFAULT_RING_SIZE, ReplayRing
from circulo_sim.responder import DEFAULT_REPLAY_RATE, DeviceMemory, Replayer
from circulo_sim.summary import RunStats
from circulo_sim.wire import OFFLINE_WILL, status_payload

STATUS_LABEL = Label("status", None, "status")


class Transport(Protocol):
    """What the runner needs from the MQTT side."""

    def start(self) -> None: ...

    def publish(self, publish: Publish) -> None: ...

    def go_offline(self, device_id: str) -> None: ...

    def go_online(self, device_id: str) -> None: ...

    def reboot(self, device_id: str) -> None: ...

    def wait_for_room(self, device_id: str, stop: threading.Event) -> None: ...

    def connected(self) -> int: ...

    def buffered(self) -> int: ...

    def close(self, timeout_s: float) -> None: ...


@dataclass(frozen=True)
class ReplaySetup:
    """What makes a device transport's ``circulo`` devices replay (SPEC §11).

    ``counters``: each device's seq register and boot epoch (:func:`circulo_sim.boot.boot_devices`);
    a device without one does not replay.
    """

    counters: Mapping[str, DeviceCounter]
    ring_size: int = DEFAULT_RING_SIZE
    rate_per_s: float = DEFAULT_REPLAY_RATE
    session_expiry_s: int = 3600  # commands queue at the broker this long while a device is away
    keep_unheard: bool = True  # a PUBACK 0x10 (no matching subscribers) is not a delivery
    store: BootStore | None = None  # where the rings survive the run (None: in memory only)
    linger_s: float = 0.0  # after the last message, stay connected this long to answer replays


def status_publish(
    spec: DeviceSpec,
    state: str,
    at: datetime,
    *,
    reason: str | None,
    will: bool = False,
    epoch: int | None = None,
) -> Publish:
    """A retained status of one device (the will's exact bytes when ``will``), in its firmware's form."""
    if spec.profile != CIRCULO:
        topic, payload = firmware_status(spec, online=state == "online")
        return Publish(at, spec.device_id, topic, payload, STATUS_LABEL, retain=True)
    payload = OFFLINE_WILL if will else status_payload(state, reason=reason, epoch=epoch)
    return Publish(
        at,
        spec.device_id,
        device_topic(spec.kind, spec.device_id, "status"),
        payload,
        STATUS_LABEL,
        retain=True,
    )


def firmware_status(spec: DeviceSpec, *, online: bool) -> tuple[str, bytes]:
    """A profiled meter's online/offline topic and payload (also its Last Will, retained)."""
    prefix = device_prefix(spec.device_id, spec.kind)
    if spec.profile == SHELLY_GEN2:
        return f"{prefix}/online", shelly.ONLINE if online else shelly.OFFLINE
    return f"{prefix}/tele/LWT", tasmota.ONLINE if online else tasmota.OFFLINE


def will_of(spec: DeviceSpec) -> tuple[str, bytes]:
    """The Last Will a device connects with."""
    if spec.profile != CIRCULO:
        return firmware_status(spec, online=False)
    return device_topic(spec.kind, spec.device_id, "status"), OFFLINE_WILL


def connect_publishes(
    spec: DeviceSpec, at: datetime, *, first: bool, epoch: int | None = None
) -> list[Publish]:
    """What a device publishes on every connect: its status, and a firmware's boot messages."""
    online = status_publish(spec, "online", at, reason="boot" if first else "reconnected", epoch=epoch)
    if spec.profile == CIRCULO:
        return [online]
    prefix = device_prefix(spec.device_id, spec.kind)
    boot = (
        shelly.boot_messages(spec.device_id)
        if spec.profile == SHELLY_GEN2
        else tasmota.boot_messages(spec.device_id, first=first)
    )
    return [
        online,
        *(_boot_publish(spec, at, f"{prefix}/{sub}", payload, role) for sub, payload, role in boot),
    ]


def _boot_publish(spec: DeviceSpec, at: datetime, topic: str, payload: bytes, role: str) -> Publish:
    if role == "command":  # Tasmota's empty cmnd/POWER at connect: refused by the broker
        return Publish(at, spec.device_id, topic, payload, Label("firmware_command", None, "refused"))
    return Publish(at, spec.device_id, topic, payload, Label("firmware_info", None, "ignored"))


class DeviceTransport:
    """One MQTT connection per device, each with the device's own credentials."""

    def __init__(
        self,
        devices: Sequence[DeviceSpec],
        endpoints: Mapping[str, Endpoint],
        options: LinkOptions,
        stats: RunStats,
        *,
        clock_now: Callable[[], datetime],
        seed: int = 0,
        backfill: bool = False,
        replay: ReplaySetup | None = None,
    ) -> None:
        self._backfill = backfill
        self._specs = {d.device_id: d for d in devices}
        self._now = clock_now
        self._stats = stats
        self._replay = replay
        self._rebooted: dict[str, bool] = {}  # came back from a reboot: announce "boot"
        self.memories = {
            d.device_id: DeviceMemory(d, replay.counters[d.device_id], self._ring(d.device_id, replay))
            for d in devices
            if replay is not None and d.profile == CIRCULO and d.device_id in replay.counters
        }
        self._replayer = (
            Replayer(self.publish, stats, replay.rate_per_s) if self.memories and replay else None
        )
        self._links = {
            d.device_id: self._link(d, endpoints[d.device_id], options, replay, seed) for d in devices
        }

    def _link(
        self,
        spec: DeviceSpec,
        endpoint: Endpoint,
        options: LinkOptions,
        replay: ReplaySetup | None,
        seed: int,
    ) -> MqttLink:
        memory = self.memories.get(spec.device_id)

        def online(first: bool) -> list[Publish]:
            booted = first or self._rebooted.pop(spec.device_id, False)
            epoch = memory.epoch if memory else None  # read now: a reboot moves it on
            return connect_publishes(spec, self._now(), first=booted, epoch=epoch)

        if memory is None or replay is None:
            return MqttLink(
                endpoint, options, self._stats, will=will_of(spec), status_on_connect=online, seed=seed
            )
        commands = (command_topic(spec.kind, spec.device_id), self._command_handler(memory))
        replaying = dataclasses.replace(
            options, keep_unheard=replay.keep_unheard, session_expiry_s=replay.session_expiry_s
        )
        return MqttLink(
            endpoint, replaying, self._stats, will=will_of(spec), status_on_connect=online,
            commands=commands, seed=seed,
        )  # fmt: skip

    @staticmethod
    def _ring(device_id: str, replay: ReplaySetup) -> ReplayRing:
        """The device's ring as its last run left it (flash survives a reboot)."""
        ring = ReplayRing(replay.ring_size)
        for kept in replay.store.load_ring(device_id) if replay.store else ():
            ring.keep(kept)
        return ring

    def _command_handler(self, memory: DeviceMemory) -> Callable[[bytes], None]:
        def handle(payload: bytes) -> None:
            if self._replayer is not None:
                self._replayer.enqueue(
                    memory.spec.device_id, memory.respond(payload, self._now(), self._stats)
                )

        return handle

    def start(self) -> None:
        for link in self._links.values():
            link.start()

    def publish(self, publish: Publish) -> None:
        memory = self.memories.get(publish.device_id)
        if memory is not None and publish.label.message_type != "replayed":
            memory.keep(publish)  # in flash before it is sent, as firmware must
        self._links[publish.device_id].submit(publish)

    def go_offline(self, device_id: str) -> None:
        self._links[device_id].hold()

    def go_online(self, device_id: str) -> None:
        self._links[device_id].release()

    def reboot(self, device_id: str) -> None:
        """The device restarts: the connection drops (the broker sends its will), it comes back
        at once saying ``boot`` in its new epoch (its counter moved on when the plan drew it)."""
        self._rebooted[device_id] = True
        link = self._links[device_id]
        link.hold()
        link.release()

    def wait_for_room(self, device_id: str, stop: threading.Event) -> None:
        self._links[device_id].wait_for_room(stop, until_connected=self._backfill)

    def connected(self) -> int:
        return sum(link.ready for link in self._links.values())

    def buffered(self) -> int:
        return sum(link.buffered() for link in self._links.values())

    def close(self, timeout_s: float) -> None:
        """Let every device flush (replays too), linger for late replay commands, say it goes
        offline, and disconnect cleanly; save the replay rings."""
        deadline = time.monotonic() + timeout_s
        for link in self._links.values():
            link.wait_idle(deadline)
        if self._replay is not None and self._replay.linger_s > 0 and self.memories:
            time.sleep(max(0.0, min(self._replay.linger_s, deadline - time.monotonic())))
        if self._replayer is not None:
            self._replayer.wait_idle(deadline)
        for link in self._links.values():
            link.wait_idle(deadline)
        if self._replayer is not None:
            self._replayer.close()
        for device_id, link in self._links.items():
            if link.ready:
                memory = self.memories.get(device_id)
                link.submit(
                    status_publish(
                        self._specs[device_id],
                        "offline",
                        self._now(),
                        reason="shutdown",
                        epoch=memory.epoch if memory else None,
                    )
                )
        threads = [threading.Thread(target=link.close, args=(deadline,)) for link in self._links.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._save_rings()

    def _save_rings(self) -> None:
        store = self._replay.store if self._replay is not None else None
        if store is None:
            return
        for device_id, memory in self.memories.items():
            store.save_ring(device_id, memory.snapshot())


class BulkTransport:
    """Many devices over a few connections of a service account (publish to circulo/v1/#)."""

    def __init__(
        self,
        devices: Sequence[DeviceSpec],
        endpoint: Endpoint,
        options: LinkOptions,
        stats: RunStats,
        *,
        connections: int,
        clock_now: Callable[[], datetime],
        seed: int = 0,
        backfill: bool = False,
    ) -> None:
        self._backfill = backfill
        count = max(1, min(connections, len(devices) or 1))
        base = f"{endpoint.client_id}-{os.getpid()}"
        self._links = [
            MqttLink(
                dataclasses.replace(endpoint, client_id=f"{base}-{n}"),
                options,
                stats,
                seed=seed,
            )
            for n in range(count)
        ]
        self._specs = {d.device_id: d for d in devices}
        self._route = {d.device_id: self._links[n % count] for n, d in enumerate(devices)}
        self._held: dict[str, StoreAndForward[Publish]] = {}
        self._lock = threading.Lock()
        self._stats = stats
        self._options = options
        self._now = clock_now

    def start(self) -> None:
        for link in self._links:
            link.start()
        for spec in self._specs.values():
            for publish in connect_publishes(spec, self._now(), first=True):
                self._route[spec.device_id].submit(publish)

    def publish(self, publish: Publish) -> None:
        with self._lock:
            outage = self._held.get(publish.device_id)
            if outage is not None:
                self._stats.planned(publish)
                self._stats.was_buffered(publish)
                evicted = outage.push(publish, is_telemetry=publish.label.message_type.endswith("telemetry"))
                if evicted is not None:
                    self._stats.lost(evicted, "dropped")
                return
        self._route[publish.device_id].submit(publish)

    def go_offline(self, device_id: str) -> None:
        spec = self._specs[device_id]
        self._route[device_id].submit(status_publish(spec, "offline", self._now(), reason=None, will=True))
        with self._lock:
            self._held[device_id] = StoreAndForward(self._options.buffer_max)

    def go_online(self, device_id: str) -> None:
        spec = self._specs[device_id]
        link = self._route[device_id]
        with self._lock:
            outage = self._held.pop(device_id, None)
        for publish in connect_publishes(spec, self._now(), first=False):
            link.submit(publish)
        for publish in outage.drain() if outage else ():
            link.submit(publish, counted=True)  # counted when it entered the outage buffer

    def reboot(self, device_id: str) -> None:
        """Bulk devices keep no boot epoch, so the plan never reboots one."""

    def wait_for_room(self, device_id: str, stop: threading.Event) -> None:
        with self._lock:
            if device_id in self._held:
                return
        self._route[device_id].wait_for_room(stop, until_connected=self._backfill)

    def connected(self) -> int:
        ready = {id(link) for link in self._links if link.ready}
        with self._lock:
            return sum(id(self._route[d]) in ready and d not in self._held for d in self._specs)

    def buffered(self) -> int:
        with self._lock:
            held = sum(len(b) for b in self._held.values())
        return held + sum(link.buffered() for link in self._links)

    def close(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for link in self._links:
            link.wait_idle(deadline)
        for spec in self._specs.values():
            self._route[spec.device_id].submit(
                status_publish(spec, "offline", self._now(), reason="shutdown")
            )
        for link in self._links:
            link.close(deadline)
