"""Each alert rule's SQL, expanded by the macro engine, on the real database: data that must fire it,
data that must not.

A scenario writes rows relative to now (the rules compare with ``now()``), then the rule's
query — as it stands in the provisioned file — runs as a login role in ``circulo_reader``.
The rows it returns are the firing alert instances; the test checks their labels, that the
one number passes the rule's threshold, and that everything else stays quiet. Rules whose
view reads another issue's tables (certificates, replay gaps) get rows in those tables.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from tests.dashboards.panel_runner import as_reader
from tests.factories import add_device, add_quarantine

from circulo.dashboards import alerts
from circulo.dashboards.build import render_alerting
from circulo.dashboards.macros import TimeRange, expand

RULES = {rule.name: rule for rule in alerts.RULES}
PROVISIONED_SQL = {
    rule["uid"]: rule["data"][0]["model"]["rawSql"]
    for group in render_alerting()["circulo-alert-rules.json"]["groups"]
    for rule in group["rules"]
}
LABEL_USE = re.compile(r"\$labels\.(\w+)")
Scenario = Callable[[psycopg.Connection], None]


def ago(**delta: float) -> datetime:
    """A moment before now, taken when the scenario runs (the rules compare with the database's now())."""
    return datetime.now(UTC) - timedelta(**delta)


def state(conn: psycopg.Connection, device_id: str, kind: str, coop: str, **fields: Any) -> None:
    """A device and its device_state row (online, state_changed_at, last_seen_at, last_telemetry_at)."""
    add_device(conn, device_id, kind, coop, status=fields.pop("status", "active"))
    if not fields:  # never heard from: no state row yet
        return
    columns = ", ".join(fields)
    conn.execute(
        f"INSERT INTO device_state (device_id, {columns}) VALUES (%s{', %s' * len(fields)})",  # type: ignore[arg-type]
        (device_id, *fields.values()),
    )


def worker(conn: psycopg.Connection, worker_id: str, watermark: datetime, heartbeat: datetime,
           stopped: datetime | None = None) -> None:  # fmt: skip
    conn.execute(
        "INSERT INTO ingest_worker (worker_id, low_watermark, heartbeat_at, started_at, stopped_at)"
        " VALUES (%s, %s, %s, %s, %s)",
        (worker_id, watermark, heartbeat, ago(days=1), stopped),
    )


# --- scenarios ------------------------------------------------------------------------------------
def silent_devices(conn: psycopg.Connection) -> None:
    worker(conn, "w1", ago(seconds=1), ago(seconds=1))
    state(
        conn,
        "m-silent",
        "meter",
        "sunny",
        online=True,
        last_seen_at=ago(minutes=6),
        last_telemetry_at=ago(minutes=6),
    )
    state(
        conn,
        "m-fine",
        "meter",
        "sunny",
        online=True,
        last_seen_at=ago(minutes=2),
        last_telemetry_at=ago(minutes=2),
    )
    # status keeps arriving, telemetry does not: silent all the same
    state(
        conn,
        "m-status-only",
        "meter",
        "windy",
        online=True,
        last_seen_at=ago(seconds=5),
        last_telemetry_at=ago(minutes=30),
    )
    state(
        conn,
        "b-silent",
        "bin",
        "sunny",
        online=True,
        last_seen_at=ago(minutes=50),
        last_telemetry_at=ago(minutes=50),
    )
    state(
        conn,
        "b-fine",
        "bin",
        "sunny",
        online=True,
        last_seen_at=ago(minutes=30),
        last_telemetry_at=ago(minutes=30),
    )
    state(conn, "r-quiet-week", "repair", "sunny", online=True, last_seen_at=ago(days=7))
    state(
        conn,
        "m-retired",
        "meter",
        "sunny",
        status="retired",
        online=True,
        last_seen_at=ago(days=3),
        last_telemetry_at=ago(days=3),
    )
    state(
        conn,
        "m-offline",
        "meter",
        "sunny",
        online=False,
        state_changed_at=ago(hours=2),
        last_seen_at=ago(hours=2),
        last_telemetry_at=ago(hours=2),
    )
    state(conn, "m-never-seen", "meter", "sunny", status="registered")


def silent_during_an_ingest_outage(conn: psycopg.Connection) -> None:
    """The only worker died an hour ago: W stands still, so nobody is 'silent' because of it."""
    worker(conn, "w1", ago(minutes=60), ago(minutes=60))
    state(
        conn,
        "m-a",
        "meter",
        "sunny",
        online=True,
        last_seen_at=ago(minutes=62),
        last_telemetry_at=ago(minutes=62),
    )
    state(
        conn,
        "b-a",
        "bin",
        "sunny",
        online=True,
        last_seen_at=ago(minutes=70),
        last_telemetry_at=ago(minutes=70),
    )


def offline_devices(conn: psycopg.Connection) -> None:
    state(
        conn,
        "m-gone",
        "meter",
        "sunny",
        online=False,
        state_changed_at=ago(minutes=20),
        last_seen_at=ago(minutes=20),
    )
    state(
        conn, "b-gone", "bin", "windy", online=False, state_changed_at=ago(hours=5), last_seen_at=ago(hours=5)
    )
    state(
        conn,
        "m-rebooting",
        "meter",
        "sunny",
        online=False,
        state_changed_at=ago(minutes=3),
        last_seen_at=ago(minutes=3),
    )
    state(
        conn,
        "m-up",
        "meter",
        "sunny",
        online=True,
        state_changed_at=ago(hours=1),
        last_seen_at=ago(minutes=1),
    )
    state(conn, "m-retired", "meter", "sunny", status="retired", online=False, state_changed_at=ago(days=1))


def seq_samples(conn: psycopg.Connection) -> None:
    rows = [
        ("lossy", ago(minutes=65), 1000, 10), ("lossy", ago(minutes=1), 2000, 60),  # 50 of 1050: 4.8 %
        ("steady", ago(minutes=65), 1000, 10), ("steady", ago(minutes=1), 2000, 15),  # 5 of 1005
        ("tiny", ago(minutes=65), 10, 0), ("tiny", ago(minutes=1), 60, 10),  # 60 expected: too few
        ("stale", ago(minutes=80), 1000, 0), ("stale", ago(minutes=20), 2000, 900),  # newest too old
        ("recovered", ago(minutes=125), 0, 0), ("recovered", ago(minutes=65), 1000, 500),
        ("recovered", ago(minutes=1), 2000, 500),  # lost a lot over an hour ago, nothing since
    ]  # fmt: skip
    for coop, at, received, missing in rows:
        conn.execute("INSERT INTO monitor_seq_sample VALUES (%s, %s, %s, %s)", (coop, at, received, missing))


def quarantined(conn: psycopg.Connection) -> None:
    add_device(conn, "m-broken-fw", "meter", "sunny", status="active")
    add_device(conn, "m-noisy", "meter", "windy", status="active")
    for n in range(25):  # a new firmware sends bad payloads
        add_quarantine(conn, "m-broken-fw", "circulo/v1/meter/m-broken-fw/telemetry", "schema",
                       received_at=ago(minutes=10, seconds=n))  # fmt: skip
    for n in range(25):  # as noisy as always: 500 a day is ~5 per 15 minutes, 25 is 5 x that
        add_quarantine(
            conn, "m-noisy", "circulo/v1/meter/m-noisy/x", "topic", received_at=ago(minutes=5, seconds=n)
        )
    for n in range(500):
        add_quarantine(conn, "m-noisy", "circulo/v1/meter/m-noisy/x", "topic",
                       received_at=ago(hours=23) + timedelta(seconds=n * 150))  # fmt: skip
    for n in range(30):  # a device nobody registered yet
        add_quarantine(
            conn,
            None,
            "circulo/v1/bin/ghost/telemetry",
            "unknown_device",
            received_at=ago(minutes=2, seconds=n),
        )
    for n in range(10):  # a few: not a spike
        add_quarantine(
            conn,
            "m-broken-fw",
            "circulo/v1/meter/m-broken-fw/event",
            "conflict",
            received_at=ago(minutes=3, seconds=n),
        )


def meter_hours(conn: psycopg.Connection, device_id: str, first: datetime, hours: int) -> None:
    for h in range(hours):
        conn.execute(
            "INSERT INTO rollup_meter_hourly VALUES (%s, %s, 100, 60, 0, 6000, 150, 100, %s, %s)",
            (device_id, first + timedelta(hours=h), 1000 + 100 * h, first + timedelta(hours=h, minutes=59)),
        )


def settlements(conn: psycopg.Connection) -> None:
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for coop, first_hour, settled_through in (
        ("stuck", this_hour - timedelta(hours=6), this_hour - timedelta(hours=5)),
        ("current", this_hour - timedelta(hours=6), this_hour - timedelta(hours=1)),
        ("new", this_hour - timedelta(hours=1), None),
        ("never", this_hour - timedelta(hours=5), None),
    ):
        device_id = f"m-{coop}"
        add_device(conn, device_id, "meter", coop, status="active")
        meter_hours(conn, device_id, first_hour, 5)
        if settled_through is not None:
            conn.execute("INSERT INTO reward_green_progress (coop_id, settled_through) VALUES (%s, %s)",
                         (coop, settled_through))  # fmt: skip
    add_device(conn, "m-retired", "meter", "retired-only", status="retired")
    meter_hours(conn, "m-retired", this_hour - timedelta(hours=8), 2)


def lagging_watermark(conn: psycopg.Connection) -> None:
    worker(conn, "w1", ago(minutes=10), ago(seconds=2))
    worker(conn, "w2", ago(seconds=1), ago(seconds=1))


def fresh_watermark(conn: psycopg.Connection) -> None:
    worker(conn, "w1", ago(seconds=20), ago(seconds=2))
    worker(conn, "w-old", ago(days=2), ago(days=2), stopped=ago(days=2))


def workers(conn: psycopg.Connection) -> None:
    worker(conn, "w-crashed", ago(minutes=5), ago(minutes=5))
    worker(conn, "w-stopped", ago(minutes=5), ago(minutes=5), stopped=ago(minutes=5))
    worker(conn, "w-fine", ago(seconds=1), ago(seconds=1))


def ledger(conn: psycopg.Connection, times: list[datetime], checkpoint_size: int | None) -> None:
    key_id = "00112233aabbccdd"
    conn.execute("INSERT INTO ledger_signing_key (key_id, public_key) VALUES (%s, %s)", (key_id, "ab" * 32))
    prev = "0" * 64
    for seq, ts in enumerate(times, start=1):
        entry_hash = hashlib.sha256(f"{prev}{seq}".encode()).hexdigest()
        conn.execute(
            "INSERT INTO ledger_entry (seq, ts, kind, token, account, amount_micro, reason, settlement_id,"
            " sources, policy, idempotency_key, key_id, prev_hash, hash, sig, format)"
            " VALUES (%s, %s, 'mint', 'GRN', 'treasury@sunny', 1000, 'green.energy', %s, '[]', 'v1', %s, %s,"
            " %s, %s, %s, 2)",
            (seq, ts, f"green:sunny:{seq}", hashlib.sha256(f"i{seq}".encode()).hexdigest(), key_id, prev,
             entry_hash, "cd" * 64),
        )  # fmt: skip
        prev = entry_hash
    conn.execute("UPDATE ledger_head SET seq = %s, hash = %s, key_id = %s", (len(times), prev, key_id))
    if checkpoint_size is not None:
        conn.execute(
            "INSERT INTO ledger_checkpoint (size, root, ts, key_id, sig) VALUES (%s, %s, 'x', %s, %s)",
            (checkpoint_size, "ef" * 32, key_id, "cd" * 64),
        )


def uncovered_entries(conn: psycopg.Connection) -> None:
    ledger(conn, [ago(hours=5), ago(hours=4), ago(hours=3)], checkpoint_size=1)


def covered_entries(conn: psycopg.Connection) -> None:
    ledger(conn, [ago(hours=5), ago(hours=4), ago(minutes=30)], checkpoint_size=2)  # one waits 30 min


def broker_samples(conn: psycopg.Connection) -> None:
    for broker, at, stored, retained in (
        ("mosquitto-1", ago(minutes=1), 151_000, 1_000),
        ("mosquitto-1", ago(minutes=2), 90_000, 1_000),
        ("mosquitto-2", ago(minutes=1), 5_000, 4_000),
        ("mosquitto-3", ago(minutes=12), 900_000, 1_000),  # huge but stale: the stale rule's
    ):
        conn.execute(
            "INSERT INTO monitor_broker_sample VALUES (%s, %s, %s, %s, 10)", (broker, at, stored, retained)
        )


def certificates(conn: psycopg.Connection) -> None:
    """What `circulo pki` mirrors (migration 0012's views read it): certificates with their expiry,
    one revoked, one of a retired device, and the latest CRL a day from its nextUpdate."""
    now = datetime.now(UTC)
    conn.execute("INSERT INTO coop (coop_id, name) VALUES ('sunny', 'Sunny')")
    for device_id, status in (("m-1", "active"), ("m-old", "retired")):
        conn.execute("INSERT INTO device (device_id, kind, coop_id, status, rated_power_w, retired_at)"
                     " VALUES (%s, 'meter', 'sunny', %s, 100, %s)",
                     (device_id, status, now if status == "retired" else None))  # fmt: skip
    for n, (kind, name, days, revoked) in enumerate((
        ("issuing", "Sunny issuing CA", 30, False), ("root", "Sunny root CA", 6000, False),
        ("server", "broker", 60, False), ("server", "postgres", 10, False),
        ("device", "m-1", 20, False), ("device", "m-1", 5, True), ("device", "m-old", 3, False),
    )):  # fmt: skip
        conn.execute(
            "INSERT INTO pki_certificate (serial, kind, name, subject, sha256, not_before, not_after,"
            " revoked_at, revocation_reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (format(n + 1, "x"), kind, name, f"CN={name}", "0" * 64, now - timedelta(days=n + 1),
             now + timedelta(days=days), now if revoked else None, "superseded" if revoked else None),
        )  # fmt: skip
    for number, days in ((6, -5), (7, 1)):  # the older CRL is not the current one
        times = (now + timedelta(days=days - 7), now + timedelta(days=days))
        conn.execute("INSERT INTO pki_crl VALUES (%s, %s, %s, %s, 0, now())", (number, "0" * 64, *times))


