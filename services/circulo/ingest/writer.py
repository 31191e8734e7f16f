"""Write one batch in one transaction across all tables and decide each message's outcome.

Telemetry and events go through COPY into staging tables, then ``INSERT … ON CONFLICT DO
NOTHING``; a key that already existed is a ``duplicate`` when its stored payload hash is
the same and a ``conflict`` (quarantined) when it differs (for a profiled device the hash
is of the canonical reading, so the same reading on two topics is a duplicate).
Quarantined messages are keyed by SHA-256(topic ‖ payload). Status messages are stored
when they change the device's state. A profile's known non-data message is ``ignored``:
nothing is written but the device's last-seen time. The caller commits; nothing here
acknowledges anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from circulo.ingest import queries
from circulo.ingest.classify import RegisteredDevice, reject
from circulo.ingest.device_state import DeviceState, apply_period, apply_seen, apply_seq, apply_status
from circulo.ingest.gap_store import track_gaps
from circulo.ingest.gaps import GapTally, ReplayPolicy
from circulo.ingest.records import Classified, Ignored, Outcome, Rejected, Valid
from circulo.ingest.tables import TABLES, Row, StoredType, stored_type
from circulo_schemas.payloads import MeterTelemetry, StatusMessage
from circulo_schemas.profiles import CIRCULO, REPORTING_PERIOD_S


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one message, with the quarantine reason when it has one.

    A duplicate carries a reason when it repeats a quarantined message (``conflict`` for a
    conflicting key delivered again): it stays in the quarantine, stored once.
    """

    outcome: Outcome
    reason: str | None = None


STORED = Decision(Outcome.STORED)
DUPLICATE = Decision(Outcome.DUPLICATE)
DEFAULT_REPLAY = ReplayPolicy()
PERIODS = {profile: timedelta(seconds=s) for profile, s in REPORTING_PERIOD_S.items()}


def prepare_connection(conn: psycopg.Connection) -> None:
    """Create the per-connection staging tables (once per connection)."""
    with conn.transaction():
        conn.execute(queries.CREATE_STAGING)


def write_batch(
    conn: psycopg.Connection,
    batch: Sequence[Classified],
    registry: Mapping[str, RegisteredDevice],
    *,
    replay: ReplayPolicy | None = DEFAULT_REPLAY,
    tally: GapTally | None = None,
) -> list[Decision]:
    """Write a batch inside the caller's transaction; one Decision per message, in order.

    ``replay``: keep the seq gap ranges (SPEC §11), adding what changed to ``tally``; None
    counts loss the old way, without gap rows (a bench baseline).
    """
    items: list[Classified] = list(batch)
    states = lock_device_states(conn, {d for i in items if (d := known_device(i, registry))})
    decided: dict[int, Decision] = {}
    for spec, entries in group_by_table(items).items():
        outcome = store_table(conn, spec, entries)
        decided.update(dict.fromkeys(outcome.duplicates, DUPLICATE))
        for index, conflict in outcome.conflicts.items():
            items[index] = conflict  # quarantined below with the other rejections
    decided.update(store_statuses(conn, items, states))
    decided.update(quarantine(conn, items))
    decided.update(ignored(items))
    final = [decided.get(index, STORED) for index in range(len(items))]
    update_device_states(items, final, states, registry, gaps=replay is not None)
    if replay is not None:
        circulo = {d: state for d, state in states.items() if registry[d].profile == CIRCULO}
        found = track_gaps(conn, items, [d.outcome for d in final], circulo, replay)
        if tally is not None:
            tally.add(found)
    write_device_states(conn, states)
    return final


def ignored(items: Sequence[Classified]) -> dict[int, Decision]:
    """A profile's known non-data messages: acknowledged and counted, not written (SPEC §10)."""
    return {
        index: Decision(Outcome.IGNORED, item.what)
        for index, item in enumerate(items)
        if isinstance(item, Ignored)
    }


def known_device(item: Classified, registry: Mapping[str, RegisteredDevice]) -> str | None:
    """The item's device when it is registered (its state is kept), else None."""
    return item.device_id if item.device_id is not None and item.device_id in registry else None


