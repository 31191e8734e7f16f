"""Factories for ledger tests: plausible new entries and signed chains built in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from circulo.ledger.entries import (
    FORMAT_1,
    GENESIS_PREV_HASH,
    LedgerEntry,
    NewEntry,
    entry_body,
    entry_from_body,
    entry_hash,
    seal_entry,
)
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


V1_COLUMNS = (
    "seq, ts, kind, token, account, amount_micro, reason, settlement_id, sources, policy, "
    "idempotency_key, key_id, prev_hash, hash, sig, corrects_seq"
)


def seal_format_1(entry: NewEntry, seq: int, prev_hash: str, signer: Signer) -> LedgerEntry:
    """An entry as Circulo wrote it before ledger format 2: its body had no ``format``."""
    body = entry_body(
        entry, seq=seq, ts=T0 + timedelta(seconds=seq), key_id=signer.key_id, prev_hash=prev_hash
    )
    del body["format"]
    digest = entry_hash(prev_hash, body)
    return entry_from_body({**body, "format": FORMAT_1}, digest, signer.sign(bytes.fromhex(digest)).hex())


def write_v1_ledger(url: str, signer: Signer, count: int) -> list[LedgerEntry]:
    """Format-1 mints and a correction, written with the 0006 schema (no format column)."""
    sealed, prev = [], GENESIS_PREV_HASH
    for seq, entry in enumerate([new_entry(i) for i in range(count - 1)], start=1):
        sealed.append(seal_format_1(entry, seq, prev, signer))
        prev = sealed[-1].hash
    correction = new_entry(
        99, kind="burn", reason="correction", corrects_seq=1, account="member-0@coop1", amount_micro=500_000,
        settlement_id="correction:1",
        sources=({"corrects_seq": 1, "corrects_hash": sealed[0].hash, "why": "meter double-counted"},),
    )  # fmt: skip
    sealed.append(seal_format_1(correction, count, prev, signer))
    prev = sealed[-1].hash
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO ledger_signing_key (key_id, public_key) VALUES (%s, %s)",
                     (signer.key_id, signer.public_key_hex))  # fmt: skip
        for e in sealed:
            conn.execute(
                f"INSERT INTO ledger_entry ({V1_COLUMNS}) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (e.seq, e.ts, e.kind, e.token, e.account, e.amount_micro, e.reason, e.settlement_id,
                 Jsonb(list(e.sources)), e.policy, e.idempotency_key, e.key_id, e.prev_hash, e.hash, e.sig,
                 e.corrects_seq),
            )  # fmt: skip
        balances: dict[tuple[str, str], int] = {}
        for e in sealed:
            key = (e.account, e.token or "")
            balances[key] = balances.get(key, 0) + e.signed_micro
        for (account, token), amount in balances.items():
            conn.execute(
                "INSERT INTO ledger_balance (account, token, amount_micro, last_seq) VALUES (%s, %s, %s, %s)",
                (account, token, amount, len(sealed)),
            )
        conn.execute(
            "UPDATE ledger_head SET seq = %s, hash = %s, key_id = %s", (len(sealed), prev, signer.key_id)
        )
    return sealed