def replay_gaps(conn: psycopg.Connection) -> None:
    """Replay gaps as the ingest records them (migration 0014), read through dashboards.replay_gap."""
    for device_id, coop in (("m-1", "sunny"), ("m-2", "sunny"), ("m-3", "windy"), ("m-4", "windy")):
        add_device(conn, device_id, "meter", coop)
    gaps = (  # device, from_seq, missing, state, opened, closed (minutes ago), lost_reason
        ("m-1", 10, 3, "requested", 30, None, None),  # pending 30 min: fires
        ("m-1", 20, 2, "open", 20, None, None),
        ("m-2", 10, 1, "requested", 2, None, None),  # pending 2 min: not yet
        ("m-2", 30, 0, "recovered", 50, 40, None),  # recovered: fine
        ("m-3", 10, 4, "lost", 120, 30, "unavailable"),  # final loss in the last hour: fires
        ("m-4", 10, 5, "lost", 180, 90, "timeout"),  # final loss, but over an hour ago
    )
    for device_id, from_seq, missing, gap_state, opened, closed, reason in gaps:
        conn.execute(
            "INSERT INTO replay_gap (device_id, epoch, from_seq, to_seq, missing, after_received_at,"
            " opened_at, state, closed_at, lost_reason) VALUES (%s, 1, %s, %s, %s, %s, %s, %s, %s, %s)",
            (device_id, from_seq, from_seq + 4, missing, ago(minutes=opened), ago(minutes=opened), gap_state,
             None if closed is None else ago(minutes=closed), reason),
        )  # fmt: skip


