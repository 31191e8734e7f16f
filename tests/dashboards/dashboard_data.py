"""SQL factories for the dashboards' tests: a co-op day with meter resets, gaps and late data.

The known totals are by construction (see ``EXPECTED_*``): each meter's counter climbs a
fixed step per 15-minute reading; ``m-sunny-1`` is reset to 0 at noon (that delta credits
nothing), ``m-sunny-2`` is silent from 06:00 to 08:45 (the 09:00 reading carries the gap's
energy), ``m-windy-1`` is regular.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

DAY = datetime(2026, 6, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)
READINGS_PER_DAY = 96
RECEIPT_DELAY = timedelta(seconds=2)


@dataclass(frozen=True)
class MeterReading:
    device_id: str
    ts: datetime
    energy_wh: int
    power_w: float
    seq: int

    @property
    def received_at(self) -> datetime:
        return self.ts + RECEIPT_DELAY


COOPS = {"sunny": "Sunny Roofs Co-op", "windy": "Windy Hill Energy"}
METERS = {  # device_id: (coop, rated W, step Wh)
    "m-sunny-1": ("sunny", 5000, 100),
    "m-sunny-2": ("sunny", 3000, 50),
    "m-windy-1": ("windy", 8000, 200),
}
BINS = {  # device_id: (coop, lat, lon, location)
    "b-sunny-1": ("sunny", 52.37, 4.89, "Market square"),
    "b-sunny-2": ("sunny", 52.36, 4.90, "School gate"),
}
REPAIR_STATIONS = {"r-sunny-1": "sunny"}

EXPECTED_WH = {"m-sunny-1": 47 * 100 + 47 * 100, "m-sunny-2": 95 * 50, "m-windy-1": 95 * 200}
EXPECTED_COOP_WH = {
    "sunny": EXPECTED_WH["m-sunny-1"] + EXPECTED_WH["m-sunny-2"],
    "windy": EXPECTED_WH["m-windy-1"],
}
GAP = range(24, 36)  # m-sunny-2 readings missing: 06:00 .. 08:45
RESET_AT = 48  # m-sunny-1 reading index where the counter restarts at 0


def sha(*parts: object) -> bytes:
    return hashlib.sha256("|".join(map(str, parts)).encode()).digest()


def meter_readings() -> list[MeterReading]:
    """The day's readings of every meter, in time order."""
    readings = []
    for device_id, (_coop, _rated, step) in METERS.items():
        for k in range(READINGS_PER_DAY):
            if device_id == "m-sunny-2" and k in GAP:
                continue
            energy = 1000 + step * k
            if device_id == "m-sunny-1":
                energy = 1000 + step * k if k < RESET_AT else step * (k - RESET_AT)
            readings.append(MeterReading(device_id, DAY + k * STEP, energy, float(step * 4), k))
    return readings


def insert_registry(conn: psycopg.Connection) -> None:
    """Co-ops, members and devices."""
    for coop_id, name in COOPS.items():
        conn.execute("INSERT INTO coop (coop_id, name) VALUES (%s, %s)", (coop_id, name))
    for account, shares in (("ana@sunny", 3), ("ben@sunny", 1)):
        conn.execute(
            "INSERT INTO member (coop_id, account, shares) VALUES ('sunny', %s, %s)", (account, shares)
        )
    for device_id, (coop, rated, _step) in METERS.items():
        conn.execute(
            "INSERT INTO device (device_id, kind, coop_id, status, rated_power_w, location_name)"
            " VALUES (%s, 'meter', %s, 'active', %s, %s)",
            (device_id, coop, rated, f"Roof {device_id}"),
        )
    for device_id, (coop, lat, lon, place) in BINS.items():
        conn.execute(
            "INSERT INTO device (device_id, kind, coop_id, status, lat, lon, location_name, capacity_kg)"
            " VALUES (%s, 'bin', %s, 'active', %s, %s, %s, 120)",
            (device_id, coop, lat, lon, place),
        )
    for device_id, coop in REPAIR_STATIONS.items():
        conn.execute(
            "INSERT INTO device (device_id, kind, coop_id, status, location_name)"
            " VALUES (%s, 'repair', %s, 'active', 'Repair café')",
            (device_id, coop),
        )


