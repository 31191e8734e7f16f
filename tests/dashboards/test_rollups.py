"""Rollups: exact energy through resets and gaps, incremental and idempotent refresh."""

from __future__ import annotations

import random
from datetime import timedelta

import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.dashboards import dashboard_data as data

from circulo.dashboards.rollups import BEGINNING, refresh_rollups
from circulo.localstack.postgres import PostgresCluster

ROLLUP_TABLES = (
    "rollup_meter_hourly",
    "rollup_meter_daily",
    "rollup_coop_hourly",
    "rollup_coop_daily",
    "rollup_bin_hourly",
    "rollup_ingest_minute",
)


def snapshot(conn: psycopg.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in ROLLUP_TABLES}


def test_hourly_and_daily_energy_come_out_exact_through_resets_and_gaps(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        data.insert_all(conn)
        report = refresh_rollups(conn)
        per_meter = dict(
            conn.execute("SELECT device_id, sum(energy_wh) FROM rollup_meter_hourly GROUP BY 1").fetchall()
        )
        daily = dict(conn.execute("SELECT device_id, energy_wh FROM rollup_meter_daily").fetchall())
        coops = dict(conn.execute("SELECT coop_id, energy_wh FROM rollup_coop_daily").fetchall())
        resets = conn.execute("SELECT sum(counter_resets) FROM rollup_meter_hourly").fetchone()
        gap_hour = conn.execute(
            "SELECT energy_wh FROM rollup_meter_hourly WHERE device_id = 'm-sunny-2' AND bucket = %s",
            (data.DAY + timedelta(hours=9),),
        ).fetchone()
    assert per_meter == daily == data.EXPECTED_WH
    assert coops == data.EXPECTED_COOP_WH
    assert resets == (1,)
    assert gap_hour == (13 * 50 + 3 * 50,)  # the 09:00 reading carries the gap, then three more
    assert report.meters == 3
    assert report.edition == "apache"


def test_a_second_refresh_changes_nothing(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        data.insert_all(conn)
        refresh_rollups(conn)
        before = snapshot(conn)
        report = refresh_rollups(conn)
        assert snapshot(conn) == before
    assert (report.meters, report.bin_hours, report.ingest_minutes) == (0, 0, 0)


def test_rows_received_after_the_low_watermark_wait_for_the_next_refresh(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        data.insert_registry(conn)
        data.insert_meter_readings(conn, data.meter_readings())
        data.set_low_watermark(conn, data.DAY + timedelta(hours=12))
        first = refresh_rollups(conn)
        morning = conn.execute("SELECT max(bucket) FROM rollup_meter_hourly").fetchone()
        afternoon = conn.execute(
            "SELECT count(*) FROM rollup_meter_hourly WHERE bucket > %s", (first.until,)
        ).fetchone()
        data.set_low_watermark(conn, data.DAY + timedelta(days=1))
        refresh_rollups(conn)
        totals = dict(conn.execute("SELECT device_id, energy_wh FROM rollup_meter_daily").fetchall())
    assert first.until == data.DAY + timedelta(hours=12)
    # the span ends at the reading after the last one received (committed, so consistent)
    assert morning == (data.DAY + timedelta(hours=12),)
    assert afternoon == (0,)
    assert totals == data.EXPECTED_WH


def test_a_late_reading_recomputes_only_what_it_touches_and_matches_a_rebuild(db_url: str) -> None:
    readings = data.meter_readings()
    late = [r for r in readings if r.device_id == "m-windy-1" and r.seq == 10]
    with psycopg.connect(db_url) as conn:
        data.insert_registry(conn)
        data.insert_meter_readings(conn, [r for r in readings if r not in late])
        data.set_low_watermark(conn, data.DAY + timedelta(days=1))
        refresh_rollups(conn)
        data.insert_meter_readings(conn, late, received_at=data.DAY + timedelta(days=2))
        data.set_low_watermark(conn, data.DAY + timedelta(days=3))
        report = refresh_rollups(conn)
        incremental = snapshot(conn)
        rebuilt = refresh_rollups(conn, since=BEGINNING)
        assert snapshot(conn) == incremental
    assert report.meters == 1
    assert report.meter_hours <= 2  # the late reading's hour and its successor's
    assert rebuilt.meters == 3


@settings(max_examples=12)
@given(st.integers(min_value=2, max_value=6), st.randoms(use_true_random=False))
def test_any_arrival_order_in_batches_gives_the_rollups_of_one_refresh(
    pg_database: str, batches: int, rng: random.Random
) -> None:
    readings = data.meter_readings()
    rng.shuffle(readings)
    arrival = data.DAY + timedelta(days=3)
    with psycopg.connect(pg_database) as conn:
        for table in (*ROLLUP_TABLES, "rollup_state", "meter_reading", "ingest_worker"):
            conn.execute(f"DELETE FROM {table}")
        for n in range(batches):
            batch = readings[n::batches]
            data.insert_meter_readings(conn, batch, received_at=arrival + timedelta(minutes=n))
            data.set_low_watermark(conn, arrival + timedelta(minutes=n, seconds=1))
            refresh_rollups(conn)
        totals = dict(conn.execute("SELECT device_id, energy_wh FROM rollup_meter_daily").fetchall())
        incremental = snapshot(conn)
        refresh_rollups(conn, since=BEGINNING)
        assert snapshot(conn) == incremental
    assert totals == data.EXPECTED_WH


def test_the_rewards_daemons_role_can_refresh_the_rollups(db_url: str, pg: PostgresCluster) -> None:
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute(
            "DO $$ BEGIN CREATE ROLE rewards_test_login LOGIN IN ROLE circulo_rewards; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    with psycopg.connect(db_url) as conn:
        data.insert_all(conn)
    with psycopg.connect(db_url) as conn:
        conn.execute("SET ROLE rewards_test_login")
        report = refresh_rollups(conn)
        totals = dict(conn.execute("SELECT device_id, energy_wh FROM rollup_meter_daily").fetchall())
    assert report.meters == 3
    assert totals == data.EXPECTED_WH