# (rule, scenario, label sets that fire: the string columns of each row, in column order)
CASES: list[tuple[str, Scenario, set[tuple[str, ...]]]] = [
    ("device_silent", silent_devices,
     {("m-silent", "sunny", "meter"), ("m-status-only", "windy", "meter"), ("b-silent", "sunny", "bin")}),
    ("device_silent", silent_during_an_ingest_outage, set()),
    ("device_offline", offline_devices, {("m-gone", "sunny", "meter"), ("b-gone", "windy", "bin")}),
    ("message_loss", seq_samples, {("lossy",)}),
    ("quarantine_spike", quarantined, {("sunny", "schema"), ("(none)", "unknown_device")}),
    ("settlement_stalled", settlements, {("stuck",), ("never",)}),
    ("watermark_lag", lagging_watermark, {()}),
    ("watermark_lag", fresh_watermark, set()),
    ("ingest_worker_down", workers, {("w-crashed",)}),
    ("checkpoint_overdue", uncovered_entries, {()}),
    ("checkpoint_overdue", covered_entries, set()),
    ("broker_queue", broker_samples, {("mosquitto-1",)}),
    ("broker_samples_stale", broker_samples, {("mosquitto-3",)}),
    ("certificate_expiry", certificates,
     {("m-1", "device"), ("CRL 7", "crl"), ("Sunny issuing CA", "ca"), ("postgres", "server")}),
    ("replay_gap_open", replay_gaps, {("m-1", "sunny", "pending"), ("m-3", "windy", "lost")}),
]  # fmt: skip


