"""The batch's gap bookkeeping in the database: read the pending gaps, apply arrivals, write back.

Runs inside the writer's transaction, after the outcomes are decided and with the batch's
``device_state`` rows locked, so the gaps commit (or roll back) with the messages that
changed them and are acknowledged only after (SPEC §3). A device's frontier lives in its
``device_state`` row (``last_seq``, ``seq_epoch``, ``last_seq_ts``); ``seq_missing`` moves
by what the gaps gained and lost, so it stays the sum of the unrecovered gaps' ``missing``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeGuard

import psycopg

from circulo.ingest import queries
from circulo.ingest.device_state import SEQ_MODULUS, DeviceState
from circulo.ingest.gaps import (
    NO_EPOCH,
    Arrival,
    DeviceGaps,
    Gap,
    GapTally,
    ReplayPolicy,
    Unavailable,
)
from circulo.ingest.records import Classified, Outcome, Rejected, Valid
from circulo_schemas.payloads import ReplayUnavailable, StatusMessage

ARRIVED = (Outcome.STORED, Outcome.DUPLICATE)


def arrival_of(valid: Valid) -> Arrival | None:
    """The seq a valid message proves arrived, in which epoch (None: no seq)."""
    message = valid.message
    seq = message.seq
    if seq is None:
        return None
    epoch: int | None
    if isinstance(message, ReplayUnavailable):
        epoch = None  # its epoch field names the range; it was sent in the current boot
    elif isinstance(message, StatusMessage) and message.epoch is None:
        epoch = None  # a status is outside the replay buffer: it never switches the epoch
    else:
        epoch = NO_EPOCH if message.epoch is None else message.epoch
    return Arrival(epoch, seq, message.ts, valid.received.received_at)


def quarantined_arrival(rejected: Rejected) -> Arrival | None:
    """The seq of a quarantined message, when its payload names one (best effort, SPEC §11).

    A message in the quarantine is accounted for, not lost: asking the device to replay it
    would only bring the same bytes to the same verdict. Its ``epoch`` is read the same way;
    a garbled payload names nothing and leaves its gap to be asked for.
    """
    try:
        document = json.loads(rejected.received.payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    seq, epoch = document.get("seq"), document.get("epoch")
    if not is_counter(seq) or not (epoch is None or is_counter(epoch)):
        return None
    if document.get("type") == "replay_unavailable" or (epoch is None and rejected.channel == "status"):
        epoch = None  # as for a valid one: the current boot's
    elif epoch is None:
        epoch = NO_EPOCH
    return Arrival(epoch, seq, None, rejected.received.received_at)


def is_counter(value: object) -> TypeGuard[int]:
    return type(value) is int and 0 <= value < SEQ_MODULUS


def tracked(
    items: Sequence[Classified], outcomes: Sequence[Outcome], devices: Iterable[str]
) -> list[tuple[int, Arrival]]:
    """The seqs the batch's messages of ``devices`` prove arrived, with their positions: stored
    or duplicate messages, and quarantined ones whose payload names a seq."""
    wanted = set(devices)
    found = []
    for index, (item, outcome) in enumerate(zip(items, outcomes, strict=True)):
        if item.device_id not in wanted:
            continue
        arrival = None
        if isinstance(item, Valid) and outcome in ARRIVED:
            arrival = arrival_of(item)
        elif isinstance(item, Rejected):
            arrival = quarantined_arrival(item)
        if arrival is not None:
            found.append((index, arrival))
    return found


def track_gaps(
    conn: psycopg.Connection,
    items: Sequence[Classified],
    outcomes: Sequence[Outcome],
    states: Mapping[str, DeviceState],
    policy: ReplayPolicy,
) -> GapTally:
    """Apply the batch's seqs to its devices' gaps (``states``: the circulo devices only)."""
    arrivals = tracked(items, outcomes, states)
    tally = GapTally()
    if not arrivals:
        return tally
    devices = sorted({items[i].device_id or "" for i, _ in arrivals})
    loaded = load_pending(conn, needing_gaps(items, arrivals, states))
    trackers = {d: tracker_of(states[d], loaded.get(d, []), policy) for d in devices}
    for index, arrival in arrivals:
        item = items[index]
        tracker = trackers[item.device_id or ""]
        tracker.arrive(arrival)
        if (
            isinstance(item, Valid)
            and isinstance(item.message, ReplayUnavailable)
            and outcomes[index] is Outcome.STORED
        ):
            tracker.unavailable(unavailable_of(item.message, item.received.received_at))
    write_gaps(conn, trackers)
    for device_id, tracker in trackers.items():
        fold_into(states[device_id], tracker)
        tally.add(tracker.tally)
    return tally


def needing_gaps(
    items: Sequence[Classified], arrivals: Sequence[tuple[int, Arrival]], states: Mapping[str, DeviceState]
) -> list[str]:
    """The devices whose pending gaps this batch may touch: all but those whose every arrival is
    the next seq of their current epoch (a gap lies behind the frontier: none can fill, none
    opens), so an in-order stream reads no gap rows."""
    frontier = {d: (s.seq_epoch, s.last_seq) for d, s in states.items()}
    needing: set[str] = set()
    for index, arrival in arrivals:
        device_id = items[index].device_id or ""
        epoch, last = frontier[device_id]
        in_order = (
            last is not None
            and epoch is not None
            and arrival.epoch in (None, epoch)
            and arrival.seq == (last + 1) % SEQ_MODULUS
            and not is_replay_unavailable(items[index])
        )
        if not in_order:
            needing.add(device_id)
        frontier[device_id] = (epoch if arrival.epoch is None else arrival.epoch, arrival.seq)
    return sorted(needing)


def is_replay_unavailable(item: Classified) -> bool:
    return isinstance(item, Valid) and isinstance(item.message, ReplayUnavailable)


def unavailable_of(message: ReplayUnavailable, received_at: datetime) -> Unavailable:
    return Unavailable(message.epoch, message.from_seq, message.to_seq, received_at)


def tracker_of(state: DeviceState, pending: list[Gap], policy: ReplayPolicy) -> DeviceGaps:
    """A device's gap tracker from its state row; a row from before epochs counts as epoch -1."""
    epoch = state.seq_epoch
    if epoch is None and state.last_seq is not None:
        epoch = NO_EPOCH
    return DeviceGaps(
        policy, epoch=epoch, last_seq=state.last_seq, last_ts=state.last_seq_ts, pending=pending
    )


