"""A city on one box: one hour of 100,000 meters (one reading a minute) settled by the engine.

Run: .venv/bin/python bench/bench_rewards_city.py [--meters 100000] [--coops 100] [--members 250]
     [--json FILE]

A throwaway durable TimescaleDB holds ``--coops`` co-ops of ``--members`` members each and
``--meters`` meters spread over them, and an hour of minutely readings for every meter plus
one more minute (``generate_series`` in SQL; 6 million rows for the default city). The engine
settles the hour in one ``run_cycle(drain=True)``: per co-op one green settlement that claims
every pair under its unique key (exactly once), signs its mints and commits them with the
claims and progress marks. Timed against a baseline measured in the same run and database:
``SELECT count(*)`` over the hour's readings, and the same 200-meter hour the rewards
benchmark settles (bench/bench_rewards.py's steady cycle) as a per-meter reference. Peak
RSS is this process's (the engine runs in it); PostgreSQL's own memory is not included, its
CPU time is (read from /proc for the cluster's processes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from circulo.ledger.keys import generate_key
from circulo.localstack.postgres import PostgresCluster
from circulo.localstack.procs import free_port
from circulo.rewards.engine import run_cycle
from circulo.rewards.settings import RewardsSettings

HOUR = datetime(2025, 6, 1, 11, tzinfo=UTC)
RATED_W = 5000

COOP_ID = "'c' || lpad({}::text, 4, '0')"
REGISTRY = (
    f"INSERT INTO coop (coop_id, name) SELECT {COOP_ID.format('c')}, 'Co-op ' || c "
    "FROM generate_series(1, %(coops)s) c",
    f"INSERT INTO member (coop_id, account, shares) SELECT {COOP_ID.format('c')}, "
    f"'m' || m || '@' || {COOP_ID.format('c')}, 1 + m %% 5 "
    "FROM generate_series(1, %(coops)s) c, generate_series(1, %(members)s) m",
    "INSERT INTO device (device_id, kind, coop_id, status, rated_power_w) "
    f"SELECT 'mt' || lpad(i::text, 6, '0'), 'meter', {COOP_ID.format('(1 + i %% %(coops)s)')}, 'active', "
    "%(rated)s FROM generate_series(0, %(meters)s - 1) i",
)
# Each meter produces 20-60 Wh a minute over the hour (a sunny noon); no resets, no gaps.
READINGS = """
INSERT INTO meter_reading (device_id, ts, received_at, seq, energy_wh, power_w, payload_sha256)
SELECT 'mt' || lpad(i::text, 6, '0'), %(hour)s::timestamptz + m * interval '1 minute',
       %(hour)s::timestamptz + m * interval '1 minute' + interval '2 seconds', m,
       1000000 + i * 10 + m * (20 + i %% 41), 1200 + i %% 2400, '\\x00'::bytea
FROM generate_series(%(first)s, %(last)s - 1) i, generate_series(0, 60) m
"""


def server_cpu_seconds(pg: PostgresCluster) -> float:
    """CPU seconds of the cluster's processes so far: the postmaster with its reaped children,
    and every live child (backends, WAL writer, checkpointer) (Linux /proc)."""
    postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid, times = int(fields[1]), [int(f) for f in fields[11:15]]  # utime stime cutime cstime
        if int(entry.name) == postmaster:
            total += sum(times) / tick
        elif ppid == postmaster:
            total += sum(times[:2]) / tick
    return total


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(url: str, meters: int, coops: int, members: int) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in REGISTRY:
            conn.execute(statement, {"coops": coops, "members": members, "meters": meters, "rated": RATED_W})
        done = 0
        while done < meters:
            batch = min(10_000, meters - done)
            began = time.perf_counter()
            conn.execute(READINGS, {"hour": HOUR, "first": done, "last": done + batch})
            done += batch
            print(f"  {done:,} meters' readings ({time.perf_counter() - began:.1f} s)", flush=True)
        conn.execute("VACUUM ANALYZE")
        conn.execute(
            "INSERT INTO ingest_worker (worker_id, low_watermark, heartbeat_at, started_at) "
            "VALUES ('bench', %s, now(), now())",
            (HOUR + timedelta(minutes=62),),
        )
        row = conn.execute("SELECT count(*) FROM meter_reading").fetchone()
    return int(row[0]) if row else 0


def main(args: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    base = Path(tempfile.mkdtemp(prefix="circulo-bench-city-"))
    pg = PostgresCluster(base / "pg", free_port(), durable=True)
    pg.start()
    out: dict[str, Any] = {"meters": args.meters, "coops": args.coops, "members": args.members}
    try:
        url = pg.fresh_database("city", migrated=True)
        key = base / "ledger-signing.key"
        generate_key(key)
        began = time.perf_counter()
        out["readings"] = load(url, args.meters, args.coops, args.members)
        out["load_s"] = time.perf_counter() - began
        print(f"{out['readings']:,} readings loaded in {out['load_s']:.0f} s", flush=True)
        with psycopg.connect(url) as conn:
            began = time.perf_counter()
            conn.execute("SELECT count(*), sum(energy_wh) FROM meter_reading").fetchone()
            out["baseline_scan_s"] = time.perf_counter() - began
        print(f"baseline: count(*) over the readings {out['baseline_scan_s']:.2f} s", flush=True)
        settings = RewardsSettings(database_url=url, signing_key_path=key, metrics_port=0)
        rss_before = rss_mib()
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        server_before = server_cpu_seconds(pg)
        began = time.perf_counter()
        report = run_cycle(settings, drain=True)
        out["settle_s"] = time.perf_counter() - began
        out["database_cpu_s"] = server_cpu_seconds(pg) - server_before
        after = resource.getrusage(resource.RUSAGE_SELF)
        out["engine_cpu_s"] = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
        out["peak_rss_mib"], out["rss_before_mib"] = rss_mib(), rss_before
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM reward_settlement), "
                "(SELECT sum(credited_wh) FROM reward_settlement), "
                "(SELECT count(*) FROM ledger_entry), pg_database_size(current_database())"
            ).fetchone()
        out["settlements"], out["credited_wh"], out["entries"], out["database_bytes"] = row or (0, 0, 0, 0)
        print(
            f"engine: the hour settled in {out['settle_s']:.1f} s wall, {out['engine_cpu_s']:.1f} s CPU in "
            f"this process, {out['database_cpu_s']:.1f} s in PostgreSQL ({report.settled} settlements, "
            f"{out['entries']:,} ledger entries, "
            f"{out['readings'] / out['settle_s']:,.0f} readings/s); peak RSS {out['peak_rss_mib']:.0f} MiB "
            f"({rss_before:.0f} before the cycle); ratio to the baseline scan "
            f"{out['settle_s'] / out['baseline_scan_s']:.1f}×",
            flush=True,
        )
        out["load_end"] = os.getloadavg()
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--coops", type=int, default=100)
    parser.add_argument("--members", type=int, default=250)
    parser.add_argument("--json", help="write the figures to this file")
    main(parser.parse_args())
