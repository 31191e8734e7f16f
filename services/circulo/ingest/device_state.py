"""Per-device state kept by the ingest: online state, last seen per channel, seq statistics (pure).

Message loss of a ``circulo`` device is counted from ``seq`` by its gap ranges
(:mod:`circulo.ingest.gaps`, SPEC §11): ``seq_missing`` moves with what its gaps gain and
lose, ``last_seq`` / ``seq_epoch`` / ``last_seq_ts`` are the gaps' frontier. :func:`apply_seq`
is the count from before replays, kept for an ingest run with ``replay`` off (a benchmark
baseline): a jump forward of n counts n − 1 missing; a message a little behind the last
fills one of those; a large jump backwards is a counter restart (a new baseline, a reset).

A profiled meter (SPEC §10) has no ``seq``: its firmware reports once per reporting period
(``circulo_schemas.profiles.REPORTING_PERIOD_S``), so a gap between consecutive readings'
``ts`` of n periods counts n − 1 missing, and a reading older than the latest fills one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

SEQ_MODULUS = 2**32
# A seq further behind the last one than this is a restart of the counter, not a late
# message (with replay off; with it on, only for firmware without epochs: a long replay
# of an epoch is no reset).
REORDER_WINDOW = 256


@dataclass
class DeviceState:
    """One device_state row while a batch is applied (mutable on purpose, batch-local)."""

    device_id: str
    online: bool | None = None
    state_changed_at: datetime | None = None
    last_seen_at: datetime | None = None
    last_telemetry_at: datetime | None = None
    last_event_at: datetime | None = None
    last_status_at: datetime | None = None
    fw: str | None = None
    last_seq: int | None = None
    seq_received: int = 0
    seq_missing: int = 0
    seq_resets: int = 0
    last_clock_skew_ms: int | None = None
    last_reading_ts: datetime | None = None
    seq_epoch: int | None = None  # the boot epoch of last_seq (-1: firmware without epochs)
    last_seq_ts: datetime | None = None  # payload time of the message with last_seq

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> DeviceState:
        return cls(*row)

    def as_row(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


def apply_seq(state: DeviceState, seq: int) -> None:
    """Count a newly stored message's seq into the loss statistics."""
    state.seq_received += 1
    if state.last_seq is None:
        state.last_seq = seq
        return
    ahead = (seq - state.last_seq) % SEQ_MODULUS
    behind = (state.last_seq - seq) % SEQ_MODULUS
    if ahead == 0:
        return
    if ahead < SEQ_MODULUS // 2:
        state.seq_missing += ahead - 1
        state.last_seq = seq
    elif behind <= REORDER_WINDOW:
        state.seq_missing = max(0, state.seq_missing - 1)  # a late message fills a counted gap
    else:
        state.seq_resets += 1  # the counter restarted (firmware reset): a new baseline
        state.last_seq = seq


def apply_period(state: DeviceState, ts: datetime, period: timedelta) -> None:
    """Count a profiled meter's newly stored reading into the loss statistics (no seq)."""
    state.seq_received += 1
    last = state.last_reading_ts
    if last is None or ts > last:
        if last is not None:
            periods = (ts - last + period / 2) // period
            state.seq_missing += max(0, periods - 1)
        state.last_reading_ts = ts
    elif ts < last:
        state.seq_missing = max(0, state.seq_missing - 1)  # a late reading fills a counted gap


def later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def apply_seen(state: DeviceState, channel: str, received_at: datetime, ts: datetime | None) -> None:
    """Record that a message of ``channel`` arrived (valid or not)."""
    state.last_seen_at = later(state.last_seen_at, received_at)
    if channel == "telemetry":
        state.last_telemetry_at = later(state.last_telemetry_at, received_at)
    elif channel == "event":
        state.last_event_at = later(state.last_event_at, received_at)
    elif channel == "status":
        state.last_status_at = later(state.last_status_at, received_at)
    if ts is not None:
        state.last_clock_skew_ms = int((ts - received_at).total_seconds() * 1000)


def apply_status(state: DeviceState, online: bool, at: datetime, fw: str | None) -> bool:
    """Apply a status message; True when it changes the device's state (then it is stored)."""
    if fw:
        state.fw = fw
    if state.online is online:
        return False
    state.online = online
    state.state_changed_at = at
    return True
