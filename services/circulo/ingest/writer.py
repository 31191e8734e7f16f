"""Write one batch in one transaction across all tables and decide each message's outcome.

Telemetry and events go through COPY into staging tables, then ``INSERT … ON CONFLICT DO
NOTHING``; a key that already existed is a ``duplicate`` when its stored payload hash is
the same and a ``conflict`` (quarantined) when it differs. Quarantined messages are keyed
by SHA-256(topic ‖ payload). Status messages are stored when they change the device's
state. The caller commits; nothing here acknowledges anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from circulo.ingest import queries
from circulo.ingest.classify import RegisteredDevice, device_id_of, reject
from circulo.ingest.device_state import DeviceState, apply_seen, apply_seq, apply_status
from circulo.ingest.records import Classified, Outcome, Rejected, Valid
from circulo.ingest.rows import dedup_key, row_of, table_of
from circulo_schemas.payloads import StatusMessage


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


def prepare_connection(conn: psycopg.Connection) -> None:
    """Create the per-connection staging tables (once per connection)."""
    with conn.transaction():
        conn.execute(queries.CREATE_STAGING)


def write_batch(
    conn: psycopg.Connection, batch: Sequence[Classified], registry: Mapping[str, RegisteredDevice]
) -> list[Decision]:
    """Write a batch inside the caller's transaction; one Decision per message, in order."""
    items: list[Classified] = list(batch)
    decisions: list[Decision | None] = [None] * len(items)
    states = lock_device_states(conn, {d for i in items if (d := known_device(i, registry))})
    for table, indexes in group_by_table(items).items():
        store_table(conn, table, items, indexes, decisions)
    store_statuses(conn, items, decisions, states)
    quarantine(conn, items, decisions)
    final = [d if d is not None else STORED for d in decisions]
    update_device_states(conn, items, final, states, registry)
    return final


def known_device(item: Classified, registry: Mapping[str, RegisteredDevice]) -> str | None:
    return item.device_id if item.device_id is not None and item.device_id in registry else None


def group_by_table(items: Sequence[Classified]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        if isinstance(item, Valid) and (table := table_of(item)) is not None:
            grouped.setdefault(table, []).append(index)
    return grouped


def store_table(
    conn: psycopg.Connection,
    table: str,
    items: list[Classified],
    indexes: list[int],
    decisions: list[Decision | None],
) -> None:
    """Stage and insert one table's rows; mark duplicates and turn conflicts into rejections."""
    first_by_key: dict[tuple[Any, Any], int] = {}
    for index in indexes:
        valid = items[index]
        assert isinstance(valid, Valid)  # noqa: S101 - grouped from Valid items only
        key = dedup_key(valid)
        earlier = first_by_key.setdefault(key, index)
        if earlier != index:  # the same key twice in one batch
            decide_existing(items, decisions, index, items[earlier].payload_sha256)  # type: ignore[union-attr]
    with conn.cursor() as cur:
        with cur.copy(queries.copy_into_stage(table)) as copy:
            for index in first_by_key.values():
                copy.write_row(row_of(items[index]))  # type: ignore[arg-type]
        new_keys = set(cur.execute(queries.insert_new(table)).fetchall())
        old = [key for key in first_by_key if key not in new_keys]
        if old:
            rows = cur.execute(queries.existing_hashes(table), ([k[0] for k in old], [k[1] for k in old]))
            stored_hash = {(a, b): h for a, b, h in rows.fetchall()}
            for key in old:
                decide_existing(items, decisions, first_by_key[key], stored_hash.get(key))


def decide_existing(
    items: list[Classified], decisions: list[Decision | None], index: int, stored_hash: bytes | None
) -> None:
    """A key that was already stored: the same payload is a duplicate, another is a conflict."""
    valid = items[index]
    assert isinstance(valid, Valid)  # noqa: S101
    if stored_hash == valid.payload_sha256:
        decisions[index] = DUPLICATE
        return
    what = "(device_id, event_id)" if valid.channel == "event" else "(device_id, ts)"
    items[index] = reject(valid.received, "conflict", f"{what} already stored with another payload")


def store_statuses(
    conn: psycopg.Connection,
    items: list[Classified],
    decisions: list[Decision | None],
    states: dict[str, DeviceState],
) -> None:
    """A status changes the device's state (stored) or repeats it (duplicate), in receipt order."""
    changes = []
    for index, item in enumerate(items):
        if not isinstance(item, Valid) or not isinstance(item.message, StatusMessage):
            continue
        message, received = item.message, item.received
        at = message.ts or received.received_at
        if apply_status(states[item.device_id], message.state == "online", at, message.fw):
            decisions[index] = STORED
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
                )
            )
        else:
            decisions[index] = DUPLICATE
    if changes:
        with conn.cursor() as cur:
            cur.executemany(queries.INSERT_STATUS, changes)


