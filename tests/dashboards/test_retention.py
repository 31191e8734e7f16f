"""Retention drops old raw chunks only below what settlements and rollups still need."""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg
import pytest
from click.testing import CliRunner
from tests.dashboards import dashboard_data as data

from circulo.cli import cli
from circulo.dashboards.retention import apply_retention, earliest, parse_older_than
from circulo.dashboards.rollups import refresh_rollups
from circulo.errors import ConfigError

NINETY_DAYS = timedelta(days=90)


def chunk_count(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = %s", (table,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def settle_meters(conn: psycopg.Connection, *, through_hour: int | None = None) -> None:
    """Progress marks as the rewards engine leaves them: each meter's last settled reading."""
    for device_id in data.METERS:
        readings = [r for r in data.meter_readings() if r.device_id == device_id]
        if through_hour is not None and device_id == "m-sunny-1":
            readings = [r for r in readings if r.ts < data.DAY + timedelta(hours=through_hour)]
        last = readings[-1]
        conn.execute(
            "INSERT INTO reward_meter_progress (device_id, last_ts, last_energy_wh) VALUES (%s, %s, %s)",
            (device_id, last.ts, last.energy_wh),
        )


def test_nothing_raw_goes_before_the_rollups_have_it(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        data.insert_all(conn)
        settle_meters(conn)
        report = apply_retention(conn, NINETY_DAYS)
        held = {t.table: t.held_by for t in report.tables}
        assert chunk_count(conn, "meter_reading") == 1
        assert chunk_count(conn, "bin_reading") == 1
    assert held["meter_reading"] == "rollups"
    assert held["bin_reading"] == "rollups"
    assert held["device_status"] == "horizon"


def test_unsettled_readings_hold_their_chunks_and_the_rest_goes(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        data.insert_all(conn)
        refresh_rollups(conn)
        settle_meters(conn, through_hour=12)
        report = apply_retention(conn, NINETY_DAYS)
        assert chunk_count(conn, "meter_reading") == 1
        assert chunk_count(conn, "bin_reading") == 0
    meter = next(t for t in report.tables if t.table == "meter_reading")
    assert meter.held_by == "settlements"
    assert meter.cutoff == data.DAY + timedelta(hours=12)


def test_settled_and_rolled_up_readings_go_and_the_dashboards_keep_their_totals(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        data.insert_all(conn)
        refresh_rollups(conn)
        settle_meters(conn)
        dry = apply_retention(conn, NINETY_DAYS, dry_run=True)
        assert chunk_count(conn, "meter_reading") == 1
        apply_retention(conn, NINETY_DAYS)
        assert chunk_count(conn, "meter_reading") == 0
        refresh_rollups(conn)  # nothing new arrived: the rollups stay as they were
        totals = dict(conn.execute("SELECT coop_id, energy_wh FROM rollup_coop_daily").fetchall())
    assert {t.table: len(t.chunks) for t in dry.tables} == {
        "meter_reading": 1,
        "bin_reading": 1,
        "device_status": 1,
    }
    assert totals == data.EXPECTED_COOP_WH


@pytest.mark.parametrize("text", ["7d", "30d", "soon", ""])
def test_a_horizon_shorter_than_the_late_data_limit_or_unreadable_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="--older-than"):
        parse_older_than(text)


def test_the_cutoff_is_the_earliest_guard_below_the_horizon() -> None:
    horizon = data.DAY
    assert earliest(horizon, {"a": None}) == (horizon, "horizon")
    assert earliest(horizon, {"a": horizon - timedelta(days=1), "b": horizon - timedelta(days=2)}) == (
        horizon - timedelta(days=2),
        "b",
    )
    assert earliest(horizon, {"a": horizon + timedelta(days=1)}) == (horizon, "horizon")


def test_the_cli_refreshes_and_dry_runs_retention_with_json(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        data.insert_all(conn)
    runner = CliRunner()
    refreshed = runner.invoke(cli, ["--database-url", db_url, "dashboards", "refresh", "--json"])
    assert refreshed.exit_code == 0, refreshed.output
    assert json.loads(refreshed.stdout)["meters"] == 3
    retention = runner.invoke(
        cli,
        ["--database-url", db_url, "dashboards", "retention", "--older-than", "90d", "--dry-run", "--json"],
    )
    assert retention.exit_code == 0, retention.output
    assert json.loads(retention.stdout)["dry_run"] is True
    refused = runner.invoke(cli, ["--database-url", db_url, "dashboards", "retention", "--older-than", "1d"])
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: --older-than 1d")
