"""What every settlement shares: its record, its flags, its mints and its one transaction.

A settlement commits in one transaction (SPEC §5): the leader fence, the settlement row,
the claims of its sources, its flags, progress marks and ledger entries. A unique
violation anywhere (a source or settlement id already claimed, an idempotency key already
in the journal) means another engine settled it first: the transaction rolls back whole
and :class:`SettlementConflict` is raised, so nothing is minted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import psycopg
import psycopg.errors

from circulo.errors import Conflict
from circulo.ledger.entries import NewEntry, Reason, Token, format_ts
from circulo.ledger.errors import DuplicateEntry
from circulo.ledger.journal import append_entries
from circulo.ledger.keys import Signer
from circulo.rewards import queries
from circulo.rewards.policy import Policy
from circulo.rewards.rules import byte_order

GRN: Token = "GRN"
RCY: Token = "RCY"
SettlementKind = Literal["green", "green-late", "deposit", "deposit-late", "repair"]
Source = Mapping[str, Any]


class SettlementConflict(Conflict):
    """Another engine claimed a source of this settlement first; nothing was committed."""


class LostLeadership(Conflict):
    """This engine is no longer the leader (another engine bumped the fence epoch)."""


@dataclass(frozen=True)
class CycleContext:
    """What every settlement of one cycle needs: rules, key, identity, time and mode."""

    policy: Policy
    signer: Signer
    engine_id: str
    epoch: int
    watermark: datetime | None
    drain: bool
    grace_s: float
    idle_timeout_s: float


@dataclass(frozen=True)
class FlagRecord:
    """An excluded amount and why (SPEC §8: flag, device_id, ts, detail)."""

    flag: str
    device_id: str
    ts: datetime
    detail: str
    token: Token
    source_key: str
    account: str = ""
    excluded_micro: int = 0


@dataclass(frozen=True)
class Settlement:
    """One settlement's record, the mints it makes and the amounts it excludes."""

    settlement_id: str
    kind: SettlementKind
    token: Token
    sources: int
    coop_id: str | None = None
    device_id: str | None = None
    hour: datetime | None = None
    credited_wh: int | None = None
    entries: tuple[NewEntry, ...] = ()
    flags: tuple[FlagRecord, ...] = field(default=())

    @property
    def minted_micro(self) -> int:
        """The sum of this settlement's mints."""
        return sum(entry.amount_micro for entry in self.entries)

    @property
    def excluded_micro(self) -> int:
        """The sum of what its flags withheld."""
        return sum(flag.excluded_micro for flag in self.flags)


def source_key(device_id: str, ts_or_event: datetime | str) -> str:
    """The key a flag names its source by: a meter pair by its later ts, an event by its id."""
    if isinstance(ts_or_event, datetime):
        return f"meter:{device_id}:{format_ts(ts_or_event)}"
    return f"event:{device_id}:{ts_or_event}"


def mint_entries(
    *,
    token: Token,
    reason: Reason,
    settlement_id: str,
    amounts: Mapping[str, int],
    sources_for: Callable[[str], tuple[Source, ...]],
    policy: Policy,
) -> tuple[NewEntry, ...]:
    """One mint per receiving account, in account byte order, each with its own evidence."""
    return tuple(
        NewEntry(
            kind="mint",
            token=token,
            account=account,
            amount_micro=amounts[account],
            reason=reason,
            settlement_id=settlement_id,
            sources=sources_for(account),
            policy=policy.version,
        )
        for account in sorted(amounts, key=byte_order)
        if amounts[account] > 0
    )


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
    row = conn.execute(queries.FENCE).fetchone()
    current = row[0] if row else None
    if current != epoch:
        raise LostLeadership(f"leader epoch is {current}, this engine holds {epoch}")


def record_settlement(conn: psycopg.Connection, settlement: Settlement, ctx: CycleContext) -> int:
    """Insert the settlement row and its flags; returns the row id the claims reference."""
    row = conn.execute(
        queries.INSERT_SETTLEMENT,
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
            "mints": len(settlement.entries),
            "sources": settlement.sources,
            "policy": ctx.policy.version,
            "engine": ctx.engine_id,
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
            queries.INSERT_FLAG,
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


def mint(conn: psycopg.Connection, settlement: Settlement, signer: Signer) -> None:
    """Append the settlement's entries to the journal, inside the open transaction."""
    if settlement.entries:
        append_entries(conn, settlement.entries, signer)


def claim_events(
    conn: psycopg.Connection, kind: str, events: list[tuple[str, str]], settlement_pk: int
) -> None:
    """Claim ``(device_id, event_id)`` sources for a settlement (unique: exactly once)."""
    if not events:
        return
    conn.execute(
        queries.CLAIM_EVENTS,
        {
            "kind": kind,
            "settlement": settlement_pk,
            "devices": [device for device, _ in events],
            "events": [event for _, event in events],
        },
    )