def insert_meter_readings(
    conn: psycopg.Connection, readings: list[MeterReading], *, received_at: datetime | None = None
) -> None:
    """Readings as the ingest stores them (receipt time = ts + 2 s unless given)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO meter_reading (device_id, ts, received_at, seq, energy_wh, power_w, payload_sha256)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (r.device_id, r.ts, received_at or r.received_at, r.seq, r.energy_wh, r.power_w, sha(r))
                for r in readings
            ],
        )


def insert_bin_day(conn: psycopg.Connection) -> None:
    """Hourly bin telemetry, deposits and a collection per bin (b-sunny-2's fails mass balance)."""
    for device_id in BINS:
        for hour in range(24):
            ts = DAY + timedelta(hours=hour)
            conn.execute(
                "INSERT INTO bin_reading (device_id, ts, received_at, seq, fill_pct, weight_g, battery_pct,"
                " rssi_dbm, payload_sha256) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    device_id,
                    ts,
                    ts + RECEIPT_DELAY,
                    hour,
                    2.0 * hour,
                    1000 * hour,
                    90.0 - hour,
                    -70.0,
                    sha(device_id, ts),
                ),
            )
    deposits = [  # (device, event, hour, material, grams, account, contaminated)
        ("b-sunny-1", "d1", 8, "pet", 1200, "ana@sunny", False),
        ("b-sunny-1", "d2", 9, "aluminium", 800, "ben@sunny", False),
        ("b-sunny-1", "d3", 10, "glass", 3000, None, True),
        ("b-sunny-2", "d1", 11, "paper", 5000, "ana@sunny", False),
    ]
    for device_id, event_id, hour, material, grams, account, contaminated in deposits:
        ts = DAY + timedelta(hours=hour, minutes=5)
        conn.execute(
            "INSERT INTO bin_event (device_id, event_id, type, ts, received_at, seq, material, weight_g,"
            " account, contaminated, payload_sha256)"
            " VALUES (%s, %s, 'deposit', %s, %s, 100, %s, %s, %s, %s, %s)",
            (
                device_id,
                event_id,
                ts,
                ts + RECEIPT_DELAY,
                material,
                grams,
                account,
                contaminated,
                sha(event_id),
            ),
        )
    for device_id, collected_g in (("b-sunny-1", 5000), ("b-sunny-2", 2000)):
        ts = DAY + timedelta(hours=18)
        conn.execute(
            "INSERT INTO bin_event (device_id, event_id, type, ts, received_at, seq, weight_g, collector,"
            " payload_sha256) VALUES (%s, 'c1', 'collection', %s, %s, 200, %s, 'truck-7', %s)",
            (device_id, ts, ts + RECEIPT_DELAY, collected_g, sha(device_id, "c1")),
        )


def insert_repairs(conn: psycopg.Connection) -> None:
    """Three repairs at the repair café: two fixed, one end of life."""
    for event_id, hour, category, status, grams in (
        ("r1", 14, "Toaster", "fixed", 1500),
        ("r2", 15, "Laptop", "fixed", 2200),
        ("r3", 16, "Vacuum", "end_of_life", 4000),
    ):
        ts = DAY + timedelta(hours=hour)
        conn.execute(
            "INSERT INTO repair_event (device_id, event_id, ts, received_at, seq, category, status, weight_g,"
            " owner, repairer, payload_sha256) VALUES ('r-sunny-1', %s, %s, %s, 1, %s, %s, %s, 'ana@sunny',"
            " 'ben@sunny', %s)",
            (event_id, ts, ts + RECEIPT_DELAY, category, status, grams, sha(event_id)),
        )


def insert_fleet_state(conn: psycopg.Connection) -> None:
    """Device state (one meter lost 3 of 100 messages), status changes, quarantine, a worker."""
    end = DAY + timedelta(days=1)
    for device_id, online, missing in (
        ("m-sunny-1", True, 0),
        ("m-sunny-2", True, 3),
        ("m-windy-1", False, 0),
    ):
        conn.execute(
            "INSERT INTO device_state (device_id, online, state_changed_at, last_seen_at, last_telemetry_at,"
            " fw, last_seq, seq_received, seq_missing) VALUES (%s, %s, %s, %s, %s, '1.2.0', 99, 97, %s)",
            (device_id, online, DAY, end - timedelta(minutes=15), end - timedelta(minutes=15), missing),
        )
    for device_id, hour, state in (("m-windy-1", 0, "online"), ("m-windy-1", 20, "offline")):
        ts = DAY + timedelta(hours=hour)
        conn.execute(
            "INSERT INTO device_status (device_id, ts, received_at, state, payload_sha256)"
            " VALUES (%s, %s, %s, %s, %s)",
            (device_id, ts, ts, state, sha(device_id, ts)),
        )
    for n, (reason, device_id) in enumerate(
        (("schema", "m-sunny-2"), ("schema", "m-sunny-2"), ("unknown_device", None))
    ):
        ts = DAY + timedelta(hours=12, minutes=n)
        conn.execute(
            "INSERT INTO quarantine (received_at, topic, payload, reason, detail, device_id, key_sha256)"
            " VALUES (%s, %s, %s, %s, '', %s, %s)",
            (ts, f"circulo/v1/meter/{device_id or 'ghost'}/telemetry", b"{}", reason, device_id, sha("q", n)),
        )