def group_by_table(items: Sequence[Classified]) -> dict[StoredType, list[tuple[int, Valid]]]:
    """The valid data messages of a batch per table, with their positions in the batch."""
    grouped: dict[StoredType, list[tuple[int, Valid]]] = {}
    for index, item in enumerate(items):
        if isinstance(item, Valid) and (spec := stored_type(item)) is not None:
            grouped.setdefault(TABLES[spec.table], []).append((index, item))
    return grouped


@dataclass(frozen=True)
class TableOutcome:
    """What storing one table's messages found besides new rows: duplicates and conflicts."""

    duplicates: frozenset[int]
    conflicts: Mapping[int, Rejected]


def store_table(
    conn: psycopg.Connection, table: StoredType, entries: list[tuple[int, Valid]]
) -> TableOutcome:
    """Stage and insert one table's rows; judge the keys that were already stored.

    A key repeated within the batch is judged against its first occurrence; a key stored
    before (by us or another worker) against the stored payload hash.
    """
    first: dict[tuple[Any, ...], tuple[int, Valid, Row]] = {}
    judged: list[tuple[int, Valid, bytes | None]] = []
    for index, valid in entries:
        row = stored_type_of(valid).row(valid)
        key = table.key_of(row)
        if key in first:
            judged.append((index, valid, first[key][1].payload_sha256))
        else:
            first[key] = (index, valid, row)
    with conn.cursor() as cur:
        with cur.copy(queries.copy_into_stage(table)) as copy:
            for _, _, row in first.values():
                copy.write_row(row)
        new_keys = set(cur.execute(queries.insert_new(table)).fetchall())
        old = [key for key in first if key not in new_keys]
        stored = stored_hashes(cur, table, old)
    judged += [(first[key][0], first[key][1], stored.get(key)) for key in old]
    return judge_existing(table, judged)


def stored_type_of(valid: Valid) -> StoredType:
    """The stored type of a message grouped as data (never a status)."""
    spec = stored_type(valid)
    if spec is None:
        raise TypeError(f"no table for {type(valid.message).__name__}")
    return spec


def stored_hashes(
    cur: psycopg.Cursor[Any], table: StoredType, keys: Sequence[tuple[Any, ...]]
) -> dict[tuple[Any, ...], bytes]:
    """The payload hashes stored under ``keys``."""
    if not keys:
        return {}
    columns = tuple([k[i] for k in keys] for i in range(len(table.key)))
    rows = cur.execute(queries.existing_hashes(table), columns)
    return {tuple(row[:-1]): row[-1] for row in rows.fetchall()}


def judge_existing(table: StoredType, judged: Sequence[tuple[int, Valid, bytes | None]]) -> TableOutcome:
    """A key already stored: the same payload is a duplicate, another payload a conflict."""
    duplicates: set[int] = set()
    conflicts: dict[int, Rejected] = {}
    for index, valid, stored_hash in judged:
        if stored_hash == valid.payload_sha256:
            duplicates.add(index)
        else:
            # a translated reading's hash is of its canonical values: the register differs
            what = "another register value" if valid.raw_payload is not None else "another payload"
            detail = f"{table.key_description} already stored with {what}"
            conflicts[index] = reject(valid.received, valid.address, "conflict", detail)
    return TableOutcome(frozenset(duplicates), conflicts)


def store_statuses(
    conn: psycopg.Connection, items: Sequence[Classified], states: dict[str, DeviceState]
) -> dict[int, Decision]:
    """A status changes the device's state (stored) or repeats it (duplicate), in receipt order."""
    decided: dict[int, Decision] = {}
    changes = []
    for index, item in enumerate(items):
        if not isinstance(item, Valid) or not isinstance(item.message, StatusMessage):
            continue
        message, received = item.message, item.received
        at = message.ts or received.received_at
        if apply_status(states[item.device_id], message.state == "online", at, message.fw):
            decided[index] = STORED
            changes.append(
                (
                    item.device_id,
                    at,
                    received.received_at,
                    message.state,
                    message.seq,
                    message.fw,
                    message.uptime_s,
                    message.reason,
                    item.payload_sha256,
                    item.raw_payload,
                )
            )
        else:
            decided[index] = DUPLICATE
    if changes:
        with conn.cursor() as cur:
            cur.executemany(queries.INSERT_STATUS, changes)
    return decided


