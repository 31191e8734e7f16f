"""Through the real pipeline: MQTT → ``circulo ingest`` → rollups → the energy panels' SQL.

The fixture day's meter readings (a counter reset, a three-hour gap) are published at
QoS 1 for the day before now (the ingest refuses data older than 30 days), stored by a
real ingest worker, rolled up up to its low watermark, and read back through the
dashboards' SQL as the read-only role: the totals are exact.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
from tests.dashboards import dashboard_data as data
from tests.dashboards.panel_runner import as_reader, grafana_sql, panel_sql, run, scope, single_value
from tests.support import IngestProcess, Publisher, wait_for

from circulo.dashboards.macros import TimeRange
from circulo.dashboards.rollups import refresh_rollups


def shifted_day() -> datetime:
    """Midnight UTC two days ago: inside the ingest's 30-day window, wholly in the past."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)


def telemetry(reading: data.MeterReading, day: datetime) -> tuple[str, bytes]:
    ts = day + (reading.ts - data.DAY)
    body = {
        "v": 1,
        "ts": ts.isoformat(),
        "seq": reading.seq,
        "energy_wh": reading.energy_wh,
        "power_w": reading.power_w,
    }
    return f"circulo/v1/meter/{reading.device_id}/telemetry", json.dumps(body).encode()


def rolled_up_wh(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        refresh_rollups(conn)
        row = conn.execute("SELECT COALESCE(sum(energy_wh), 0) FROM rollup_coop_hourly").fetchone()
    return int(row[0]) if row else 0


def test_readings_through_the_real_ingest_come_out_of_the_panels_exactly(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str, reader_role: str
) -> None:
    with psycopg.connect(db_url) as conn:
        data.insert_registry(conn)
    day = shifted_day()
    readings = data.meter_readings()
    with Publisher(service_mqtt_url) as publisher:
        publisher.publish_all(telemetry(r, day) for r in readings)
    total_wh = sum(data.EXPECTED_COOP_WH.values())
    wait_for(lambda: rolled_up_wh(db_url) == total_wh, timeout=60, what="rollups to hold every reading")
    day_range = TimeRange(day, day + timedelta(days=1) - timedelta(milliseconds=1))
    with as_reader(db_url, reader_role) as conn:
        energy = single_value(conn, "circulo-energy", "Energy in range", scope("hour", time_range=day_range))
        _names, rows = run(
            conn,
            grafana_sql(
                panel_sql("circulo-energy", "Co-op energy per $resolution"),
                scope("day", time_range=day_range),
            ),
        )
        reporting = single_value(
            conn, "circulo-energy", "Meters reporting", scope("hour", time_range=day_range)
        )
    assert energy == Decimal(total_wh) / 1000
    assert {row[1]: row[2] for row in rows} == {
        c: Decimal(wh) / 1000 for c, wh in data.EXPECTED_COOP_WH.items()
    }
    assert reporting == len(data.METERS)