def quarantine(conn: psycopg.Connection, items: list[Classified], decisions: list[Decision | None]) -> None:
    """Insert rejected messages whose key is new; a key seen before is a duplicate."""
    first_by_key: dict[bytes, int] = {}
    for index, item in enumerate(items):
        if isinstance(item, Rejected) and first_by_key.setdefault(item.key_sha256, index) != index:
            decisions[index] = Decision(Outcome.DUPLICATE, item.reason)
    if not first_by_key:
        return
    with conn.cursor() as cur:
        with cur.copy(queries.COPY_QUARANTINE) as copy:
            for index in first_by_key.values():
                r = items[index]
                assert isinstance(r, Rejected)  # noqa: S101
                copy.write_row(
                    (
                        r.received.received_at,
                        r.received.topic,
                        r.received.payload,
                        r.reason,
                        r.detail,
                        r.device_id,
                        r.key_sha256,
                    )
                )
        new_keys = {row[0] for row in cur.execute(queries.INSERT_QUARANTINE).fetchall()}
    for key, index in first_by_key.items():
        rejected = items[index]
        assert isinstance(rejected, Rejected)  # noqa: S101
        # a quarantined message delivered again is a duplicate; its reason says of what
        outcome = Outcome.QUARANTINED if key in new_keys else Outcome.DUPLICATE
        decisions[index] = Decision(outcome, rejected.reason)


def lock_device_states(conn: psycopg.Connection, device_ids: Iterable[str]) -> dict[str, DeviceState]:
    """Create missing rows, then lock and read the state of every device in the batch."""
    ids = sorted(device_ids)
    if not ids:
        return {}
    conn.execute(queries.ENSURE_DEVICE_STATE, (ids,))
    rows = conn.execute(queries.LOCK_DEVICE_STATE, (ids,)).fetchall()
    return {row[0]: DeviceState.from_row(row) for row in rows}


def update_device_states(
    conn: psycopg.Connection,
    items: list[Classified],
    decisions: list[Decision],
    states: dict[str, DeviceState],
    registry: Mapping[str, RegisteredDevice],
) -> None:
    """Apply last-seen, clock skew and seq statistics in receipt order, then write them back."""
    if not states:
        return
    for item, decision in zip(items, decisions, strict=True):
        device_id = known_device(item, registry)
        if device_id is None:
            continue
        state = states[device_id]
        ts: datetime | None = item.message.ts if isinstance(item, Valid) else None
        apply_seen(state, channel_of(item), item.received.received_at, ts)
        if isinstance(item, Valid) and decision.outcome is Outcome.STORED and item.message.seq is not None:
            apply_seq(state, item.message.seq)
    with conn.cursor() as cur:
        with cur.copy(queries.COPY_DEVICE_STATE) as copy:
            for state in states.values():
                copy.write_row(state.as_row())
        cur.execute(queries.UPDATE_DEVICE_STATE)


def channel_of(item: Classified) -> str:
    if isinstance(item, Valid):
        return item.channel
    parts = item.received.topic.split("/")
    return parts[4] if len(parts) == 5 and device_id_of(item.received.topic) else ""
