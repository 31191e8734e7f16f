"""The plan of a run: what each device sends when, with faults applied (pure).

A device's plan is an iterator of actions in simulated-time order: publish a message,
go offline (an outage), come back online. The fleet's plan merges the devices' plans by
time. Every publish carries a :class:`Label` saying what it is, which fault it carries
and what the ingest must do with it, so a run can be reconciled message by message.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from circulo_sim.boot import DeviceCounter
from circulo_sim.faults import (
    CLOCK_AHEAD,
    DELIVERY_FAULTS,
    EXPECTED_OUTCOME,
    METER_FAULTS,
    OUT_OF_ORDER_DEPTH,
    FaultRates,
    clock_behind_by,
    draw_fault,
    malformed,
    offline_period,
)
from circulo_sim.firmware import meter_firmware
from circulo_sim.firmware.common import COPY, INFO, STATUS, Companion
from circulo_sim.fleet import DeviceSpec, Fleet
from circulo_sim.physics.bins import bin_records, bin_site
from circulo_sim.physics.records import MeterReading, Record
from circulo_sim.physics.repairs import repair_records, repair_site
from circulo_sim.physics.solar import MeterPhysics, meter_site
from circulo_sim.seeding import stream
from circulo_sim.wire import Message, WireMessage, message_of


@dataclass(frozen=True, slots=True)
class Label:
    """What a published message is: its type, its fault, the outcome the contract demands."""

    message_type: str
    fault: str | None
    expected: str  # stored | duplicate | quarantined:<reason> | refused | status | ignored


@dataclass(frozen=True, slots=True)
class Publish:
    at: datetime
    device_id: str
    topic: str
    payload: bytes
    label: Label
    retain: bool = False
    # a circulo device's data message: its boot epoch and seq, for its replay ring (SPEC §11)
    epoch: int | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class GoOffline:
    at: datetime
    device_id: str
    until: datetime


@dataclass(frozen=True, slots=True)
class GoOnline:
    at: datetime
    device_id: str


@dataclass(frozen=True, slots=True)
class Reboot:
    """The device restarts: its connection drops (the will), it comes back in ``epoch``, seq anew."""

    at: datetime
    device_id: str
    epoch: int


Action = Publish | GoOffline | GoOnline | Reboot


class SimDevice(Protocol):
    """A device's physics: its records for a window."""

    @property
    def spec(self) -> DeviceSpec: ...

    def records(self, start: datetime, end: datetime | None) -> Iterator[Record]: ...


@dataclass(frozen=True)
class MeterDevice:
    spec: DeviceSpec
    physics: MeterPhysics

    def records(self, start: datetime, end: datetime | None) -> Iterator[Record]:
        return self.physics.readings(start, end)


@dataclass(frozen=True)
class BinDevice:
    spec: DeviceSpec
    seed: int
    members: tuple[str, ...]

    def records(self, start: datetime, end: datetime | None) -> Iterator[Record]:
        s = self.spec
        site = bin_site(
            s.device_id,
            _req(s.lat),
            _req(s.lon),
            capacity_kg=s.capacity_kg,
            members=self.members,
            seed=self.seed,
        )
        return bin_records(site, self.seed, start, end)


@dataclass(frozen=True)
class RepairDevice:
    spec: DeviceSpec
    seed: int
    members: tuple[str, ...]

    def records(self, start: datetime, end: datetime | None) -> Iterator[Record]:
        site = repair_site(self.spec.device_id, _req(self.spec.lon), self.members, self.seed)
        return repair_records(site, self.seed, start, end)


def _req(value: float | None) -> float:
    if value is None:
        raise ValueError("device has no location (call fleet.locate first)")
    return value


def build_device(spec: DeviceSpec, members: tuple[str, ...], seed: int) -> SimDevice:
    """The physics of one located device."""
    if spec.kind == "meter":
        rated = spec.rated_power_w or 1
        return MeterDevice(
            spec, MeterPhysics(meter_site(spec.device_id, _req(spec.lat), _req(spec.lon), rated, seed), seed)
        )
    if spec.kind == "bin":
        return BinDevice(spec, seed, members)
    return RepairDevice(spec, seed, members)


# --- one device ----------------------------------------------------------------------------
def meter_faulted(
    readings: Iterable[MeterReading],
    *,
    rated_power_w: int,
    rates: FaultRates,
    seed: int,
    device_id: str,
    start: datetime,
) -> Iterator[tuple[MeterReading, str | None]]:
    """Apply register faults: a replaced meter restarts from 0, an implausible jump adds energy it
    cannot have made, a glitch misreads the register as 0 for one reading (SPEC §10)."""
    rng = stream(seed, "meter-faults", device_id, start)
    offset = 0  # what the current register adds to the true lifetime energy (negative after a reset)
    for true_reading in readings:
        fault = draw_fault(rng, rates, METER_FAULTS)
        if fault == "counter_reset":
            offset = -true_reading.energy_wh
        elif fault == "implausible":
            offset += rated_power_w  # an hour at full power within a minute
        elif fault == "glitch":
            yield dataclasses.replace(true_reading, energy_wh=0, energy_mwh=0, power_w=0.0), fault
            continue
        if not (offset or fault):
            yield true_reading, None
            continue
        power = true_reading.power_w * 3 + rated_power_w if fault == "implausible" else true_reading.power_w
        yield (
            dataclasses.replace(
                true_reading, energy_wh=max(0, true_reading.energy_wh + offset), power_w=round(power, 1)
            ),
            fault,
        )


