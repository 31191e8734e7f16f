"""`circulo quarantine list / replay` against the real ingest's quarantine."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psycopg
from tests.support import IngestProcess, Publisher, payload, register, rows, scalar, wait_for

NOW = datetime.now(UTC).replace(microsecond=0)


def circulo(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "circulo", "--database-url", db_url, *args],
        capture_output=True,
        text=True,
        check=False,
    )


def reading(minutes_ago: int, energy: int) -> bytes:
    return payload(
        ts=(NOW - timedelta(minutes=minutes_ago)).isoformat(), seq=energy, energy_wh=energy, power_w=1
    )


def test_list_shows_the_spec_fields_and_replay_stores_messages_of_a_device_registered_later(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    with Publisher(service_mqtt_url) as pub:
        pub.publish_all([("circulo/v1/meter/late1/telemetry", reading(m, 100 + m)) for m in (30, 20, 10)])
        pub.publish_all([("circulo/v1/meter/late1/telemetry", b"{broken")])
    wait_for(lambda: scalar(db_url, "SELECT count(*) FROM quarantine") == 4, what="four quarantined")

    listed = circulo(db_url, "quarantine", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert {"id", "received_at", "topic", "reason", "detail"} <= set(entries[0])
    assert sorted(e["reason"] for e in entries) == ["unknown_device"] * 4

    register(db_url, [("late1", "meter")])
    replayed = circulo(db_url, "quarantine", "replay", "--json")
    assert replayed.returncode == 0, replayed.stderr
    report = json.loads(replayed.stdout)
    assert report == {
        "examined": 4,
        "stored": 3,
        "duplicate": 0,
        "ignored": 0,
        "still_quarantined": {"not_json": 1},
    }
    assert [r[0] for r in rows(db_url, "SELECT energy_wh FROM meter_reading ORDER BY ts")] == [130, 120, 110]
    assert scalar(db_url, "SELECT count(*) FROM quarantine WHERE replayed_at IS NULL") == 1

    again = circulo(db_url, "quarantine", "replay", "--json")
    assert json.loads(again.stdout)["stored"] == 0, "a replayed message is not replayed twice"


def test_replay_judges_time_limits_by_the_original_receipt_time(db_url: str) -> None:
    received = NOW - timedelta(days=29, hours=23)
    ts = received - timedelta(minutes=1)
    body = payload(ts=ts.isoformat(), seq=1, energy_wh=5, power_w=1)
    register(db_url, [("early1", "meter")])
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO quarantine (received_at, topic, payload, reason, detail, device_id, key_sha256) "
            "VALUES (%s, 'circulo/v1/meter/early1/telemetry', %s, 'unknown_device', '', 'early1', '\\x01')",
            (received, body),
        )
    done = circulo(db_url, "quarantine", "replay", "--json")
    assert json.loads(done.stdout)["stored"] == 1, "29 days old at receipt: within the 30-day limit"


def test_list_on_an_unreachable_database_is_one_clear_line() -> None:
    done = circulo("postgresql://nobody@127.0.0.1:1/none", "quarantine", "list")
    assert done.returncode != 0
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