# (kind, name, days left, revoked): what circulo pki mirrors (its own clock: expiry is relative to now)
TLS_CERTIFICATES = (
    ("root", "Sunny Root CA", 7000, False),
    ("issuing", "Sunny Issuing CA", 1500, False),
    ("server", "broker", 20, False),
    ("device", "m-sunny-1", 700, False),
    ("device", "m-sunny-2", 5, True),  # rotated: revoked, and its successor below
    ("device", "m-sunny-2", 1090, False),
    ("device", "m-windy-1", 300, False),
)
CRL_AGE = timedelta(hours=3)


def insert_pki(conn: psycopg.Connection) -> None:
    """The PKI's mirror: certificates with their expiry (one revoked) and a CRL three hours old."""
    now = datetime.now(UTC)
    for n, (kind, name, days, revoked) in enumerate(TLS_CERTIFICATES):
        conn.execute(
            "INSERT INTO pki_certificate (serial, kind, name, subject, sha256, not_before, not_after,"
            " revoked_at, revocation_reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (format(n + 1, "x"), kind, name, f"CN={name}", sha(kind, n).hex(), now - timedelta(days=10 - n),
             now + timedelta(days=days), now if revoked else None, "superseded" if revoked else None),
        )  # fmt: skip
    conn.execute(
        "INSERT INTO pki_crl (crl_number, issuer_sha256, this_update, next_update, revoked_count)"
        " VALUES (4, %s, %s, %s, 1)",
        (sha("issuing").hex(), now - CRL_AGE, now - CRL_AGE + timedelta(days=7)),
    )


# Replay gaps (SPEC §11): (device, epoch, from, to, missing, state, lost_reason, opened/closed hour)
REPLAY_GAPS = (
    ("m-sunny-2", 3, 10, 14, 5, "requested", None, 10, None),
    ("m-sunny-1", 1, 100, 109, 0, "recovered", None, 10, 11),
    ("m-sunny-1", 1, 200, 203, 4, "lost", "unavailable", 11, 12),
    ("m-windy-1", -1, 4294967295, 1, 2, "lost", "timeout", 12, 13),  # wraps: 3 seq, 1 arrived
    ("m-windy-1", -1, 50, 50, 1, "open", None, 13, None),
)


def insert_replay_gaps(conn: psycopg.Connection) -> None:
    """Replay gaps pending, recovered and lost, as the ingest records them (migration 0014)."""
    for device, epoch, first, last, missing, state, reason, opened, closed in REPLAY_GAPS:
        opened_at = DAY + timedelta(hours=opened)
        conn.execute(
            "INSERT INTO replay_gap (device_id, epoch, from_seq, to_seq, missing, before_ts, after_ts,"
            " after_received_at, opened_at, state, requests, requested_at, give_up_at, closed_at,"
            " lost_reason)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (device, epoch, first, last, missing, opened_at - STEP, opened_at, opened_at, opened_at, state,
             0 if state == "open" else 1, None if state == "open" else opened_at + timedelta(seconds=30),
             opened_at + timedelta(minutes=10), None if closed is None else DAY + timedelta(hours=closed),
             reason),
        )  # fmt: skip


def insert_all(conn: psycopg.Connection, *, with_ledger: bool = False) -> None:
    """The whole fixture day (with the ledger and rewards rows when asked)."""
    insert_registry(conn)
    insert_meter_readings(conn, meter_readings())
    insert_bin_day(conn)
    insert_repairs(conn)
    insert_fleet_state(conn)
    insert_pki(conn)
    insert_replay_gaps(conn)
    if with_ledger:
        insert_ledger(conn)
        insert_rewards(conn)
        insert_certificates(conn)


def set_low_watermark(conn: psycopg.Connection, watermark: datetime) -> None:
    """Play a live ingest worker whose low watermark W is ``watermark``."""
    conn.execute(
        "INSERT INTO ingest_worker (worker_id, low_watermark, heartbeat_at, started_at)"
        " VALUES ('test-worker', %s, now(), %s)"
        " ON CONFLICT (worker_id) DO UPDATE SET low_watermark = EXCLUDED.low_watermark, heartbeat_at = now()",
        (watermark, DAY),
    )


