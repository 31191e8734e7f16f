"""Factories for ledger tests: plausible new entries and signed chains built in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from circulo.ledger.entries import GENESIS_PREV_HASH, LedgerEntry, NewEntry, seal_entry
from circulo.ledger.keys import Signer

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def new_entry(index: int = 0, **overrides: Any) -> NewEntry:
    """A plausible GRN mint for a member, with a meter pair as its source."""
    values: dict[str, Any] = {
        "kind": "mint",
        "token": "GRN",
        "account": f"member-{index % 3}@coop1",
        "amount_micro": 1_000_000 + index,
        "reason": "green.energy",
        "settlement_id": f"green:coop1:2025-03-01T{index % 24:02d}#{index}",
        "sources": (
            {
                "device_id": f"meter-{index}",
                "ts_earlier": "2025-03-01T10:59:00.000000Z",
                "ts_later": "2025-03-01T11:00:00.000000Z",
                "energy_wh_earlier": 1000 + index,
                "energy_wh_later": 2000 + index,
            },
        ),
        "policy": "rewards-v1",
    }
    values.update(overrides)
    return NewEntry(**values)


def build_chain(entries: list[NewEntry], signer: Signer, *, start: datetime = T0) -> list[LedgerEntry]:
    """Seal ``entries`` into a chain from the genesis hash, one second apart."""
    chain: list[LedgerEntry] = []
    prev = GENESIS_PREV_HASH
    for i, entry in enumerate(entries):
        sealed = seal_entry(entry, seq=i + 1, ts=start + timedelta(seconds=i), prev_hash=prev, signer=signer)
        chain.append(sealed)
        prev = sealed.hash
    return chain
