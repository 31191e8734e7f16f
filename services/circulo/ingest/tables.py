"""How each stored message type lands in its table: one declarative entry per type (pure).

A :class:`StoredType` names the table, the dedup key (SPEC §2) and the table's columns in
COPY order, each with the getter that reads it from a valid message. The writer's COPY,
its insert with ``ON CONFLICT`` on the key, and its duplicate/conflict check all read
these entries, so adding a message type or a field touches one place. Two types may share
a table (deposits and collections are both ``bin_event``): they must then name the same
columns in the same order, which :func:`check_tables` asserts at import.

Status messages are not here: a status is stored when it changes the device's state
(:mod:`circulo.ingest.writer`), not by key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from circulo.ingest.records import Valid
from circulo_schemas.payloads import (
    BinTelemetry,
    CollectionEvent,
    DepositEvent,
    MeterTelemetry,
    RepairEvent,
    ReplayUnavailable,
)

Row = tuple[Any, ...]
Getter = Callable[[Valid], Any]
Column = tuple[str, Getter]


def of_message(name: str, attribute: str | None = None) -> Column:
    """A column read from the message's field (or property) ``attribute`` (default: ``name``)."""
    attr = attribute or name
    return name, lambda valid: getattr(valid.message, attr)


def as_number(name: str) -> Column:
    """An informational reading (never an amount), stored as double precision."""

    def read(valid: Valid) -> float | None:
        value = getattr(valid.message, name)
        return None if value is None else float(value)

    return name, read


def constant(name: str, value: Any) -> Column:
    """A column with the same value for every message of the type."""
    return name, lambda _valid: value


DEVICE_ID: Column = ("device_id", lambda valid: valid.device_id)
RECEIVED_AT: Column = ("received_at", lambda valid: valid.received.received_at)
PAYLOAD_SHA256: Column = ("payload_sha256", lambda valid: valid.payload_sha256)
# the firmware's bytes of a translated reading (SPEC §10); None for a circulo device
RAW_PAYLOAD: Column = ("raw_payload", lambda valid: valid.raw_payload)


@dataclass(frozen=True)
class StoredType:
    """One message type's table, dedup key and columns (with their getters), in COPY order."""

    table: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    key_sql_types: tuple[str, ...] = ("text", "text")
    _getters: tuple[Getter, ...] = field(init=False, repr=False, compare=False)
    _key_index: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = self.column_names
        missing = [k for k in self.key if k not in names]
        if missing:
            raise ValueError(f"{self.table}: key column {missing[0]} is not a column")
        if len(self.key_sql_types) != len(self.key):
            raise ValueError(f"{self.table}: one SQL type per key column")
        object.__setattr__(self, "_getters", tuple(getter for _, getter in self.columns))
        object.__setattr__(self, "_key_index", tuple(names.index(k) for k in self.key))

    @property
    def column_names(self) -> tuple[str, ...]:
        """The table's columns in COPY order."""
        return tuple(name for name, _ in self.columns)

    def row(self, valid: Valid) -> Row:
        """The message's row, in COPY order."""
        return tuple(getter(valid) for getter in self._getters)

    def key_of(self, row: Row) -> tuple[Any, ...]:
        """The dedup key of a row of this type."""
        return tuple(row[i] for i in self._key_index)

    @property
    def key_description(self) -> str:
        """The key as the conflict detail names it: ``(device_id, ts)``."""
        return f"({', '.join(self.key)})"


def telemetry(table: str, *columns: Column) -> StoredType:
    """A telemetry table keyed ``(device_id, ts)`` (SPEC §2); the payload hash comes last."""
    return StoredType(
        table=table,
        key=("device_id", "ts"),
        key_sql_types=("text", "timestamptz"),
        columns=(DEVICE_ID, of_message("ts"), RECEIVED_AT, of_message("seq"), *columns, PAYLOAD_SHA256),
    )


def event(table: str, *columns: Column) -> StoredType:
    """An event table keyed ``(device_id, event_id)`` (a real unique constraint, SPEC §2)."""
    return StoredType(
        table=table,
        key=("device_id", "event_id"),
        columns=(DEVICE_ID, of_message("event_id"), *columns, PAYLOAD_SHA256),
    )


def replay_unavailable() -> StoredType:
    """A device's answer that it no longer holds a range (SPEC §11), stored once per
    (device, request, epoch, range start); the writer then marks that range lost for good."""
    return StoredType(
        table="replay_unavailable",
        key=("device_id", "request_id", "epoch", "from_seq"),
        key_sql_types=("text", "text", "bigint", "bigint"),
        columns=(
            DEVICE_ID,
            of_message("request_id", "id"),
            of_message("epoch"),
            of_message("from_seq"),
            of_message("to_seq"),
            of_message("ts"),
            RECEIVED_AT,
            of_message("seq"),
            PAYLOAD_SHA256,
        ),
    )


STORED_TYPES: Mapping[type, StoredType] = {
    MeterTelemetry: telemetry(
        "meter_reading",
        of_message("energy_wh"),
        as_number("power_w"),
        as_number("voltage_v"),
        as_number("frequency_hz"),
        as_number("temp_c"),
        RAW_PAYLOAD,
    ),
    BinTelemetry: telemetry(
        "bin_reading",
        as_number("fill_pct"),
        of_message("weight_g"),
        as_number("temp_c"),
        as_number("battery_pct"),
        as_number("rssi_dbm"),
    ),
    DepositEvent: event(
        "bin_event",
        constant("type", "deposit"),
        of_message("ts"),
        RECEIVED_AT,
        of_message("seq"),
        of_message("material"),
        of_message("weight_g"),
        of_message("account"),
        of_message("items"),
        of_message("contaminated"),
        constant("collector", None),
    ),
    CollectionEvent: event(
        "bin_event",
        constant("type", "collection"),
        of_message("ts"),
        RECEIVED_AT,
        of_message("seq"),
        constant("material", None),
        of_message("weight_g"),
        constant("account", None),
        constant("items", None),
        constant("contaminated", False),
        of_message("collector"),
    ),
    RepairEvent: event(
        "repair_event",
        of_message("ts"),
        RECEIVED_AT,
        of_message("seq"),
        of_message("category"),
        of_message("status"),
        of_message("weight_g"),
        of_message("owner"),
        of_message("repairer"),
        of_message("age_years"),
        of_message("problem"),
        of_message("brand"),
        of_message("year_of_manufacture"),
        of_message("barrier"),
    ),
    ReplayUnavailable: replay_unavailable(),
}


def stored_type(valid: Valid) -> StoredType | None:
    """The stored type of a valid message (None for status messages)."""
    return STORED_TYPES.get(type(valid.message))


def check_tables(types: Mapping[type, StoredType]) -> dict[str, StoredType]:
    """One entry per table; types sharing a table must agree on its columns and key."""
    tables: dict[str, StoredType] = {}
    for message_type, spec in types.items():
        first = tables.setdefault(spec.table, spec)
        if (first.column_names, first.key) != (spec.column_names, spec.key):
            raise ValueError(f"{message_type.__name__}: columns of {spec.table} differ from another type's")
    return tables


TABLES: Mapping[str, StoredType] = check_tables(STORED_TYPES)