# (ts hour, kind, token, account, amount µ, reason, settlement id, corrects seq)
GREEN_SUNNY = "green:sunny:2026-06-01T11:00:00Z"
GREEN_WINDY = "green:windy:2026-06-01T12:00:00Z"
LEDGER = [
    (
        12,
        "mint",
        "GRN",
        "treasury@sunny",
        1_415_000,
        "green.energy",
        "green:sunny:2026-06-01T11:00:00Z",
        None,
    ),
    (12, "mint", "GRN", "ana@sunny", 9_551_250, "green.energy", GREEN_SUNNY, None),
    (12, "mint", "GRN", "ben@sunny", 3_183_750, "green.energy", GREEN_SUNNY, None),
    (
        13,
        "mint",
        "GRN",
        "treasury@windy",
        19_000_000,
        "green.energy",
        "green:windy:2026-06-01T12:00:00Z",
        None,
    ),
    (19, "mint", "RCY", "ana@sunny", 12_000_000, "recycle.deposit", "deposit:b-sunny-1:c1", None),
    (19, "mint", "RCY", "ben@sunny", 16_000_000, "recycle.deposit", "deposit:b-sunny-1:c1", None),
    (20, "mint", "RCY", "ana@sunny", 3_750_000, "repair", "repair:r-sunny-1:r1", None),
    (20, "mint", "RCY", "ben@sunny", 3_750_000, "repair", "repair:r-sunny-1:r1", None),
    (20, "mint", "RCY", "ana@sunny", 5_500_000, "repair", "repair:r-sunny-1:r2", None),
    (20, "mint", "RCY", "ben@sunny", 5_500_000, "repair", "repair:r-sunny-1:r2", None),
    (21, "burn", "RCY", "ben@sunny", 16_000_000, "correction", "correction:6", 6),
    (22, "record", None, "treasury@sunny", 0, "certificate.issue", GREEN_SUNNY, None),
    (22, "record", None, "treasury@windy", 0, "certificate.issue", GREEN_WINDY, None),
    (23, "record", None, "buyer@grid", 0, "certificate.claim", "certificate-claim:" + "ab" * 32, None),
]
EXPECTED_GRN = {"sunny": 14_150_000, "windy": 19_000_000}  # µGRN: 1 GRN per kWh of each co-op
EXPECTED_RCY = {"sunny": 12_000_000 + 7_500_000 + 11_000_000}  # the aluminium deposit was reversed
KEY_ID = "00112233aabbccdd"


def insert_ledger(conn: psycopg.Connection) -> None:
    """A hash-linked journal (format-valid hashes and signatures: dashboards do not verify them)."""
    conn.execute("INSERT INTO ledger_signing_key (key_id, public_key) VALUES (%s, %s)", (KEY_ID, "ab" * 32))
    prev_hash = "0" * 64
    for seq, (hour, kind, token, account, amount, reason, settlement, corrects) in enumerate(LEDGER, start=1):
        entry_hash = hashlib.sha256(f"{prev_hash}{seq}".encode()).hexdigest()
        conn.execute(
            "INSERT INTO ledger_entry (seq, ts, kind, token, account, amount_micro, reason, settlement_id,"
            " sources, policy, idempotency_key, key_id, prev_hash, hash, sig, corrects_seq, format)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, '[]', 'v1', %s, %s, %s, %s, %s, %s, 2)",
            (
                seq,
                DAY + timedelta(hours=hour),
                kind,
                token,
                account,
                amount,
                reason,
                settlement,
                hashlib.sha256(f"idem{seq}".encode()).hexdigest(),
                KEY_ID,
                prev_hash,
                entry_hash,
                "cd" * 64,
                corrects,
            ),
        )
        prev_hash = entry_hash
    conn.execute("UPDATE ledger_head SET seq = %s, hash = %s, key_id = %s", (len(LEDGER), prev_hash, KEY_ID))


