"""``circulo device show`` lists the device's pending replay gaps and counts its final loss (SPEC §11)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
from click.testing import CliRunner

from circulo.cli import cli
from tests.factories import add_device

FOUND = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def gap(conn: psycopg.Connection, device_id: str, epoch: int, first: int, last: int, missing: int,
        state: str, reason: str | None = None) -> None:  # fmt: skip
    """A replay gap as the ingest records it (migration 0014)."""
    closed = FOUND + timedelta(minutes=20) if state in ("recovered", "lost") else None
    conn.execute(
        "INSERT INTO replay_gap (device_id, epoch, from_seq, to_seq, missing, after_received_at, opened_at,"
        " state, requests, requested_at, give_up_at, closed_at, lost_reason)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (device_id, epoch, first, last, missing, FOUND, FOUND, state, 0 if state == "open" else 2,
         None if state == "open" else FOUND + timedelta(seconds=30), FOUND + timedelta(minutes=10), closed,
         reason),
    )  # fmt: skip


def show(db_url: str, device_id: str, *flags: str) -> str:
    result = CliRunner().invoke(
        cli, ["device", "show", device_id, *flags], env={"CIRCULO_DATABASE_URL": db_url}
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_device_show_lists_pending_gaps_and_counts_final_loss(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        add_device(conn, "m-7", "meter", "sunny")
        add_device(conn, "m-8", "meter", "sunny")
        gap(conn, "m-7", 4, 120, 124, 5, "requested")
        gap(conn, "m-7", 4, 4294967290, 3, 2, "open")  # wraps through 2^32 - 1
        gap(conn, "m-7", 3, 10, 19, 0, "recovered")
        gap(conn, "m-7", 3, 40, 43, 4, "lost", "unavailable")
        gap(conn, "m-7", 3, 60, 60, 1, "lost", "timeout")
        gap(conn, "m-8", 1, 5, 9, 5, "lost", "timeout")  # another device's loss is not m-7's
    shown = json.loads(show(db_url, "m-7", "--json"))
    replay = shown["replay"]
    pending = [(g["epoch"], g["from_seq"], g["to_seq"], g["missing"], g["state"], g["requests"])
               for g in replay["pending"]]  # fmt: skip
    assert pending == [(4, 120, 124, 5, "requested", 2), (4, 4294967290, 3, 2, "open", 0)]
    assert replay["pending"][0]["give_up_at"] == "2026-06-01T10:10:00Z"
    assert replay["lost_final"] == {"messages": 5, "gaps": 2, "unavailable": 4, "timeout": 1}
    assert replay["recovered_gaps"] == 1
    text = show(db_url, "m-7").splitlines()
    start = text.index("replay gaps pending: 2")
    assert text[start + 1].split() == [
        "EPOCH",
        "RANGE",
        "MISSING",
        "STATE",
        "REQUESTS",
        "FOUND",
        "GIVES",
        "UP",
    ]
    assert text[start + 2].split()[:5] == ["4", "120..124", "5", "requested", "2"]
    assert text[start + 3].split()[:5] == ["4", "4294967290..3", "2", "open", "0"]
    assert "final loss: 5 messages in 2 gaps (timeout 1, unavailable 4)" in text
    assert "gaps recovered by replay: 1" in text


def test_a_device_without_gaps_says_so(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        add_device(conn, "m-9", "meter", "sunny")
    text = show(db_url, "m-9").splitlines()
    assert "replay gaps pending: none" in text and "final loss: none" in text
    replay = json.loads(show(db_url, "m-9", "--json"))["replay"]
    assert replay == {"pending": [], "lost_final": {"messages": 0, "gaps": 0}, "recovered_gaps": 0}
