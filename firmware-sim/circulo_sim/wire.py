"""Records to MQTT messages: topics, payload fields, and the bytes a device publishes.

Payloads follow SPEC §2 to the letter: compact JSON, ``v``/``ts``/``seq`` first, numbers
written as exact decimals (weights with at most 3 decimals), RFC 3339 UTC timestamps with
milliseconds, absent optional fields left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from circulo_schemas.encode import encode_value, format_timestamp
from circulo_schemas.topics import device_topic
from circulo_sim.physics.records import BinReading, Collection, Deposit, MeterReading, Record, Repair

SEQ_MODULUS = 2**32
FIRMWARE_VERSION = "circulo-sim/1.0"
# a profiled meter's firmware messages (SPEC §10): its reading, the same reading on a
# second topic (a Shelly's NotifyStatus), its non-data messages, its commands (refused)
FIRMWARE_TYPES = ("firmware_telemetry", "firmware_copy_telemetry", "firmware_info", "firmware_command")
MESSAGE_TYPES = (
    "meter_telemetry", "bin_telemetry", "deposit", "collection", "repair", "status", *FIRMWARE_TYPES,
)  # fmt: skip


class WireMessage(Protocol):
    """A data message of any firmware: what the delivery faults need of it."""

    @property
    def device_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def message_type(self) -> str: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def topic(self) -> str: ...

    def topic_for(self, device_id: str, kind: str | None = None) -> str: ...

    def payload(self, *, ts: datetime | None = None) -> bytes: ...


@dataclass(frozen=True, slots=True, eq=False)
class Message:
    """One data message of a device, before delivery (faults may still alter how it is sent)."""

    device_id: str
    kind: str
    channel: str
    message_type: str
    ts: datetime
    seq: int
    fields: dict[str, Any]
    epoch: int | None = None  # the boot epoch (SPEC §11), on devices that keep a replay buffer

    @property
    def topic(self) -> str:
        return device_topic(self.kind, self.device_id, self.channel)

    def topic_for(self, device_id: str, kind: str | None = None) -> str:
        """This message's topic under another device's name (an impersonation)."""
        return device_topic(kind or self.kind, device_id, self.channel)

    def document(self, *, ts: datetime | None = None) -> dict[str, Any]:
        """The payload as a dict (``ts`` overrides the timestamp, for clock faults)."""
        stamp = format_timestamp(ts or self.ts)
        return {"v": 1, "ts": stamp, "seq": self.seq, "epoch": self.epoch, **self.fields}

    def payload(self, *, ts: datetime | None = None) -> bytes:
        return encode_document(self.document(ts=ts))


def encode_document(document: dict[str, Any]) -> bytes:
    """Compact JSON with exact decimals; None values are left out."""
    members = (f"{json.dumps(k)}:{encode_value(v)}" for k, v in document.items() if v is not None)
    return ("{" + ",".join(members) + "}").encode("utf-8")


def decimal(value: float) -> Decimal:
    """A rounded float as the exact decimal it prints as."""
    return Decimal(repr(value))


def kilograms(grams: int) -> Decimal:
    """Integer grams as kilograms with exactly three decimals."""
    return Decimal(grams).scaleb(-3)


def message_of(device_id: str, kind: str, record: Record, seq: int, epoch: int | None = None) -> Message:
    """The message a device publishes for ``record`` as its ``seq``-th message (of boot ``epoch``)."""
    channel, message_type, fields = _fields(record)
    return Message(device_id, kind, channel, message_type, record.ts, seq % SEQ_MODULUS, fields, epoch)


def _fields(record: Record) -> tuple[str, str, dict[str, Any]]:
    if isinstance(record, MeterReading):
        return (
            "telemetry",
            "meter_telemetry",
            {
                "energy_wh": record.energy_wh,
                "power_w": decimal(record.power_w),
                "voltage_v": decimal(record.voltage_v),
                "frequency_hz": decimal(record.frequency_hz),
                "temp_c": decimal(record.temp_c),
            },
        )
    if isinstance(record, BinReading):
        return (
            "telemetry",
            "bin_telemetry",
            {
                "fill_pct": decimal(record.fill_pct),
                "weight_kg": kilograms(record.weight_g),
                "temp_c": decimal(record.temp_c),
                "battery_pct": decimal(record.battery_pct),
                "rssi_dbm": record.rssi_dbm,
            },
        )
    if isinstance(record, Deposit):
        return (
            "event",
            "deposit",
            {
                "type": "deposit",
                "event_id": record.event_id,
                "material": record.material,
                "weight_g": record.weight_g,
                "account": record.account,
                "items": record.items,
                "contaminated": True if record.contaminated else None,
            },
        )
    if isinstance(record, Collection):
        return (
            "event",
            "collection",
            {
                "type": "collection",
                "event_id": record.event_id,
                "weight_kg": kilograms(record.weight_g),
                "collector": record.collector,
            },
        )
    return "event", "repair", _repair_fields(record)


def _repair_fields(record: Repair) -> dict[str, Any]:
    return {
        "type": "repair",
        "event_id": record.event_id,
        "category": record.category,
        "status": record.status,
        "weight_kg": kilograms(record.weight_g),
        "owner": record.owner,
        "repairer": record.repairer,
        "age_years": decimal(record.age_years),
        "problem": record.problem,
        "brand": record.brand,
        "year_of_manufacture": record.year_of_manufacture,
        "barrier": record.barrier,
    }


def status_payload(state: str, *, reason: str | None = None, epoch: int | None = None) -> bytes:
    """A retained status message (``online`` on connect, ``offline`` on shutdown), with the boot epoch."""
    return encode_document({"v": 1, "state": state, "epoch": epoch, "fw": FIRMWARE_VERSION, "reason": reason})


OFFLINE_WILL = encode_document({"v": 1, "state": "offline"})