def rule_sql(rule: alerts.AlertRule) -> str:
    """The query as provisioned (pending rules: as it will be), expanded as Grafana's data source does."""
    raw = PROVISIONED_SQL.get(rule.uid, rule.sql)
    now = datetime.now(UTC)
    window = TimeRange(now - timedelta(seconds=rule.window_s), now)
    return expand(raw, window, interval=timedelta(minutes=1), timescaledb=True)


def evaluate(db_url: str, reader_role: str, rule: alerts.AlertRule) -> list[tuple[tuple[str, ...], Any]]:
    """Run the rule as the reader: (labels, value) per row, checking Grafana's numeric-data shape."""
    with as_reader(db_url, reader_role) as conn:
        cursor = conn.execute(rule_sql(rule))  # type: ignore[call-overload]  # the rule's fixed SQL
        names = [column.name for column in cursor.description or []]
        found = cursor.fetchall()
    numeric = (
        [i for i, row_value in enumerate(found[0]) if isinstance(row_value, int | float | Decimal)]
        if found
        else []
    )
    if found:
        assert len(numeric) == 1, f"{rule.name}: exactly one numeric column, got {names}"
        labels_used = set(LABEL_USE.findall(rule.summary + rule.action))
        assert labels_used <= {n for i, n in enumerate(names) if i != numeric[0]}, names
    result = [
        (tuple(str(v) for i, v in enumerate(row) if i not in numeric), row[numeric[0]]) for row in found
    ]
    assert len({labels for labels, _ in result}) == len(result), f"{rule.name}: label sets must be unique"
    return result


