"""Factories for co-ops, members, devices and readings, written straight into the tables.

Small and generic on purpose: any test may import them (``from tests.factories import …``).
Every function takes an open psycopg connection (autocommit, or commit yourself).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg


def unique_id(prefix: str) -> str:
    """A device or co-op id unique across a test session (the session broker is shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def now_utc() -> datetime:
    return datetime.now(UTC)


def add_coop(conn: psycopg.Connection, coop_id: str = "coop1", name: str | None = None) -> str:
    conn.execute(
        "INSERT INTO coop (coop_id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", (coop_id, name or coop_id)
    )
    return coop_id


def add_member(conn: psycopg.Connection, coop_id: str, account: str, shares: int = 1) -> str:
    sql = "INSERT INTO member (coop_id, account, shares) VALUES (%s, %s, %s)"
    conn.execute(sql, (coop_id, account, shares))
    return account


def add_device(
    conn: psycopg.Connection,
    device_id: str,
    kind: str,
    coop_id: str = "coop1",
    *,
    rated_power_w: int | None = None,
    status: str = "registered",
    profile: str = "circulo",
) -> str:
    """A device row (a meter gets 5000 W unless told); its co-op is created when missing."""
    add_coop(conn, coop_id)
    if kind == "meter" and rated_power_w is None:
        rated_power_w = 5000
    conn.execute(
        "INSERT INTO device (device_id, kind, coop_id, rated_power_w, status, retired_at, profile) "
        "VALUES (%s, %s, %s, %s, %s, CASE WHEN %s = 'retired' THEN now() END, %s)",
        (device_id, kind, coop_id, rated_power_w, status, status, profile),
    )
    return device_id


def _sha(*parts: Any) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def add_meter_reading(
    conn: psycopg.Connection,
    device_id: str,
    ts: datetime,
    energy_wh: int,
    power_w: float = 0.0,
    *,
    received_at: datetime | None = None,
    seq: int = 0,
) -> None:
    conn.execute(
        "INSERT INTO meter_reading (device_id, ts, received_at, seq, energy_wh, power_w, payload_sha256) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (device_id, ts, received_at or ts, seq, energy_wh, power_w, _sha(device_id, ts, energy_wh)),
    )


def add_bin_reading(
    conn: psycopg.Connection,
    device_id: str,
    ts: datetime,
    fill_pct: float = 0.0,
    weight_g: int = 0,
    *,
    battery_pct: float | None = None,
    rssi_dbm: float | None = None,
    received_at: datetime | None = None,
    seq: int = 0,
) -> None:
    key = _sha(device_id, ts)
    row = (device_id, ts, received_at or ts, seq, fill_pct, weight_g, battery_pct, rssi_dbm, key)
    conn.execute(
        "INSERT INTO bin_reading (device_id, ts, received_at, seq, fill_pct, weight_g, battery_pct, rssi_dbm,"
        " payload_sha256) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        row,
    )


def add_status(
    conn: psycopg.Connection,
    device_id: str,
    state: str = "online",
    ts: datetime | None = None,
    fw: str | None = None,
) -> None:
    at = ts or now_utc()
    conn.execute(
        "INSERT INTO device_status (device_id, ts, received_at, state, fw, payload_sha256)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (device_id, at, at, state, fw, _sha(device_id, at, state)),
    )


def add_quarantine(
    conn: psycopg.Connection,
    device_id: str | None,
    topic: str,
    reason: str,
    detail: str = "",
    *,
    payload: bytes = b"{}",
    received_at: datetime | None = None,
) -> None:
    at = received_at or now_utc()
    key = hashlib.sha256(topic.encode() + payload + at.isoformat().encode()).digest()
    conn.execute("INSERT INTO quarantine_key (key_sha256, received_at) VALUES (%s, %s)", (key, at))
    conn.execute(
        "INSERT INTO quarantine (received_at, topic, payload, reason, detail, device_id, key_sha256)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (at, topic, payload, reason, detail, device_id, key),
    )


def add_repair(
    conn: psycopg.Connection,
    device_id: str,
    event_id: str,
    ts: datetime,
    *,
    category: str = "Kettle",
    status: str = "fixed",
    weight_g: int = 1200,
    owner: str | None = None,
    repairer: str | None = None,
    received_at: datetime | None = None,
    **optional: Any,
) -> None:
    """A repair event row; ``optional`` sets age_years, problem, brand, year_of_manufacture, barrier."""
    columns = ["device_id", "event_id", "ts", "received_at", "seq", "category", "status", "weight_g",
               "owner", "repairer", *optional, "payload_sha256"]  # fmt: skip
    values = [device_id, event_id, ts, received_at or ts, 0, category, status, weight_g, owner, repairer,
              *optional.values(), _sha(device_id, event_id)]  # fmt: skip
    placeholders = ", ".join(["%s"] * len(values))
    conn.execute(f"INSERT INTO repair_event ({', '.join(columns)}) VALUES ({placeholders})", values)
