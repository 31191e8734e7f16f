"""Row tuples for each table, in the COPY column order of :mod:`circulo.ingest.queries` (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from circulo.ingest.records import Valid
from circulo_schemas.payloads import (
    BinTelemetry,
    CollectionEvent,
    DepositEvent,
    MeterTelemetry,
    RepairEvent,
)

Row = tuple[Any, ...]


def table_of(valid: Valid) -> str | None:
    """The data table a valid message goes to (None for status messages)."""
    message = valid.message
    if isinstance(message, MeterTelemetry):
        return "meter_reading"
    if isinstance(message, BinTelemetry):
        return "bin_reading"
    if isinstance(message, DepositEvent | CollectionEvent):
        return "bin_event"
    if isinstance(message, RepairEvent):
        return "repair_event"
    return None


def dedup_key(valid: Valid) -> tuple[str, datetime | str]:
    """(device_id, ts) for telemetry, (device_id, event_id) for events (SPEC §2)."""
    message = valid.message
    if isinstance(message, DepositEvent | CollectionEvent | RepairEvent):
        return (valid.device_id, message.event_id)
    assert message.ts is not None  # noqa: S101 - telemetry always has ts (schema)
    return (valid.device_id, message.ts)


def number(value: Any) -> float | None:
    """Informational readings (not amounts) are stored as double precision."""
    return None if value is None else float(value)


def row_of(valid: Valid) -> Row:
    """The row for the message's table, in COPY column order."""
    m, r = valid.message, valid.received
    if isinstance(m, MeterTelemetry):
        return (
            valid.device_id,
            m.ts,
            r.received_at,
            m.seq,
            m.energy_wh,
            number(m.power_w),
            number(m.voltage_v),
            number(m.frequency_hz),
            number(m.temp_c),
            valid.payload_sha256,
        )
    if isinstance(m, BinTelemetry):
        return (
            valid.device_id,
            m.ts,
            r.received_at,
            m.seq,
            number(m.fill_pct),
            m.weight_g,
            number(m.temp_c),
            number(m.battery_pct),
            number(m.rssi_dbm),
            valid.payload_sha256,
        )
    if isinstance(m, DepositEvent):
        return (
            valid.device_id,
            m.event_id,
            "deposit",
            m.ts,
            r.received_at,
            m.seq,
            m.material,
            m.weight_g,
            m.account,
            m.items,
            m.contaminated,
            None,
            valid.payload_sha256,
        )
    if isinstance(m, CollectionEvent):
        return (
            valid.device_id,
            m.event_id,
            "collection",
            m.ts,
            r.received_at,
            m.seq,
            None,
            m.weight_g,
            None,
            None,
            False,
            m.collector,
            valid.payload_sha256,
        )
    if isinstance(m, RepairEvent):
        return (
            valid.device_id,
            m.event_id,
            m.ts,
            r.received_at,
            m.seq,
            m.category,
            m.status,
            m.weight_g,
            m.owner,
            m.repairer,
            m.age_years,
            m.problem,
            valid.payload_sha256,
        )
    raise TypeError(f"no table for {type(m).__name__}")
