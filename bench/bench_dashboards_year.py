"""Every dashboard panel's SQL over a year of a 200-meter co-op, rollups built the project's way.

Run: .venv/bin/python bench/bench_dashboards_year.py [--meters 200] [--step-minutes 15]
     [--ledger-entries 330000] [--json FILE]

A throwaway durable TimescaleDB (the edition installed: Apache here, so the rollups are the
project's rollup tables refreshed by ``refresh_rollups``, not continuous aggregates) is
filled with a year (2025) of meter readings for ``--meters`` meters of one co-op, one every
``--step-minutes`` (``generate_series`` in SQL, a month per statement, progress shown), and a
ledger of the co-op's year (bench/ledger_gen.py: ~37 entries an hour). Then the rollups are
refreshed once, as the rewards daemon's first cycle would, and every panel of every built
dashboard runs as Grafana would send it — variables interpolated, macros expanded, as a
member of ``circulo_reader`` — with the time range the whole year, at each of the board's
resolutions. Each panel is timed (median of ``--repeat`` runs, after one warm-up run) against
a baseline measured in the same run: ``SELECT count(*)`` of the hourly meter rollup, the
table a year-range panel should read at most once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_ledger_db import load as load_ledger
from bench.ledger_gen import MEMBERS
from circulo.dashboards import lint
from circulo.dashboards.build import render_all
from circulo.dashboards.macros import TimeRange, expand
from circulo.dashboards.rollups import refresh_rollups
from circulo.dashboards.templating import ALL, Scope, Variable, interpolate, panel_interval
from circulo.ledger.keys import Signer
from circulo.localstack.postgres import PostgresCluster
from circulo.localstack.procs import free_port

YEAR = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2026, 1, 1, tzinfo=UTC)
READER = "bench_reader"
BASELINE = "SELECT count(*) FROM dashboards.meter_hourly"
COOP = "coop1"

# A sunny day's curve, flattened per meter: power follows the sun from 06:00 to 18:00, the
# counter climbs by what the power gave since the previous reading (no resets, no gaps).
READINGS = """
INSERT INTO meter_reading (device_id, ts, received_at, seq, energy_wh, power_w, payload_sha256)
SELECT d.device_id, g.ts, g.ts + interval '2 seconds', (extract(epoch FROM g.ts) / 60)::bigint,
       (d.rated * 0.2 * extract(epoch FROM g.ts - %(year)s) / 3600)::bigint,
       d.rated * greatest(0, sin(pi() * (extract(hour FROM g.ts) + extract(minute FROM g.ts) / 60 - 6) / 12)),
       sha256(convert_to(d.device_id || g.ts::text, 'UTF8'))
FROM (SELECT device_id, rated_power_w AS rated FROM device WHERE kind = 'meter') d
CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 second',
                           %(step)s::interval) AS g(ts)