@pytest.mark.parametrize(
    ("name", "scenario", "firing"), CASES, ids=[f"{n}:{s.__name__}" for n, s, _ in CASES]
)
def test_each_rule_fires_for_exactly_the_rows_that_are_wrong_and_each_row_passes_its_threshold(
    db_url: str, reader_role: str, name: str, scenario: Scenario, firing: set[tuple[str, ...]]
) -> None:
    rule = RULES[name]
    with psycopg.connect(db_url) as conn:
        scenario(conn)
    result = evaluate(db_url, reader_role, rule)
    assert {labels for labels, _ in result} == firing
    assert all(float(value) > rule.threshold for _, value in result)


def test_one_device_recovering_clears_its_own_alert_and_leaves_the_others_firing(
    db_url: str, reader_role: str
) -> None:
    with psycopg.connect(db_url) as conn:
        offline_devices(conn)
    assert {labels for labels, _ in evaluate(db_url, reader_role, RULES["device_offline"])} == {
        ("m-gone", "sunny", "meter"), ("b-gone", "windy", "bin")}  # fmt: skip
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE device_state SET online = true, state_changed_at = now() WHERE device_id = 'm-gone'"
        )
    assert {labels for labels, _ in evaluate(db_url, reader_role, RULES["device_offline"])} == {
        ("b-gone", "windy", "bin")}  # fmt: skip


@pytest.mark.parametrize("name", sorted(RULES))
def test_with_no_data_at_all_every_rule_returns_no_row_so_no_data_is_ok(
    db_url: str, reader_role: str, name: str
) -> None:
    assert evaluate(db_url, reader_role, RULES[name]) == []