def quarantine(conn: psycopg.Connection, items: Sequence[Classified]) -> dict[int, Decision]:
    """Insert rejected messages whose key is new; a key seen before is a duplicate."""
    decided: dict[int, Decision] = {}
    first_by_key: dict[bytes, Rejected] = {}
    positions: dict[bytes, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Rejected):
            continue
        if item.key_sha256 in first_by_key:
            decided[index] = Decision(Outcome.DUPLICATE, item.reason)
        else:
            first_by_key[item.key_sha256], positions[item.key_sha256] = item, index
    if not first_by_key:
        return decided
    with conn.cursor() as cur:
        with cur.copy(queries.COPY_QUARANTINE) as copy:
            for r in first_by_key.values():
                copy.write_row(quarantine_row(r))
        new_keys = {row[0] for row in cur.execute(queries.INSERT_QUARANTINE).fetchall()}
    for key, rejected in first_by_key.items():
        # a quarantined message delivered again is a duplicate; its reason says of what
        outcome = Outcome.QUARANTINED if key in new_keys else Outcome.DUPLICATE
        decided[positions[key]] = Decision(outcome, rejected.reason)
    return decided


def quarantine_row(rejected: Rejected) -> tuple[Any, ...]:
    """The staged quarantine row of a rejection, in COPY_QUARANTINE column order."""
    received = rejected.received
    return (
        received.received_at,
        received.topic,
        received.payload,
        rejected.reason,
        rejected.detail,
        rejected.device_id,
        rejected.key_sha256,
    )


def count_stored(state: DeviceState, item: Valid, profile: str, *, gaps: bool) -> None:
    """Loss statistics: by seq (circulo devices; with ``gaps`` the gap ranges count what is
    missing), by reporting period (profiled meter readings)."""
    message = item.message
    if profile == CIRCULO:
        if message.seq is not None and gaps:
            state.seq_received += 1
        elif message.seq is not None:
            apply_seq(state, message.seq)
    elif isinstance(message, MeterTelemetry):
        apply_period(state, message.ts, PERIODS[profile])


def lock_device_states(conn: psycopg.Connection, device_ids: Iterable[str]) -> dict[str, DeviceState]:
    """Create missing rows, then lock and read the state of every device in the batch."""
    ids = sorted(device_ids)
    if not ids:
        return {}
    conn.execute(queries.ENSURE_DEVICE_STATE, (ids,))
    rows = conn.execute(queries.LOCK_DEVICE_STATE, (ids,)).fetchall()
    return {row[0]: DeviceState.from_row(row) for row in rows}


def update_device_states(
    items: Sequence[Classified],
    decisions: Sequence[Decision],
    states: dict[str, DeviceState],
    registry: Mapping[str, RegisteredDevice],
    *,
    gaps: bool,
) -> None:
    """Apply last-seen, clock skew and received counts (and the old loss count without ``gaps``)."""
    for item, decision in zip(items, decisions, strict=True):
        device_id = known_device(item, registry)
        if device_id is None:
            continue
        state = states[device_id]
        ts: datetime | None = item.message.ts if isinstance(item, Valid) else None
        apply_seen(state, item.channel, item.received.received_at, ts)
        if isinstance(item, Valid) and decision.outcome is Outcome.STORED:
            count_stored(state, item, registry[device_id].profile, gaps=gaps)


def write_device_states(conn: psycopg.Connection, states: dict[str, DeviceState]) -> None:
    """Write the batch's device states back (COPY into staging, one UPDATE)."""
    if not states:
        return
    with conn.cursor() as cur:
        with cur.copy(queries.COPY_DEVICE_STATE) as copy:
            for state in states.values():
                copy.write_row(state.as_row())
        cur.execute(queries.UPDATE_DEVICE_STATE)