def insert_rewards(conn: psycopg.Connection) -> None:
    """Settlements (repairs left out: their co-op comes from the settlement id), a flag, progress, CO2e."""
    ids = {}
    for settlement, kind, coop, device, token in (
        ("green:sunny:2026-06-01T11:00:00Z", "green", "sunny", None, "GRN"),
        ("green:windy:2026-06-01T12:00:00Z", "green", "windy", None, "GRN"),
        ("deposit:b-sunny-1:c1", "deposit", None, "b-sunny-1", "RCY"),
        ("deposit:b-sunny-2:c1", "deposit", None, "b-sunny-2", "RCY"),
    ):
        row = conn.execute(
            "INSERT INTO reward_settlement (settlement_id, kind, coop_id, device_id, token, policy, engine,"
            " settled_at) VALUES (%s, %s, %s, %s, %s, 'v1', 'test', %s) RETURNING id",
            (settlement, kind, coop, device, token, DAY + timedelta(hours=19)),
        ).fetchone()
        assert row is not None
        ids[settlement] = row[0]
    conn.execute(
        "INSERT INTO reward_flag (flag, device_id, ts, detail, token, account, excluded_micro, source_key,"
        " settlement) VALUES ('mass_balance', 'b-sunny-2', %s, 'deposited 5000 g, collected 2000 g', 'RCY',"
        " 'ana@sunny', 10000000, 'b-sunny-2/d1', %s)",
        (DAY + timedelta(hours=11, minutes=5), ids["deposit:b-sunny-2:c1"]),
    )
    for coop in COOPS:
        conn.execute(
            "INSERT INTO reward_green_progress (coop_id, settled_through) VALUES (%s, %s)",
            (coop, DAY + timedelta(hours=23)),
        )
    conn.execute(
        "INSERT INTO reward_repair_report (device_id, event_id, ts, category, weight_g, co2e_avoided_g,"
        " factor_table_version, settlement)"
        " VALUES ('r-sunny-1', 'r1', %s, 'Toaster', 1500, 2500, 'ords-1', %s)",
        (DAY + timedelta(hours=14), ids["deposit:b-sunny-1:c1"]),
    )


# (coop, device, hour, range start, range end, holder, status, beneficiary, issued by ledger seq)
CERTIFICATES = [
    ("sunny", "m-sunny-1", 11, 1, 100, "buyer@grid", "claimed", "Acme Bakery", 12),
    ("sunny", "m-sunny-1", 11, 101, 400, "treasury@sunny", "active", None, 12),
    ("sunny", "m-sunny-2", 11, 401, 600, "ana@sunny", "active", None, 12),
    ("windy", "m-windy-1", 12, 601, 1400, "treasury@windy", "active", None, 13),
    ("windy", "m-windy-1", 12, 1401, 1450, "treasury@windy", "withdrawn", None, 13),
]
EXPECTED_CERTIFICATES_KWH = {  # issued (withdrawn left out), claimed, held
    "sunny": (Decimal("0.6"), Decimal("0.1"), Decimal("0.5")),
    "windy": (Decimal("0.8"), Decimal("0"), Decimal("0.8")),
}


def insert_certificates(conn: psycopg.Connection) -> None:
    """Issued bundles of both co-ops: claimed, held by the treasury and by a meter's owner, withdrawn."""
    for coop, device, hour, start, end, holder, status, beneficiary, seq in CERTIFICATES:
        metadata = conn.execute(
            "INSERT INTO certificate_metadata (coop_id, issuing_body, country_of_issuance,"
            " connected_grid_identification, issue_market_zone, energy_source)"
            " VALUES (%s, %s, 'NL', 'grid', 'zone', 'solar_pv')"
            " ON CONFLICT (coop_id, issuing_body, country_of_issuance, connected_grid_identification,"
            " issue_market_zone, energy_source) DO UPDATE SET coop_id = EXCLUDED.coop_id RETURNING id",
            (coop, coop),
        ).fetchone()
        produced = DAY + timedelta(hours=hour)
        issuance = conn.execute(
            "INSERT INTO certificate_issuance (issuance_id, coop_id, device_id, range_start, range_end,"
            " production_start, production_end, metadata, issued_seq, issued_at, expires_at, settlement,"
            " hash)"
            " SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, id, %s FROM reward_settlement"
            " WHERE settlement_id = %s RETURNING id",
            (f"{device}-{produced}", coop, device, start, end, produced, produced + timedelta(hours=1),
             metadata[0] if metadata else None, seq, produced, produced + timedelta(days=730), "ef" * 32,
             GREEN_SUNNY if coop == "sunny" else GREEN_WINDY),
        ).fetchone()  # fmt: skip
        conn.execute(
            "INSERT INTO certificate_bundle (issuance, range_start, range_end, holder, status, beneficiary,"
            " period_start, period_end, last_seq) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (issuance[0] if issuance else None, start, end, holder, status, beneficiary,
             DAY if beneficiary else None, DAY + timedelta(days=1) if beneficiary else None, seq),
        )  # fmt: skip