def fold_into(state: DeviceState, tracker: DeviceGaps) -> None:
    """The tracker's frontier and counts, back into the device's state row."""
    state.last_seq, state.seq_epoch, state.last_seq_ts = tracker.last_seq, tracker.epoch, tracker.last_ts
    state.seq_missing = max(0, state.seq_missing + tracker.missing_delta)
    state.seq_resets += tracker.resets


def load_pending(conn: psycopg.Connection, devices: Sequence[str]) -> dict[str, list[Gap]]:
    """The devices' open and requested gaps (the caller holds the devices' state rows)."""
    pending: dict[str, list[Gap]] = {}
    for row in conn.execute(queries.PENDING_GAPS, (list(devices),)).fetchall():
        gap = gap_of(row[1:])
        pending.setdefault(row[0], []).append(gap)
    return pending


def gap_of(row: Sequence[Any]) -> Gap:
    values = dict(zip(queries.GAP_COLUMNS, row, strict=True))
    return Gap(**values, stored_key=(values["epoch"], values["from_seq"]))


def gap_row(device_id: str, gap: Gap) -> tuple[Any, ...]:
    """The INSERT_GAP parameters of a gap."""
    return (device_id, gap.missing, *(getattr(gap, c) for c in queries.GAP_COLUMNS))


def write_gaps(conn: psycopg.Connection, trackers: Mapping[str, DeviceGaps]) -> None:
    """Delete the stored rows that changed, then insert their pieces, new gaps and closed ones."""
    removed = [(d, epoch, start) for d, t in trackers.items() for epoch, start in sorted(t.removed)]
    written = [gap_row(d, gap) for d, t in trackers.items() for gap in t.written()]
    with conn.cursor() as cur:
        if removed:
            cur.execute(queries.DELETE_GAPS, tuple(list(column) for column in zip(*removed, strict=True)))
        if written:
            cur.executemany(queries.INSERT_GAP, written)
