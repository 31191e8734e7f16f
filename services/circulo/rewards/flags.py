"""What was excluded from rewards, and why: the rows behind ``circulo rewards flags``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from circulo.ledger.entries import format_ts
from circulo.rewards.queries import settlements

FLAGS = (
    "counter_reset", "implausible", "glitch", "contaminated", "anonymous", "unknown_account",
    "mass_balance", "late", "daily_cap", "implausible_weight", "floor_shortfall",
)  # fmt: skip


@dataclass(frozen=True)
class RewardFlag:
    """One excluded amount (SPEC §8: flag, device_id, ts, detail; more fields added)."""

    flag: str
    device_id: str | None  # None for a flag about an account (floor_shortfall)
    ts: datetime
    detail: str
    token: str
    account: str
    excluded_micro: int
    settlement_id: str

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form: the SPEC §8 fields first, then the settlement's details."""
        return {
            "flag": self.flag,
            "device_id": self.device_id,
            "ts": format_ts(self.ts),
            "detail": self.detail,
            "token": self.token,
            "account": self.account or None,
            "excluded_micro": self.excluded_micro,
            "settlement_id": self.settlement_id,
        }


def list_flags(
    conn: psycopg.Connection,
    *,
    flag: str | None = None,
    device_id: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[RewardFlag]:
    """Flags in (ts, device) order, optionally of one kind, one device, or since a time."""
    rows = conn.execute(
        settlements.LIST_FLAGS,
        {"flag": flag, "device_id": device_id, "since": since, "limit": limit},
    )
    return [RewardFlag(*row[:8]) for row in rows]
