"""Deposit settlement, the database shell: collections ready to settle, committed one at a time.

The rules live in :mod:`circulo.rewards.plans.deposits` (pure); each collection window (or
late deposit) commits here in one transaction with its claims, cap usage and mints.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from circulo.rewards.plans.deposits import LateDeposit, PendingCollection, deposit_settlement, late_settlement
from circulo.rewards.queries import recycling as sql
from circulo.rewards.records import DEFAULT_REPLAY_TIMEOUT_S, CycleContext, Settlement
from circulo.rewards.rules import Collection, Deposit, utc_day
from circulo.rewards.settlement import (
    claim_events,
    lock_cap_usage,
    member_accounts,
    mint,
    record_settlement,
    save_cap_usage,
    settlement_transaction,
)


def pending_collections(
    conn: psycopg.Connection, replay_timeout_s: float = DEFAULT_REPLAY_TIMEOUT_S
) -> list[PendingCollection]:
    """Every collection not yet claimed, with how long a pending replay gap holds it back."""
    return [
        PendingCollection(Collection(device_id, event_id, ts, weight_g), received_at, coop_id, held_until)
        for device_id, event_id, ts, received_at, weight_g, coop_id, _last, held_until in conn.execute(
            sql.PENDING_COLLECTIONS, {"replay_timeout_s": replay_timeout_s}
        )
    ]


def late_deposits(conn: psycopg.Connection) -> list[LateDeposit]:
    """Unclaimed deposits at or before their bin's last settled collection."""
    return [
        LateDeposit(Deposit(dev, event, ts, material, weight, account, contaminated), coop_id, collection_id)
        for dev, event, ts, _rcv, material, weight, account, contaminated, coop_id, collection_id in (
            conn.execute(sql.LATE_DEPOSITS)
        )
    ]


def window_deposits(
    conn: psycopg.Connection, device_id: str, after: datetime | None, until: datetime
) -> list[Deposit]:
    """The unclaimed deposits of a bin in ``(after, until]``."""
    return [
        Deposit(*row)
        for row in conn.execute(sql.WINDOW_DEPOSITS, {"device_id": device_id, "after": after, "until": until})
    ]


def commit_collection(conn: psycopg.Connection, item: PendingCollection, ctx: CycleContext) -> Settlement:
    """Settle one collection window in one transaction (under the policy in force at the collection)."""
    collection = item.collection
    ctx = ctx.at(item.coop_id, collection.ts)
    with settlement_transaction(conn, ctx.epoch):
        row = conn.execute(sql.BIN_PROGRESS, {"device_id": collection.device_id}).fetchone()
        after = row[0] if row else None
        stale = after is not None and collection.ts <= after
        deposits = [] if stale else window_deposits(conn, collection.device_id, after, collection.ts)
        requests_keys = {(d.account or "", utc_day(d.ts)) for d in deposits}
        used = lock_cap_usage(conn, requests_keys)
        settlement, capped = deposit_settlement(
            item, deposits, ctx=ctx, members=member_accounts(conn), used=used
        )
        settlement_pk = record_settlement(conn, settlement, ctx)
        claim_events(conn, "collection", [(collection.device_id, collection.event_id)], settlement_pk)
        claim_events(conn, "deposit", [(d.device_id, d.event_id) for d in deposits], settlement_pk)
        save_cap_usage(conn, capped)
        if not stale:
            conn.execute(
                sql.ADVANCE_BIN,
                {"device_id": collection.device_id, "ts": collection.ts, "event_id": collection.event_id},
            )
        mint(conn, settlement, ctx.signer)
    return settlement


def commit_late_deposit(conn: psycopg.Connection, late: LateDeposit, ctx: CycleContext) -> Settlement:
    """Record a late deposit's claim and flag in one transaction."""
    ctx = ctx.at(late.coop_id, late.deposit.ts)
    with settlement_transaction(conn, ctx.epoch):
        settlement = late_settlement(late, ctx)
        settlement_pk = record_settlement(conn, settlement, ctx)
        claim_events(conn, "deposit", [(late.deposit.device_id, late.deposit.event_id)], settlement_pk)
    return settlement