Outgoing = tuple[WireMessage, tuple[Companion, ...], str | None]


def device_messages(
    device: SimDevice,
    start: datetime,
    end: datetime | None,
    rates: FaultRates,
    seed: int,
    *,
    counter: DeviceCounter | None = None,
) -> Iterator[Outgoing]:
    """The device's data messages (each run is a boot) with any register fault.

    Seqs come from ``counter`` (from 0 when there is none), which also gives a native
    device's messages their boot epoch. A profiled meter's reading is its firmware's primary
    message and its companions (the same reading on another topic, non-data messages,
    statuses); a native one has none.
    """
    counter = counter or DeviceCounter()
    spec = device.spec
    records: Iterable[tuple[Record, str | None]] = ((r, None) for r in device.records(start, end))
    if spec.kind == "meter" and (rates.counter_reset or rates.implausible or rates.glitch):
        readings = (r for r, _ in records if isinstance(r, MeterReading))
        records = meter_faulted(
            readings,
            rated_power_w=spec.rated_power_w or 1,
            rates=rates,
            seed=seed,
            device_id=spec.device_id,
            start=start,
        )
    firmware = meter_firmware(spec.profile, spec.device_id) if spec.kind == "meter" else None
    for record, fault in records:
        seq = counter.take()
        if firmware is not None and isinstance(record, MeterReading):
            primary, companions = firmware.reading(record, seq)
            yield primary, companions, fault
        else:
            yield message_of(spec.device_id, spec.kind, record, seq, counter.epoch), (), fault


# What a copy of the reading is at ingest, given the primary's fault: a duplicate of the
# stored primary, or itself the stored one when the primary is quarantined, stamped at
# another time, or held back (delivered out of order, after the copy).
COPY_STORED_WHEN = frozenset({"malformed", "clock_ahead", "clock_behind", "out_of_order"})
ROLE_EXPECTED = {INFO: "ignored", STATUS: "status"}


@dataclass
class _Held:
    remaining: int
    publish: Publish