"""


def registry(conn: psycopg.Connection, meters: int) -> None:
    conn.execute("INSERT INTO coop (coop_id, name) VALUES (%s, 'Bench Co-op')", (COOP,))
    conn.cursor().executemany(
        "INSERT INTO member (coop_id, account, shares) VALUES (%s, %s, %s)",
        [(COOP, f"member-{i:03d}@{COOP}", 1 + i % 5) for i in range(MEMBERS)],
    )
    conn.cursor().executemany(
        "INSERT INTO device (device_id, kind, coop_id, status, rated_power_w, location_name)"
        " VALUES (%s, 'meter', %s, 'active', %s, %s)",
        [(f"m-{i:04d}", COOP, 3000 + 100 * (i % 40), f"Roof {i}") for i in range(meters)],
    )


def readings(conn: psycopg.Connection, step: timedelta) -> tuple[int, float, float]:
    """A year of readings, a month per statement, the rollups refreshed after each month as the
    daemon refreshes them after each cycle; returns (rows, seconds writing, seconds refreshing)."""
    total, start, writing, refreshing = 0, YEAR, 0.0, 0.0
    while start < YEAR_END:
        end = (start + timedelta(days=32)).replace(day=1)
        began = time.perf_counter()
        with conn.transaction():
            rows = conn.execute(READINGS, {"year": YEAR, "start": start, "end": end, "step": step}).rowcount
        wrote = time.perf_counter() - began
        set_watermark(conn, end + timedelta(seconds=5))
        began = time.perf_counter()
        refresh_rollups(conn)
        refreshed = time.perf_counter() - began
        total, writing, refreshing = total + rows, writing + wrote, refreshing + refreshed
        print(f"  {start:%Y-%m}: {rows:,} readings in {wrote:.1f} s, rollups refreshed in {refreshed:.1f} s",
              flush=True)  # fmt: skip
        start = end
    return total, writing, refreshing


def set_watermark(conn: psycopg.Connection, watermark: datetime) -> None:
    """Play the ingest worker whose low watermark W is ``watermark``."""
    conn.execute(
        "INSERT INTO ingest_worker (worker_id, low_watermark, heartbeat_at, started_at)"
        " VALUES ('bench', %s, now(), %s)"
        " ON CONFLICT (worker_id) DO UPDATE SET low_watermark = EXCLUDED.low_watermark, heartbeat_at = now()",
        (watermark, YEAR),
    )


def reader(url: str) -> psycopg.Connection:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            f"DO $$ BEGIN CREATE ROLE {READER} LOGIN IN ROLE circulo_reader; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    conn = psycopg.connect(url, autocommit=True)
    conn.execute(f"SET ROLE {READER}")
    conn.execute("SET statement_timeout = '120s'")
    return conn


def scope(resolution: str) -> Scope:
    year = TimeRange(YEAR, YEAR_END - timedelta(milliseconds=1))
    interval = panel_interval(year, max_data_points=1000, min_interval="1m")
    variables = {
        "coop": Variable("coop", (ALL,), multi=True, include_all=True, options=(ALL, COOP)),
        "resolution": Variable("resolution", (resolution,)),
    }
    return Scope(year, variables, interval)


def resolutions(model: dict[str, Any]) -> tuple[str, ...]:
    found = [v for v in model["templating"]["list"] if v["name"] == "resolution"]
    return tuple(str(found[0]["query"]).split(",")) if found else ("hour",)


def timed_query(conn: psycopg.Connection, sql: str, repeat: int) -> tuple[float, int]:
    """(median seconds, rows) of ``sql`` after one warm-up run."""
    conn.execute(sql)  # type: ignore[call-overload]  # expanded panel SQL, as Grafana sends it
    times, rows = [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        rows = len(conn.execute(sql).fetchall())  # type: ignore[call-overload]
        times.append(time.perf_counter() - began)
    return statistics.median(times), rows


def panels(conn: psycopg.Connection, repeat: int) -> list[dict[str, Any]]:
    results = []
    for uid, model in render_all().items():
        for resolution in resolutions(model):
            at = scope(resolution)
            for panel in lint.panels(model):
                for target in panel.get("targets", []):
                    sql = expand(interpolate(target["rawSql"], at), at.time_range, interval=at.interval)
                    try:
                        seconds, rows = timed_query(conn, sql, repeat)
                    except psycopg.errors.QueryCanceled:
                        seconds, rows = float("inf"), -1
                    results.append({"board": uid, "panel": panel["title"], "ref": target.get("refId", "A"),
                                    "resolution": resolution, "s": seconds, "rows": rows})  # fmt: skip
                    print(f"  {uid:<18} {resolution:<4} {panel['title'][:44]:<44} {seconds * 1000:9.1f} ms "
                          f"{rows:>7} rows", flush=True)  # fmt: skip
    return results


def main(args: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    base = Path(args.reuse) if args.reuse else Path(tempfile.mkdtemp(prefix="circulo-bench-dash-"))
    pg = PostgresCluster(base / "pg", free_port(), durable=True)
    pg.start()
    out: dict[str, Any] = {"meters": args.meters, "step_minutes": args.step_minutes, "load": os.getloadavg()}
    try:
        if args.reuse:  # the data of an earlier run (its directory is kept): the panels again
            with reader(pg.url("dash_year")) as conn:
                out["baseline_s"], _ = timed_query(conn, BASELINE, args.repeat)
                out["panels"] = panels(conn, args.repeat)
            summary(out, args.json)
            return
        url = pg.fresh_database("dash_year", migrated=True)
        with psycopg.connect(url, autocommit=True) as conn:
            registry(conn, args.meters)
            out["readings"], out["readings_s"], out["refresh_s"] = readings(
                conn, timedelta(minutes=args.step_minutes)
            )
            print(f"{out['readings']:,} readings written in {out['readings_s']:.0f} s, rollups refreshed "
                  f"month by month in {out['refresh_s']:.0f} s", flush=True)  # fmt: skip
        if args.ledger_entries:
            private = Ed25519PrivateKey.generate()
            began = time.perf_counter()
            load_ledger(url, Signer(private), private, args.ledger_entries)
            print(
                f"{args.ledger_entries:,} ledger entries in {time.perf_counter() - began:.0f} s", flush=True
            )
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            sizes = conn.execute(
                "SELECT hypertable_size('meter_reading'), pg_total_relation_size('rollup_meter_hourly'),"
                " pg_total_relation_size('ledger_entry'), pg_database_size(current_database())"
            ).fetchone()
            out["bytes"] = dict(zip(("meter_reading", "rollup_meter_hourly", "ledger_entry", "database"),
                                    sizes or (), strict=False))  # fmt: skip
            print(f"sizes: {out['bytes']}", flush=True)
        with reader(url) as conn:
            out["baseline_s"], _ = timed_query(
                conn, "SELECT count(*) FROM dashboards.meter_hourly", args.repeat
            )
            print(
                f"baseline: count(*) of the hourly meter rollup {out['baseline_s'] * 1000:.1f} ms", flush=True
            )
            out["panels"] = panels(conn, args.repeat)
        summary(out, args.json)
    finally:
        pg.stop()
        if not (args.keep or args.reuse):
            shutil.rmtree(base, ignore_errors=True)


def summary(out: dict[str, Any], json_file: str | None) -> None:
    slow = [p for p in out["panels"] if p["s"] >= 1]
    print(f"baseline {out['baseline_s'] * 1000:.1f} ms; {len(out['panels'])} panel queries, "
          f"{len(slow)} at 1 s or more", flush=True)  # fmt: skip
    if json_file:
        Path(json_file).write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--step-minutes", type=int, default=15)
    parser.add_argument("--ledger-entries", type=int, default=330_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the data directory (for --reuse)")
    parser.add_argument("--reuse", help="the directory of an earlier run (circulo-bench-dash-…): panels only")
    main(parser.parse_args())
