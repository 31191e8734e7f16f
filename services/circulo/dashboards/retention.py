"""Retention: drop raw chunks older than the operator's horizon, never data still needed.

``drop_chunks`` removes whole chunks of a hypertable older than a cutoff. The cutoff for
each table is the operator's (``now - older_than``) lowered to what is still needed:

- ``meter_reading``: the oldest reading a settlement has not consumed (the first reading
  after each meter's progress mark, or a never-settled meter's first reading). Settled
  readings may go: the ledger's sources carry their values (SPEC §5) and a meter's
  baseline is in its progress mark.
- ``meter_reading`` and ``bin_reading``: the oldest reading received after the rollups'
  watermark (not yet in the rollups).
- ``device_status``: only the horizon (dashboards show status history in range).

The quarantine is kept (replay needs its raw bytes; it is sparse). The horizon cannot be
shorter than the ingest's ``too_old`` limit plus a day, so a late reading always finds
the reading before it when the rollups recompute its hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from circulo.dashboards.macros import MacroError, parse_interval
from circulo.errors import ConfigError
from circulo.logs import get_logger

MIN_HORIZON = timedelta(days=31)
RETAINED = ("meter_reading", "bin_reading", "device_status")

log = get_logger("dashboards.retention")

OLDEST_UNSETTLED_READING = """
SELECT min(first_unsettled.ts)
FROM device d
LEFT JOIN reward_meter_progress p USING (device_id)
CROSS JOIN LATERAL (
    SELECT r.ts FROM meter_reading r
    WHERE r.device_id = d.device_id AND r.ts > COALESCE(p.last_ts, '-infinity'::timestamptz)
    ORDER BY r.ts LIMIT 1
) first_unsettled
WHERE d.kind = 'meter'
"""

OLDEST_NOT_ROLLED_UP = """
SELECT min(ts) FROM {table}
WHERE received_at > COALESCE((SELECT watermark FROM rollup_state WHERE name = 'rollups'),
                             '-infinity'::timestamptz)
"""

CHUNKS_TO_DROP = """
SELECT chunk_schema || '.' || chunk_name, range_start, range_end
FROM timescaledb_information.chunks
WHERE hypertable_schema = 'public' AND hypertable_name = %(table)s AND range_end <= %(cutoff)s
ORDER BY range_start
"""

DROP_CHUNKS = "SELECT count(*) FROM drop_chunks(%(table)s::regclass, older_than => %(cutoff)s::timestamptz)"


@dataclass(frozen=True)
class TableRetention:
    """What retention does (or would do) to one hypertable."""

    table: str
    cutoff: datetime
    held_by: str
    chunks: tuple[str, ...]


@dataclass(frozen=True)
class RetentionReport:
    """The horizon asked for, and per table the cutoff used and the chunks dropped."""

    horizon: datetime
    dry_run: bool
    tables: tuple[TableRetention, ...]


def parse_older_than(text: str) -> timedelta:
    """``90d``, ``12w``, ``2160h``: at least 31 days (the ingest's too_old limit plus one)."""
    try:
        horizon = parse_interval(text)
    except MacroError as e:
        raise ConfigError(f"--older-than: expected a duration such as 90d, got {text!r}") from e
    if horizon < MIN_HORIZON:
        raise ConfigError(f"--older-than {text}: must be at least 31d (late data may still arrive)")
    return horizon


def earliest(horizon: datetime, guards: dict[str, datetime | None]) -> tuple[datetime, str]:
    """The cutoff: the horizon, or the earliest guard below it, with what holds it."""
    cutoff, held_by = horizon, "horizon"
    for name, guard in guards.items():
        if guard is not None and guard < cutoff:
            cutoff, held_by = guard, name
    return cutoff, held_by


def scalar(conn: psycopg.Connection, sql: str) -> datetime | None:
    """The single timestamp a guard query returns (None when nothing holds)."""
    row = conn.execute(sql).fetchone()
    return row[0] if row else None


def guards_for(conn: psycopg.Connection, table: str) -> dict[str, datetime | None]:
    """What still needs the table's old rows."""
    guards: dict[str, datetime | None] = {}
    if table in {"meter_reading", "bin_reading"}:
        guards["rollups"] = scalar(conn, OLDEST_NOT_ROLLED_UP.format(table=table))
    if table == "meter_reading":
        guards["settlements"] = scalar(conn, OLDEST_UNSETTLED_READING)
    return guards


def apply_retention(
    conn: psycopg.Connection, older_than: timedelta, *, dry_run: bool = False
) -> RetentionReport:
    """Drop (or, with ``dry_run``, list) the chunks entirely below each table's cutoff."""
    now_row = conn.execute("SELECT now()").fetchone()
    assert now_row is not None  # noqa: S101 - SELECT now() returns a row
    horizon: datetime = now_row[0] - older_than
    results = []
    with conn.transaction():
        for table in RETAINED:
            cutoff, held_by = earliest(horizon, guards_for(conn, table))
            params = {"table": table, "cutoff": cutoff}
            chunks = tuple(row[0] for row in conn.execute(CHUNKS_TO_DROP, params).fetchall())
            if chunks and not dry_run:
                conn.execute(DROP_CHUNKS, params)
            results.append(TableRetention(table, cutoff, held_by, chunks))
            log.info("retention.table", table=table, cutoff=cutoff.isoformat(), held_by=held_by,
                     chunks=len(chunks), dry_run=dry_run)  # fmt: skip
    return RetentionReport(horizon, dry_run, tuple(results))
