"""A made-up demo summary for the rendering tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from circulo.demo.summary import (
    CountLine,
    DemoSummary,
    Energy,
    HourSplit,
    HourValue,
    LedgerAmount,
    LedgerState,
    MaterialLine,
    RepairLine,
    Traffic,
    account_line,
    member_lines,
)

START = datetime(2026, 6, 1, tzinfo=UTC)
RATE = Decimal(1)
AMOUNTS = [
    LedgerAmount("amara@sunvale", "GRN", "green.energy", 4_500_000),
    LedgerAmount("amara@sunvale", "RCY", "recycle.deposit", 2_000_000),
    LedgerAmount("bram@sunvale", "GRN", "green.energy", 4_500_001),
    LedgerAmount("bram@sunvale", "RCY", "repair", 750_000),
    LedgerAmount("treasury@sunvale", "GRN", "green.energy", 1_000_000),
]


def traffic(**changes: object) -> Traffic:
    """997 acknowledged (950 data, 5 second copies, 1 clock-ahead, 41 statuses) + 2 wills; 4 re-sends."""
    values: dict[str, object] = {
        "published": 1000,
        "refused": 3,
        "wills": 2,
        "lost": 0,
        "faults": {"duplicate": 5, "impersonate": 3, "offline": 2, "clock_ahead": 1},
        "expected_stored": 950,
        "expected_duplicate": 5,
        "expected_quarantine": {"clock_skew": 1},
        "statuses": 41,
        "outcomes": {"stored": 993, "duplicate": 9, "quarantined": 1},
        "stored_rows": {
            "meter_reading": 900,
            "bin_reading": 30,
            "bin_event": 17,
            "repair_event": 3,
            "device_status": 43,
            "quarantine": 1,
        },
    }
    values.update(changes)
    return Traffic(**values)  # type: ignore[arg-type]


def summary(**changes: object) -> DemoSummary:
    members = [("amara@sunvale", 1), ("bram@sunvale", 1)]
    values: dict[str, object] = {
        "coop_id": "sunvale",
        "coop_name": "Sunvale <Energy> Co-op",
        "window_start": START,
        "window_end": START + timedelta(days=1),
        "fleet": {"meter": 2, "bin": 1, "repair": 1},
        "traffic": traffic(),
        "energy": Energy(10_000, 10_000_001, RATE, 12, 3_000_000),
        "members": member_lines(members, AMOUNTS, RATE),
        "treasury": account_line("treasury@sunvale", 0, AMOUNTS, RATE),
        "materials": (MaterialLine("pet", 10, 2500, 1, 2), MaterialLine("glass", 4, 4000, 0, 0)),
        "collections": 1,
        "collected_g": 6400,
        "repairs": (
            RepairLine("Small kitchen item", "fixed", 2, 3000),
            RepairLine("Small kitchen item", "end_of_life", 1, 1200),
        ),
        "co2e_avoided_g": 12_345,
        "quarantine": (CountLine("clock_skew", 1, "ts is 365 days ahead"),),
        "flags": (
            CountLine("anonymous", 2, "no account", "RCY", 0),
            CountLine("implausible", 1, "pair over rated power", "GRN", 3_000_000),
        ),
        "ledger": LedgerState(5, "ab" * 32, True, "5 entries"),
        "generation_per_hour": tuple(HourValue(START + timedelta(hours=h), 1000 * h) for h in range(8, 12)),
        "grn_per_hour": tuple(
            HourSplit(START + timedelta(hours=h), 900_000 * h, 100_000 * h) for h in range(8, 12)
        ),
    }
    values.update(changes)
    return DemoSummary(**values)  # type: ignore[arg-type]
