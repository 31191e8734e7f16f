"""Every SPEC §3 outcome, produced by a real message through the real broker and ingest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tests.support import IngestProcess, Publisher, payload, register, rows, scalar, wait_for

NOW = datetime.now(UTC).replace(microsecond=0)


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def meter(seq: int = 1, ts: datetime = NOW, energy: int = 1000, **extra: object) -> bytes:
    return payload(ts=iso(ts), seq=seq, energy_wh=energy, power_w=250.5, **extra)


def total_outcomes(db_url: str) -> int:
    return int(
        scalar(
            db_url,
            "SELECT (SELECT count(*) FROM meter_reading) + (SELECT count(*) FROM bin_reading)"
            " + (SELECT count(*) FROM bin_event) + (SELECT count(*) FROM repair_event)"
            " + (SELECT count(*) FROM device_status) + (SELECT count(*) FROM quarantine)",
        )
    )


QUARANTINE_CASES = [
    ("topic", "circulo/v1/meter/m1/config", meter()),
    ("topic", "circulo/v1/toaster/m1/telemetry", meter()),
    ("unknown_device", "circulo/v1/meter/ghost/telemetry", meter()),
    ("retired_device", "circulo/v1/meter/old1/telemetry", meter()),
    ("kind_mismatch", "circulo/v1/bin/m1/telemetry", payload(ts=iso(NOW), seq=1, fill_pct=10, weight_kg=1)),
    ("too_large", "circulo/v1/meter/m1/telemetry", meter(voltage_v=230, pad=None) + b" " * 9000),
    ("not_utf8", "circulo/v1/meter/m1/telemetry", b'{"v":1,"ts":"\xff"}'),
    ("not_json", "circulo/v1/meter/m1/telemetry", b"{not json"),
    ("schema", "circulo/v1/meter/m1/telemetry", payload(ts=iso(NOW), seq=1, energy_wh=-5, power_w=1)),
    ("schema", "circulo/v1/meter/m1/telemetry", meter(wieght_kg=1)),
    # NOW is fixed at collection, minutes before the test runs: lead by hours, not minutes
    ("clock_skew", "circulo/v1/meter/m1/telemetry", meter(ts=NOW + timedelta(hours=6))),
    ("too_old", "circulo/v1/meter/m1/telemetry", meter(ts=NOW - timedelta(days=31))),
]


@pytest.mark.parametrize(
    ("reason", "topic", "body"), QUARANTINE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(QUARANTINE_CASES)]
)
def test_each_rejected_message_lands_in_the_quarantine_with_its_reason(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str, reason: str, topic: str, body: bytes
) -> None:
    register(db_url, [("m1", "meter"), ("old1", "meter")], retired=["old1"])
    with Publisher(service_mqtt_url) as pub:
        pub.publish_all([(topic, body)])
    found = wait_for(
        lambda: rows(db_url, "SELECT reason, detail, topic, payload FROM quarantine"),
        what="the quarantined row",
    )
    assert len(found) == 1
    got_reason, detail, got_topic, raw = found[0]
    assert got_reason == reason, detail
    assert detail
    assert got_topic == topic
    assert bytes(raw) == body, "the quarantine keeps the raw bytes"
    assert total_outcomes(db_url) == 1


def test_a_schema_rejection_names_the_field(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("m1", "meter")])
    with Publisher(service_mqtt_url) as pub:
        pub.publish_all([("circulo/v1/meter/m1/telemetry", meter(wieght_kg=1))])
    detail = wait_for(lambda: scalar(db_url, "SELECT detail FROM quarantine"), what="quarantine")
    assert "wieght_kg" in detail


def test_valid_messages_of_every_type_land_in_their_tables_with_their_values(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("m1", "meter"), ("b1", "bin"), ("r1", "repair")])
    messages = [
        ("circulo/v1/meter/m1/telemetry", meter(seq=7, energy=123456, voltage_v=231.5)),
        (
            "circulo/v1/bin/b1/telemetry",
            payload(ts=iso(NOW), seq=1, fill_pct=42.5, weight_kg=12.345, battery_pct=88, rssi_dbm=-71),
        ),
        (
            "circulo/v1/bin/b1/event",
            payload(
                ts=iso(NOW),
                seq=2,
                type="deposit",
                event_id="d-1",
                material="pet",
                weight_g=420,
                account="alice",
                items=3,
            ),
        ),
        (
            "circulo/v1/bin/b1/event",
            payload(
                ts=int(NOW.timestamp() * 1000),
                seq=3,
                type="collection",
                event_id="c-1",
                weight_kg=0.1,
                collector="truck-7",
            ),
        ),
        (
            "circulo/v1/repair/r1/event",
            payload(
                ts=iso(NOW),
                seq=1,
                type="repair",
                event_id="rep-1",
                category="Kettle",
                status="fixed",
                weight_kg=1.25,
                owner="bob",
                repairer="carol",
            ),
        ),
        ("circulo/v1/meter/m1/status", payload(state="online", fw="1.2.3")),
    ]
    with Publisher(service_mqtt_url) as pub:
        pub.publish_all(messages)
    wait_for(lambda: total_outcomes(db_url) == 6, what="six stored rows")
    assert rows(db_url, "SELECT device_id, ts, seq, energy_wh, power_w, voltage_v FROM meter_reading") == [
        ("m1", NOW, 7, 123456, 250.5, 231.5)
    ]
    assert rows(db_url, "SELECT fill_pct, weight_g, battery_pct, rssi_dbm FROM bin_reading") == [
        (42.5, 12345, 88.0, -71.0)
    ]
    assert rows(
        db_url,
        "SELECT event_id, type, material, weight_g, account, items, contaminated, collector "
        "FROM bin_event ORDER BY event_id",
    ) == [
        ("c-1", "collection", None, 100, None, None, False, "truck-7"),
        ("d-1", "deposit", "pet", 420, "alice", 3, False, None),
    ]
    assert rows(db_url, "SELECT category, status, weight_g, owner, repairer FROM repair_event") == [
        ("Kettle", "fixed", 1250, "bob", "carol")
    ]
    assert rows(db_url, "SELECT state, fw FROM device_status") == [("online", "1.2.3")]
    assert rows(db_url, "SELECT online, fw, seq_received FROM device_state WHERE device_id = 'm1'") == [
        (True, "1.2.3", 1)
    ]
    assert scalar(db_url, "SELECT count(*) FROM quarantine") == 0


def test_a_repair_event_keeps_its_brand_year_and_barrier(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("r1", "repair")])
    body = payload(
        ts=iso(NOW),
        seq=1,
        type="repair",
        event_id="rep-eol",
        category="Toaster",
        status="end_of_life",
        weight_kg=1.5,
        age_years=12.5,
        brand="Dualit",
        year_of_manufacture=2012,
        barrier="spare_parts_not_available",
    )
    with Publisher(service_mqtt_url) as pub:
        pub.publish_all([("circulo/v1/repair/r1/event", body)])
    wait_for(lambda: total_outcomes(db_url) == 1, what="the stored repair")
    assert rows(
        db_url, "SELECT status, age_years, brand, year_of_manufacture, barrier FROM repair_event"
    ) == [("end_of_life", Decimal("12.5"), "Dualit", 2012, "spare_parts_not_available")]


def test_the_same_message_published_three_times_is_stored_once(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("m1", "meter"), ("b1", "bin"), ("sentinel", "meter")])
    reading = ("circulo/v1/meter/m1/telemetry", meter())
    deposit = (
        "circulo/v1/bin/b1/event",
        payload(ts=iso(NOW), seq=1, type="deposit", event_id="d-1", material="glass", weight_g=500),
    )
    bad = ("circulo/v1/meter/m1/telemetry", b"{oops")
    with Publisher(service_mqtt_url) as pub:
        for _ in range(3):
            pub.publish_all([reading, deposit, bad])
        # delivered in order: once the sentinel is stored, the nine before it are decided
        pub.publish_all([("circulo/v1/meter/sentinel/telemetry", meter())])
    wait_for(
        lambda: scalar(db_url, "SELECT count(*) FROM meter_reading WHERE device_id = 'sentinel'"),
        what="the sentinel",
    )
    assert scalar(db_url, "SELECT count(*) FROM meter_reading WHERE device_id = 'm1'") == 1
    assert scalar(db_url, "SELECT count(*) FROM bin_event") == 1
    assert scalar(db_url, "SELECT count(*) FROM quarantine") == 1


def test_a_reused_key_with_another_payload_is_quarantined_as_a_conflict(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("m1", "meter"), ("b1", "bin")])
    first = payload(ts=iso(NOW), seq=1, type="deposit", event_id="d-1", material="pet", weight_g=100)
    reused = payload(
        ts=iso(NOW + timedelta(seconds=5)),
        seq=1,
        type="deposit",
        event_id="d-1",
        material="pet",
        weight_g=900,
    )
    with Publisher(service_mqtt_url) as pub:
        pub.publish_all(
            [("circulo/v1/bin/b1/event", first), ("circulo/v1/meter/m1/telemetry", meter(energy=1))]
        )
        wait_for(lambda: total_outcomes(db_url) == 2, what="first two rows")
        pub.publish_all(
            [("circulo/v1/bin/b1/event", reused), ("circulo/v1/meter/m1/telemetry", meter(energy=2))]
        )
    wait_for(lambda: len(rows(db_url, "SELECT 1 FROM quarantine")) == 2, what="two conflicts")
    found = rows(db_url, "SELECT reason, payload FROM quarantine ORDER BY id")
    assert [r[0] for r in found] == ["conflict", "conflict"]
    assert json.loads(bytes(found[0][1]))["weight_g"] == 900
    assert rows(db_url, "SELECT weight_g FROM bin_event") == [(100,)]
    assert rows(db_url, "SELECT energy_wh FROM meter_reading") == [(1,)]


def test_status_is_stored_when_it_changes_state_and_a_repeat_is_a_duplicate(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("m1", "meter")])
    topic = "circulo/v1/meter/m1/status"
    states = ["online", "online", "offline", "offline", "online"]
    with Publisher(service_mqtt_url) as pub:
        for i, state in enumerate(states):
            pub.publish_all([(topic, payload(state=state, seq=i, ts=iso(NOW + timedelta(seconds=i))))])
    wait_for(
        lambda: scalar(db_url, "SELECT seq_received FROM device_state WHERE device_id='m1'") == 3,
        what="three stored status changes",
    )
    assert [r[0] for r in rows(db_url, "SELECT state FROM device_status ORDER BY ts")] == [
        "online",
        "offline",
        "online",
    ]
    assert scalar(db_url, "SELECT online FROM device_state WHERE device_id = 'm1'") is True


def test_seq_gaps_are_counted_as_missing_messages(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("m1", "meter")])
    seqs = [1, 2, 5, 6, 4]  # 3 is lost; 4 arrives late and fills its gap
    with Publisher(service_mqtt_url) as pub:
        pub.publish_all(
            [
                ("circulo/v1/meter/m1/telemetry", meter(seq=s, ts=NOW - timedelta(minutes=10 - s)))
                for s in seqs
            ]
        )
    wait_for(lambda: scalar(db_url, "SELECT seq_received FROM device_state") == 5, what="five readings")
    assert rows(db_url, "SELECT last_seq, seq_missing FROM device_state") == [(6, 1)]