class _Delivery:
    """Turns one device's messages into actions, applying delivery faults (stateful, pure)."""

    def __init__(
        self,
        device_id: str,
        rates: FaultRates,
        seed: int,
        start: datetime,
        peers: Sequence[str],
        *,
        counter: DeviceCounter | None = None,
    ) -> None:
        self.device_id = device_id
        self.counter = counter
        self.rates = rates
        self.rng = stream(seed, "delivery-faults", device_id, start)
        self.peers = peers
        self.offline_until: datetime | None = None
        self.held: list[_Held] = []
        self.last_at: datetime | None = None

    def actions(
        self, message: WireMessage, content_fault: str | None, companions: tuple[Companion, ...] = ()
    ) -> Iterator[Action]:
        if self.offline_until is not None and message.ts >= self.offline_until:
            yield GoOnline(self.offline_until, self.device_id)
            self.offline_until = None
        fault = content_fault or draw_fault(self.rng, self.rates, DELIVERY_FAULTS)
        if fault == "offline" and self.offline_until is not None:
            fault = None  # already offline
        if fault == "reboot" and (self.offline_until is not None or not self._reboots()):
            fault = None  # no boot epoch to move on (bulk mode, a profiled meter), or offline
        yield from self._fault_actions(message, fault, companions)

    def _fault_actions(
        self, message: WireMessage, fault: str | None, companions: tuple[Companion, ...] = ()
    ) -> Iterator[Action]:
        label = Label(message.message_type, fault, EXPECTED_OUTCOME.get(fault, "stored"))
        native = message if isinstance(message, Message) and message.epoch is not None else None
        publish = Publish(
            message.ts, self.device_id, message.topic, message.payload(), label,
            epoch=native.epoch if native else None, seq=native.seq if native else None,
        )  # fmt: skip
        if fault == "offline":
            self.offline_until = message.ts + offline_period(self.rng, self.rates)
            yield GoOffline(message.ts, self.device_id, self.offline_until)
        elif fault == "clock_ahead":
            publish = _with(publish, payload=message.payload(ts=message.ts + CLOCK_AHEAD))
        elif fault == "clock_behind":
            publish = _with(publish, payload=message.payload(ts=message.ts - clock_behind_by(self.rng)))
        elif fault == "malformed":
            payload, reason = malformed(message, self.rng)
            publish = _with(publish, payload=payload, expected=f"quarantined:{reason}")
        elif fault == "out_of_order":
            depth = int(self.rng.integers(OUT_OF_ORDER_DEPTH[0], OUT_OF_ORDER_DEPTH[1] + 1))
            held = (
                _with(publish, expected="duplicate") if any(c.role == COPY for c in companions) else publish
            )
            self.held.append(_Held(depth, held))
            yield from self._companions(message.ts, fault, companions)
            return
        yield from self._send(publish)
        if fault == "reboot" and self.counter is not None:
            # numbered now, before the next message is drawn: it belongs to the new boot
            yield Reboot(message.ts, self.device_id, self.counter.reboot())
        if fault == "duplicate":
            yield from self._send(_with(publish, expected="duplicate"))
        elif fault == "impersonate":
            yield from self._send(self._impersonation(message, publish))
        yield from self._companions(message.ts, fault, companions)

    def _reboots(self) -> bool:
        return self.counter is not None and self.counter.epoch is not None

    def _companions(
        self, at: datetime, fault: str | None, companions: tuple[Companion, ...]
    ) -> Iterator[Action]:
        """A profiled reading's other messages, sent as they are right after it."""
        for companion in companions:
            message = companion.message
            if companion.role == COPY:
                expected = "stored" if fault in COPY_STORED_WHEN else "duplicate"
            else:
                expected = ROLE_EXPECTED[companion.role]
            label = Label(message.message_type, None, expected)
            yield from self._send(Publish(at, self.device_id, message.topic, message.payload(), label))

    def _impersonation(self, message: WireMessage, publish: Publish) -> Publish:
        others = [p for p in self.peers if p != f"{message.kind}/{self.device_id}"]
        same_kind = [p for p in others if p.startswith(message.kind + "/")] or others
        if same_kind:
            kind, victim = same_kind[int(self.rng.integers(len(same_kind)))].split("/", 1)
        else:
            kind, victim = message.kind, (self.device_id + "x")[:64]
        return _with(publish, topic=message.topic_for(victim, kind), expected="refused")

    def _send(self, publish: Publish) -> Iterator[Action]:
        """Send now, then release held (out-of-order) messages whose turn has come."""
        yield publish
        self.last_at = publish.at
        for held in list(self.held):
            held.remaining -= 1
            if held.remaining <= 0:
                self.held.remove(held)
                yield _with(held.publish, at=publish.at)

    def finish(self) -> Iterator[Action]:
        """At the end of the window: release what is held, come back online."""
        at = self.last_at
        for held in self.held:
            yield _with(held.publish, at=at or held.publish.at)
        self.held.clear()
        if self.offline_until is not None:  # the outage outlasts the window: reconnect to flush
            yield GoOnline(at or self.offline_until, self.device_id)
            self.offline_until = None


def _with(publish: Publish, **changes: object) -> Publish:
    expected = changes.pop("expected", None)
    label = (
        publish.label
        if expected is None
        else Label(publish.label.message_type, publish.label.fault, str(expected))
    )
    values = {
        "at": publish.at, "device_id": publish.device_id, "topic": publish.topic,
        "payload": publish.payload, "label": label, "retain": publish.retain,
        "epoch": publish.epoch, "seq": publish.seq,
    }  # fmt: skip
    values.update(changes)
    return Publish(**values)  # type: ignore[arg-type]


def device_actions(
    device: SimDevice,
    start: datetime,
    end: datetime | None,
    *,
    seed: int,
    rates: FaultRates,
    peers: Sequence[str] = (),
    counter: DeviceCounter | None = None,
) -> Iterator[Action]:
    """Everything one device does in [start, end), in simulated-time order."""
    delivery = _Delivery(device.spec.device_id, rates, seed, start, peers, counter=counter)
    for message, companions, content_fault in device_messages(
        device, start, end, rates, seed, counter=counter
    ):
        yield from delivery.actions(message, content_fault, companions)
    yield from delivery.finish()


def fleet_actions(
    fleet: Fleet,
    start: datetime,
    end: datetime | None,
    *,
    seed: int,
    rates: FaultRates,
    counters: Mapping[str, DeviceCounter] | None = None,
) -> Iterator[Action]:
    """Every device's actions merged by simulated time (ties: fleet order, then device order).

    ``counters``: the seq registers (and boot epochs) of devices that keep a replay buffer.
    """
    peers = [f"{d.kind}/{d.device_id}" for d in fleet.devices]
    counters = counters or {}
    plans = [
        device_actions(
            build_device(d, fleet.members, seed),
            start,
            end,
            seed=seed,
            rates=rates,
            peers=peers,
            counter=counters.get(d.device_id),
        )
        for d in fleet.devices
    ]
    return heapq.merge(*plans, key=lambda action: action.at)
