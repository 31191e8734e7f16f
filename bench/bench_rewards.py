"""Rewards settlement speed: a day of a 200-meter co-op, as a ratio against a naive baseline.

Run: .venv/bin/python bench/bench_rewards.py [--meters 200] [--minutes 1440] [--members 50]

Measurements on a throwaway durable TimescaleDB (fsync on):
- drain: ``run_cycle(drain=True)`` over a day of minutely readings — pairs by ``lag()``,
  hours by ``time_bucket``, one transaction per hour with every pair claimed, mints signed
  and appended to the ledger (24 green settlements);
- pairs only: the SQL part alone (pair table + per-hour summaries);
- steady: one more hour arrives, W moves past it, one normal cycle settles it;
- idle: a cycle with nothing to settle.
Baseline, same process and database: the same day settled naively — every reading fetched
into Python, paired and credited row by row with the same pure rules, per-hour sums in a
dict, one claim INSERT per pair (executemany, one transaction, rolled back).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from circulo.ledger.keys import generate_key
from circulo.localstack.postgres import PostgresCluster
from circulo.localstack.procs import free_port
from circulo.rewards import green
from circulo.rewards.engine import load_engine, open_work_connection, run_cycle
from circulo.rewards.rules import MeterPair, credit_pair, hour_of
from circulo.rewards.settings import RewardsSettings

DAY = datetime(2025, 6, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
RATED_W = 5000


def meter_ids(meters: int) -> list[str]:
    return [f"m{i:04d}" for i in range(meters)]


def per_minute_wh(meter: int, hour: int) -> int:
    """A sunny-day-ish output: most at noon, none at night, a little different per meter."""
    sun = max(0, 60 - abs(hour % 24 - 12) * 8)
    return sun + (meter % 7 if sun else 0)


def energy(meter: int, minute: int) -> int:
    """The meter's lifetime register at a minute after midnight (monotonic, no resets)."""
    hours, rest = divmod(minute, 60)
    done = sum(60 * per_minute_wh(meter, h) for h in range(hours))
    return 1_000_000 + meter * 1000 + done + rest * per_minute_wh(meter, hours)


def load_day(url: str, meters: int, minutes: int, members: int, start_minute: int = 0) -> None:
    """The co-op, its members and meters (first call), and minutely readings by COPY."""
    with psycopg.connect(url, autocommit=True) as conn:
        if start_minute == 0:
            conn.execute("INSERT INTO coop (coop_id, name) VALUES ('coop1', 'Bench co-op')")
            for i in range(members):
                conn.execute(
                    "INSERT INTO member (coop_id, account, shares) VALUES ('coop1', %s, %s)",
                    (f"member{i:03d}", 1 + i % 5),
                )
            for device_id in meter_ids(meters):
                conn.execute(
                    "INSERT INTO device (device_id, kind, coop_id, status, rated_power_w) "
                    "VALUES (%s, 'meter', 'coop1', 'active', %s)",
                    (device_id, RATED_W),
                )
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY meter_reading (device_id, ts, received_at, seq, energy_wh, power_w, payload_sha256) "
                "FROM STDIN"
            ) as copy,
        ):
            for m, device_id in enumerate(meter_ids(meters)):
                for minute in range(start_minute, start_minute + minutes):
                    ts = DAY + minute * MINUTE
                    copy.write_row((device_id, ts, ts, minute, energy(m, minute), 400.0, b"\x00" * 32))
        conn.execute("ANALYZE meter_reading")


def set_watermark(url: str, w: datetime) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO ingest_worker (worker_id, low_watermark, heartbeat_at, started_at) "
            "VALUES ('bench', %s, now(), now()) ON CONFLICT (worker_id) DO UPDATE "
            "SET low_watermark = EXCLUDED.low_watermark, heartbeat_at = now()",
            (w,),
        )


@dataclass(frozen=True)
class NaiveResult:
    """The naive baseline's total time, its fetch-and-compute part, and what it credited."""

    total_s: float
    compute_s: float
    credited_wh: int
    pairs: int


