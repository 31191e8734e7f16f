"""What every settlement shares in the database: its one transaction, its row, flags and claims.

A settlement commits in one transaction (SPEC §5): the leader fence, the settlement row,
the claims of its sources, its flags, the cap usage, progress marks and ledger entries. A
unique violation anywhere (a source or settlement id already claimed, an idempotency key
already in the journal) means another engine settled it first: the transaction rolls back
whole and :class:`SettlementConflict` is raised, so nothing is minted twice. The
settlement itself is plain data (:mod:`circulo.rewards.records`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

import psycopg
import psycopg.errors

from circulo.errors import Conflict
from circulo.ledger.entries import LedgerEntry
from circulo.ledger.errors import DuplicateEntry
from circulo.ledger.journal import append_entries
from circulo.ledger.keys import Signer
from circulo.rewards.cap import CappedMint
from circulo.rewards.queries import caps, inputs, leader, settlements
from circulo.rewards.records import CycleContext, FlagRecord, Settlement


class SettlementConflict(Conflict):
    """Another engine claimed a source of this settlement first; nothing was committed."""


class LostLeadership(Conflict):
    """This engine is no longer the leader (another engine bumped the fence epoch)."""


@contextmanager
def settlement_transaction(conn: psycopg.Connection, epoch: int) -> Iterator[None]:
    """One transaction that first checks this engine still leads (the fence epoch).

    A unique violation or a duplicate journal entry becomes SettlementConflict; either way
    the transaction rolls back whole.
    """
    try:
        with conn.transaction():
            check_fence(conn, epoch)
            yield
    except psycopg.errors.UniqueViolation as e:
        raise SettlementConflict(f"already claimed: {e.diag.message_detail or e}") from e
    except DuplicateEntry as e:
        raise SettlementConflict(str(e)) from e


def check_fence(conn: psycopg.Connection, epoch: int) -> None:
    """Raise LostLeadership when another engine has taken over since ``epoch``."""
    row = conn.execute(leader.FENCE).fetchone()
    current = row[0] if row else None
    if current != epoch:
        raise LostLeadership(f"leader epoch is {current}, this engine holds {epoch}")


def record_settlement(conn: psycopg.Connection, settlement: Settlement, ctx: CycleContext) -> int:
    """Insert the settlement row and its flags; returns the row id the claims reference."""
    return insert_settlement(conn, settlement, policy=ctx.policy.version, engine=ctx.engine_id)


def insert_settlement(conn: psycopg.Connection, settlement: Settlement, *, policy: str, engine: str) -> int:
    """The settlement row and its flags, for the engine or an operator's command (who is ``engine``)."""
    row = conn.execute(
        settlements.INSERT_SETTLEMENT,
        {
            "settlement_id": settlement.settlement_id,
            "kind": settlement.kind,
            "coop_id": settlement.coop_id,
            "device_id": settlement.device_id,
            "hour": settlement.hour,
            "token": settlement.token,
            "credited_wh": settlement.credited_wh,
            "minted_micro": settlement.minted_micro,
            "excluded_micro": settlement.excluded_micro,
            "mints": sum(1 for e in settlement.entries if e.kind == "mint"),
            "sources": settlement.sources,
            "policy": policy,
            "engine": engine,
            "period_start": settlement.period_start,
        },
    ).fetchone()
    if row is None:
        raise SettlementConflict(f"{settlement.settlement_id}: the settlement row was not written")
    settlement_pk: int = row[0]
    record_flags(conn, settlement.flags, settlement_pk)
    return settlement_pk


def record_flags(conn: psycopg.Connection, flags: tuple[FlagRecord, ...], settlement_pk: int) -> None:
    """Insert the flags of a settlement (unique per source, flag and account)."""
    if not flags:
        return
    with conn.cursor() as cur:
        cur.executemany(
            settlements.INSERT_FLAG,
            [
                {
                    "flag": f.flag,
                    "device_id": f.device_id,
                    "ts": f.ts,
                    "detail": f.detail,
                    "token": f.token,
                    "account": f.account,
                    "excluded_micro": f.excluded_micro,
                    "source_key": f.source_key,
                    "settlement": settlement_pk,
                }
                for f in flags
            ],
        )


def mint(conn: psycopg.Connection, settlement: Settlement, signer: Signer) -> list[LedgerEntry]:
    """Append the settlement's entries to the journal, inside the open transaction."""
    if not settlement.entries:
        return []
    return append_entries(conn, settlement.entries, signer)


def claim_events(
    conn: psycopg.Connection, kind: str, events: list[tuple[str, str]], settlement_pk: int
) -> None:
    """Claim ``(device_id, event_id)`` sources for a settlement (unique: exactly once)."""
    if not events:
        return
    conn.execute(
        settlements.CLAIM_EVENTS,
        {
            "kind": kind,
            "settlement": settlement_pk,
            "devices": [device for device, _ in events],
            "events": [event for _, event in events],
        },
    )


def member_accounts(conn: psycopg.Connection) -> frozenset[str]:
    """Every account that is some co-op's member (at settlement time)."""
    return frozenset(row[0] for row in conn.execute(inputs.MEMBER_ACCOUNTS))


def lock_cap_usage(conn: psycopg.Connection, keys: Iterable[tuple[str, date]]) -> dict[tuple[str, date], int]:
    """What each (account, day) has minted so far, its rows locked until commit."""
    keys = sorted(k for k in keys if k[0])
    if not keys:
        return {}
    rows = conn.execute(caps.LOCK_CAP_USAGE, {"accounts": [k[0] for k in keys], "days": [k[1] for k in keys]})
    return {(account, day): used for account, day, used in rows}


def save_cap_usage(conn: psycopg.Connection, capped: Sequence[CappedMint[Any]]) -> None:
    """Add what this settlement minted to each (account, day)'s cap usage."""
    added: dict[tuple[str, date], int] = {}
    for c in capped:
        key = (c.result.request.account, c.result.request.day)
        added[key] = added.get(key, 0) + c.result.minted_micro
    keys = [k for k, v in added.items() if v > 0]
    if keys:
        conn.execute(
            caps.SAVE_CAP_USAGE,
            {
                "accounts": [k[0] for k in keys],
                "days": [k[1] for k in keys],
                "added": [added[k] for k in keys],
            },
        )
