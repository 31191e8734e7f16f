"""Keep the dashboards' rollup tables current: incremental, idempotent, on both editions.

:func:`refresh_rollups` recomputes every hourly and daily bucket that a row received
since the last refresh falls in, up to the ingest's low watermark W (everything received
before W is committed, SPEC §3), then records W as its watermark. Running it again
changes nothing; running it with an earlier ``since`` recomputes from there. The lead's
rewards daemon calls it every cycle and ``circulo dashboards refresh`` runs it by hand.

With the Timescale license, bin telemetry is a continuous aggregate refreshed by its own
policy (migration 0005) and is skipped here; energy is always a rollup table, because a
counter delta needs a window function that continuous aggregates do not allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from circulo.dashboards import queries
from circulo.errors import CirculoError
from circulo.logs import get_logger

WATERMARK_NAME = "rollups"
# Before any data: the first refresh reads everything.
BEGINNING = datetime(1, 1, 1, tzinfo=UTC)

log = get_logger("dashboards.rollups")


@dataclass(frozen=True)
class RollupReport:
    """What one refresh did: the receipt-time window and the buckets it recomputed."""

    since: datetime | None
    until: datetime
    edition: str
    meters: int
    meter_hours: int
    bin_hours: int
    ingest_minutes: int


def edition(conn: psycopg.Connection) -> str:
    """``timescale`` (continuous aggregates, policies) or ``apache`` (rollup tables only)."""
    row = conn.execute(queries.LICENSE).fetchone()
    return "timescale" if row is not None and row[0] == "timescale" else "apache"


def refresh_rollups(conn: psycopg.Connection, *, since: datetime | None = None) -> RollupReport:
    """Recompute the buckets touched by rows received after ``since`` (default: the last refresh).

    Runs in one transaction (a savepoint when the caller has one open) under an advisory
    lock, so two refreshes never interleave.
    """
    with conn.transaction():
        conn.execute(queries.LOCK_REFRESH)
        stored = conn.execute(queries.READ_WATERMARK, {"name": WATERMARK_NAME}).fetchone()
        start = since if since is not None else (stored[0] if stored else None)
        window = {"since": start or BEGINNING, "until": refresh_until(conn)}
        meters, meter_hours = refresh_energy(conn, window)
        bin_hours = refresh_bins(conn, window)
        ingest_minutes = refresh_ingest(conn, window)
        conn.execute(queries.WRITE_WATERMARK, {"name": WATERMARK_NAME, "watermark": window["until"]})
        report = RollupReport(
            start, window["until"], edition(conn), meters, meter_hours, bin_hours, ingest_minutes
        )
    log.info("rollups.refreshed", since=str(start), until=str(report.until), meters=meters,
             meter_hours=meter_hours, bin_hours=bin_hours, ingest_minutes=ingest_minutes)  # fmt: skip
    return report


def refresh_until(conn: psycopg.Connection) -> datetime:
    """The end of the window: W, or now when no ingest worker has ever run."""
    row = conn.execute(queries.REFRESH_UNTIL).fetchone()
    if row is None or not isinstance(row[0], datetime):
        raise CirculoError("could not read the ingest low watermark")
    return row[0]


def refresh_energy(conn: psycopg.Connection, window: dict[str, datetime]) -> tuple[int, int]:
    """Meter hours and days, then the co-ops' hours and days; returns (meters, hours) touched."""
    conn.execute(queries.DROP_TOUCHED)
    conn.execute(queries.TOUCHED_METER_HOURS, window)
    row = conn.execute(queries.COUNT_TOUCHED_METER_HOURS).fetchone()
    meters, hours = (int(row[0]), int(row[1])) if row else (0, 0)
    if meters:
        for statement in (
            queries.UPSERT_METER_HOURLY,
            queries.UPSERT_METER_DAILY,
            queries.UPSERT_COOP_HOURLY,
            queries.UPSERT_COOP_DAILY,
        ):
            conn.execute(statement)
    conn.execute(queries.DROP_TOUCHED)
    return meters, hours


def refresh_bins(conn: psycopg.Connection, window: dict[str, datetime]) -> int:
    """Bin telemetry hours (skipped where the continuous aggregate keeps them)."""
    row = conn.execute(queries.BIN_CAGG_EXISTS).fetchone()
    if row is not None and row[0]:
        return 0
    return conn.execute(queries.UPSERT_BIN_HOURLY, window).rowcount


def refresh_ingest(conn: psycopg.Connection, window: dict[str, datetime]) -> int:
    """Messages and delay per receipt minute, for every stream."""
    return sum(
        conn.execute(queries.upsert_ingest_minute(*stream), window).rowcount
        for stream in queries.INGEST_STREAMS
    )