def naive_settlement(url: str) -> NaiveResult:
    """Per-row Python: fetch, pair, credit, sum per hour, one claim INSERT per pair (rolled back)."""
    started = time.perf_counter()
    credited: dict[datetime, int] = defaultdict(int)
    claims: list[tuple[str, datetime, datetime]] = []
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT device_id, ts, energy_wh FROM meter_reading ORDER BY device_id, ts")
        previous: tuple[str, datetime, int] | None = None
        for device_id, ts, wh in rows:
            if previous is not None and previous[0] == device_id:
                pair = MeterPair(device_id, previous[1], previous[2], ts, wh)
                credit = credit_pair(pair, RATED_W, 110)
                credited[hour_of(ts)] += credit.credited_wh
                claims.append((device_id, ts, previous[1]))
            previous = (device_id, ts, wh)
        computed = time.perf_counter() - started
        conn.execute(
            "CREATE TEMPORARY TABLE naive_claim (device_id text, ts timestamptz, prev_ts timestamptz, "
            "PRIMARY KEY (device_id, ts))"
        )
        for claim in claims:
            conn.execute("INSERT INTO naive_claim VALUES (%s, %s, %s)", claim)
        conn.rollback()
    return NaiveResult(time.perf_counter() - started, computed, sum(credited.values()), len(claims))


# The pairing as it was before policy v2's glitch rule: the baseline of the SQL's cost.
PAIRS_BEFORE_GLITCHES = """
INSERT INTO pg_temp.reward_green_pairs
    (device_id, prev_ts, prev_wh, ts, energy_wh, delta_wh, flag, hour, late)
WITH meters AS (
    SELECT d.device_id, d.rated_power_w, p.last_ts, p.last_energy_wh
      FROM device d LEFT JOIN reward_meter_progress p ON p.device_id = d.device_id
     WHERE d.coop_id = %(coop_id)s AND d.kind = 'meter'
), chain AS (
    SELECT r.device_id, r.ts, r.energy_wh, m.rated_power_w, m.last_ts
      FROM meter_reading r JOIN meters m ON m.device_id = r.device_id
     WHERE r.ts >= %(lower)s AND r.ts < %(window_end)s
       AND r.ts > coalesce(m.last_ts, '-infinity'::timestamptz)
    UNION ALL
    SELECT device_id, last_ts, last_energy_wh, rated_power_w, last_ts FROM meters WHERE last_ts IS NOT NULL
), paired AS (
    SELECT device_id, ts, energy_wh, rated_power_w, last_ts,
           lag(ts) OVER w AS prev_ts, lag(energy_wh) OVER w AS prev_wh
      FROM chain WINDOW w AS (PARTITION BY device_id ORDER BY ts)
), flagged AS (
    SELECT *, CASE
                WHEN prev_ts IS NULL THEN NULL
                WHEN energy_wh < prev_wh THEN 'counter_reset'
                WHEN (energy_wh - prev_wh)::numeric * 360000000000
                     > rated_power_w::numeric
                       * ((extract(epoch FROM ts) - extract(epoch FROM prev_ts)) * 1000000)
                       * %(plausibility_pct)s + 360000000000
                  THEN 'implausible'
              END AS flag
      FROM paired
)
SELECT device_id, prev_ts, prev_wh, ts, energy_wh, energy_wh - prev_wh, flag,
       time_bucket('1 hour', ts),
       coalesce(time_bucket('1 hour', ts) < %(settled_through)s::timestamptz, false)
  FROM flagged
 WHERE last_ts IS NULL OR ts > last_ts
"""


