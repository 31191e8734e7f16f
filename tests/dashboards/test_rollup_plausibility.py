"""The hourly rollup applies the SPEC §4 plausibility rule, as the rewards engine does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from tests.support import register, scalar

from circulo.dashboards.rollups import refresh_rollups

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_a_step_no_panel_could_produce_counts_no_energy_in_the_rollups(db_url: str) -> None:
    register(db_url, [("m1", "meter")])  # rated 5,000 W: at most 5,500 Wh an hour, +1 Wh
    readings = [
        (T0, 1000),
        (T0 + timedelta(minutes=1), 1080),  # 80 Wh in a minute: plausible
        (T0 + timedelta(minutes=2), 90_000),  # 88,920 Wh in a minute: impossible
        (T0 + timedelta(minutes=3), 90_050),
    ]  # 50 Wh: plausible again
    with psycopg.connect(db_url, autocommit=True) as conn:
        for ts, wh in readings:
            conn.execute(
                "INSERT INTO meter_reading (device_id, ts, received_at, seq, energy_wh, power_w, "
                "payload_sha256) VALUES ('m1', %s, %s, 0, %s, 1000, '\\x00')",
                (ts, ts, wh),
            )
        refresh_rollups(conn, since=T0 - timedelta(days=1))
    assert scalar(db_url, "SELECT energy_wh FROM rollup_meter_hourly WHERE device_id = 'm1'") == 130