def pairs_only(settings: RewardsSettings, glitch_window_us: int | None = None) -> float:
    """The SQL part of a drain, without committing anything (None: the pairing before glitches)."""
    engine = load_engine(settings)
    with open_work_connection(settings.database_url) as conn:
        ctx = engine.context(conn, 0, drain=True)
        baselines = green.meter_baselines(conn, "coop1")
        pct = ctx.policy.green.plausibility_pct
        started = time.perf_counter()
        if glitch_window_us is None:
            conn.execute(green.sql.CREATE_PAIRS_TABLE)
            conn.execute(green.sql.CLEAR_PAIRS)
            conn.execute(
                PAIRS_BEFORE_GLITCHES,  # type: ignore[arg-type]
                {"coop_id": "coop1", "lower": green.FAR_PAST, "window_end": green.FAR_FUTURE,
                 "settled_through": None, "plausibility_pct": pct},
            )  # fmt: skip
            conn.execute(green.sql.INDEX_PAIRS)
        else:
            green.fill_pairs(conn, "coop1", baselines=baselines, window_end=green.FAR_FUTURE, settled=None,
                             plausibility_pct=pct, glitch_window_us=glitch_window_us)  # fmt: skip
        green.read_pair_summaries(conn)
    return time.perf_counter() - started


def pairs_timings(settings: RewardsSettings, rounds: int = 3) -> dict[str, float]:
    """The pairing SQL before and with the glitch rule, alternated; the median of each."""
    cases = {
        "before glitches (baseline)": None,
        "glitch rule off (v1 policy)": 0,
        "glitch rule on (v2)": 900_000_000,
    }
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, window in cases.items():
            timings[name].append(pairs_only(settings, window))
    return {name: statistics.median(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--minutes", type=int, default=1440)
    parser.add_argument("--members", type=int, default=50)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="circulo-bench-rewards-"))
    pg = PostgresCluster(base / "pg", free_port(), durable=True)
    pg.start()
    try:
        run(pg, base, args.meters, args.minutes, args.members)
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


def run(pg: PostgresCluster, base: Path, meters: int, minutes: int, members: int) -> None:
    url = pg.fresh_database("bench_rewards", migrated=True)
    key = base / "ledger-signing.key"
    generate_key(key)
    settings = RewardsSettings(database_url=url, signing_key_path=key, metrics_port=0)
    load_day(url, meters, minutes, members)
    readings = meters * minutes
    print(f"{meters} meters × {minutes} readings = {readings:,} readings, {members} members", flush=True)

    naive = naive_settlement(url)
    naive_s, naive_wh = naive.total_s, naive.credited_wh
    print(
        f"naive per-row Python: {naive_s:8.2f} s  ({naive.pairs:,} pairs, {naive_wh:,} Wh; "
        f"fetch and pair in Python {naive.compute_s:.2f} s, then one INSERT per claim)",
        flush=True,
    )
    pairing = pairs_timings(settings)
    baseline = pairing["before glitches (baseline)"]
    for name, seconds in pairing.items():
        print(
            f"pairs in SQL only, {name:<28} {seconds:6.2f} s  {seconds / baseline:.2f} of the baseline",
            flush=True,
        )

    started = time.perf_counter()
    report = run_cycle(settings, drain=True)
    drain_s = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        credited = conn.execute("SELECT sum(credited_wh) FROM reward_settlement").fetchone()
        entries = conn.execute("SELECT count(*) FROM ledger_entry").fetchone()
    assert credited is not None and credited[0] == naive_wh, (credited, naive_wh)
    mints = entries[0] if entries else 0
    print(
        f"engine drain:         {drain_s:8.2f} s  ({report.settled} settlements, {mints} mints, "
        f"{readings / drain_s:,.0f} readings/s)",
        flush=True,
    )

    load_day(url, meters, 60, members, start_minute=minutes)
    set_watermark(url, DAY + (minutes + 61) * MINUTE)
    load_day(url, meters, 1, members, start_minute=minutes + 60)
    started = time.perf_counter()
    steady = run_cycle(settings, drain=False)
    steady_s = time.perf_counter() - started
    started = time.perf_counter()
    run_cycle(settings, drain=False)
    idle_s = time.perf_counter() - started
    print(f"steady (one hour):    {steady_s:8.2f} s  ({steady.settled} settlement)", flush=True)
    print(f"idle cycle:           {idle_s:8.2f} s", flush=True)
    print(f"ratio naive / engine drain: {naive_s / drain_s:.1f}×", flush=True)
    print(f"ratio naive fetch-and-pair only / engine drain: {naive.compute_s / drain_s:.1f}×", flush=True)


if __name__ == "__main__":
    main()
