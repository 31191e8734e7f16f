"""Deposit settlement: a bin's deposits settle with its next collection (SPEC §4).

A collection is ready once W has passed its receipt time plus the grace (so deposits
still in flight through another ingest worker are in), and only after the bin's earlier
collections. Its window holds the deposits after the previous settled collection (or
since the bin began) up to the collection's ``ts``. A deposit that arrives after its
window settled mints nothing (flag ``late``); so does a collection older than the last
settled one (its deposits were in the later window).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg

from circulo.ledger.entries import format_ts
from circulo.rewards import queries
from circulo.rewards.caps import CappedMint, apply_cap, cap_flag
from circulo.rewards.rules import (
    CapRequest,
    Collection,
    Deposit,
    DepositOutcome,
    merge_amounts,
    rcy_micro,
    settle_deposits,
    utc_day,
)
from circulo.rewards.settlement import (
    RCY,
    CycleContext,
    FlagRecord,
    Settlement,
    Source,
    claim_events,
    mint,
    mint_entries,
    record_settlement,
    settlement_transaction,
    source_key,
)


@dataclass(frozen=True)
class PendingCollection:
    """A collection not yet settled, with what readiness is judged by."""

    collection: Collection
    received_at: datetime
    coop_id: str

    @property
    def order_key(self) -> tuple[datetime, str, str]:
        """Settlement order among RCY sources: ``(ts, device_id, event_id)``."""
        c = self.collection
        return (c.ts, c.device_id, c.event_id)


@dataclass(frozen=True)
class LateDeposit:
    """A deposit whose collection window had already settled when it arrived."""

    deposit: Deposit
    coop_id: str
    collection_id: str

    @property
    def order_key(self) -> tuple[datetime, str, str]:
        """Settlement order among RCY sources."""
        return self.deposit.order_key


def ready_collections(
    pending: Sequence[PendingCollection], *, watermark: datetime | None, grace_s: float, drain: bool
) -> list[PendingCollection]:
    """Per bin in ``ts`` order, the collections whose receipt + grace W has passed (pure).

    A bin stops at its first collection that is not ready: collections settle in order.
    """
    ready = []
    blocked: set[str] = set()
    for item in sorted(pending, key=lambda p: p.order_key):
        device_id = item.collection.device_id
        if device_id in blocked:
            continue
        if drain or (watermark is not None and item.received_at + timedelta(seconds=grace_s) < watermark):
            ready.append(item)
        else:
            blocked.add(device_id)
    return ready


def deposit_source(deposit: Deposit, rate: str) -> Source:
    """A deposit as ledger evidence."""
    source: dict[str, str | int] = {
        "type": "deposit",
        "device_id": deposit.device_id,
        "event_id": deposit.event_id,
        "ts": format_ts(deposit.ts),
        "material": deposit.material,
        "weight_g": deposit.weight_g,
        "rate_rcy_per_kg": rate,
    }
    return source


def collection_source(collection: Collection, sum_g: int, tolerance_pct: int) -> Source:
    """The collection a deposit settled with, and the mass balance it passed."""
    return {
        "type": "collection",
        "device_id": collection.device_id,
        "event_id": collection.event_id,
        "ts": format_ts(collection.ts),
        "collected_g": collection.weight_g,
        "deposits_g": sum_g,
        "tolerance_pct": tolerance_pct,
    }


def outcome_flag(
    outcome: DepositOutcome, collection: Collection, sum_g: int, tolerance_pct: int
) -> FlagRecord:
    """The flag row of a deposit that mints nothing."""
    deposit = outcome.deposit
    details = {
        "contaminated": f"{deposit.weight_g} g {deposit.material} marked contaminated",
        "anonymous": f"{deposit.weight_g} g {deposit.material} deposited without an account",
        "unknown_account": f"account {deposit.account} is no co-op's member",
        "mass_balance": (
            f"deposits {sum_g} g > collection {collection.event_id} {collection.weight_g} g "
            f"+ {tolerance_pct} %"
        ),
    }
    return FlagRecord(
        flag=outcome.flag or "",
        device_id=deposit.device_id,
        ts=deposit.ts,
        detail=details[outcome.flag or ""],
        token=RCY,
        source_key=source_key(deposit.device_id, deposit.event_id),
        account=deposit.account or "",
        excluded_micro=outcome.excluded_micro,
    )


def deposit_settlement(
    item: PendingCollection,
    deposits: Sequence[Deposit],
    *,
    ctx: CycleContext,
    members: frozenset[str],
    used: Mapping[tuple[str, date], int],
) -> tuple[Settlement, list[CappedMint[Deposit]]]:
    """The settlement of one collection window (pure given members and cap usage)."""
    recycling = ctx.policy.recycling
    collection = item.collection
    outcomes = settle_deposits(
        collection,
        deposits,
        rates_rcy_per_kg=recycling.rates_rcy_per_kg,
        tolerance_pct=recycling.tolerance_pct,
        members=members,
    )
    minting = [o for o in outcomes if o.flag is None and o.amount_micro > 0]
    requests = [CapRequest(o.deposit.account or "", utc_day(o.deposit.ts), o.amount_micro) for o in minting]
    capped = apply_cap(requests, [o.deposit for o in minting], used, recycling.daily_cap_micro)
    sum_g = sum(d.weight_g for d in deposits)
    flags = [outcome_flag(o, collection, sum_g, recycling.tolerance_pct) for o in outcomes if o.flag]
    flags += [cap_flag(c, recycling.daily_cap_rcy) for c in capped if c.capped]
    settlement_id = f"deposit:{collection.device_id}:{collection.event_id}"
    evidence = DepositEvidence(ctx, capped, collection_source(collection, sum_g, recycling.tolerance_pct))
    settlement = Settlement(
        settlement_id=settlement_id,
        kind="deposit",
        token=RCY,
        sources=len(deposits) + 1,
        coop_id=item.coop_id,
        device_id=collection.device_id,
        entries=mint_entries(
            token=RCY,
            reason="recycle.deposit",
            settlement_id=settlement_id,
            amounts=merge_amounts(*({c.result.request.account: c.result.minted_micro} for c in capped)),
            sources_for=evidence.sources_for,
            policy=ctx.policy,
        ),
        flags=tuple(flags),
    )
    return settlement, capped


@dataclass(frozen=True)
class DepositEvidence:
    """What each account's deposit mint carries: its deposits, the collection, its cap."""

    ctx: CycleContext
    capped: Sequence[CappedMint[Deposit]]
    collection: Source

    def sources_for(self, account: str) -> tuple[Source, ...]:
        """The account's minting deposits, the collection, and any cap that cut them."""
        recycling = self.ctx.policy.recycling
        mine = [c for c in self.capped if c.result.request.account == account and c.result.minted_micro > 0]
        deposits = tuple(
            deposit_source(c.source, str(recycling.rates_rcy_per_kg[c.source.material])) for c in mine
        )
        caps = tuple(c.cap_source(recycling.daily_cap_micro) for c in mine if c.capped)
        return (*deposits, self.collection, *caps)


def late_settlement(late: LateDeposit, ctx: CycleContext) -> Settlement:
    """A deposit that arrived after its window settled: flagged ``late``, nothing minted."""
    deposit = late.deposit
    value = rcy_micro(deposit.weight_g, ctx.policy.recycling.rates_rcy_per_kg[deposit.material])
    flag = FlagRecord(
        flag="late",
        device_id=deposit.device_id,
        ts=deposit.ts,
        detail=f"arrived after collection {late.collection_id} had settled",
        token=RCY,
        source_key=source_key(deposit.device_id, deposit.event_id),
        account=deposit.account or "",
        excluded_micro=value,
    )
    return Settlement(
        settlement_id=f"deposit-late:{deposit.device_id}:{deposit.event_id}",
        kind="deposit-late",
        token=RCY,
        sources=1,
        coop_id=late.coop_id,
        device_id=deposit.device_id,
        flags=(flag,),
    )


# ---------------------------------------------------------------------------------------
# Database shell
# ---------------------------------------------------------------------------------------


def pending_collections(conn: psycopg.Connection) -> list[PendingCollection]:
    """Every collection not yet claimed."""
    return [
        PendingCollection(Collection(device_id, event_id, ts, weight_g), received_at, coop_id)
        for device_id, event_id, ts, received_at, weight_g, coop_id, _last in conn.execute(
            queries.PENDING_COLLECTIONS
        )
    ]


def late_deposits(conn: psycopg.Connection) -> list[LateDeposit]:
    """Unclaimed deposits at or before their bin's last settled collection."""
    return [
        LateDeposit(Deposit(dev, event, ts, material, weight, account, contaminated), coop_id, collection_id)
        for dev, event, ts, _rcv, material, weight, account, contaminated, coop_id, collection_id in (
            conn.execute(queries.LATE_DEPOSITS)
        )
    ]


def member_accounts(conn: psycopg.Connection) -> frozenset[str]:
    """Every account that is some co-op's member (at settlement time)."""
    return frozenset(row[0] for row in conn.execute(queries.MEMBER_ACCOUNTS))


def window_deposits(
    conn: psycopg.Connection, device_id: str, after: datetime | None, until: datetime
) -> list[Deposit]:
    """The unclaimed deposits of a bin in ``(after, until]``."""
    return [
        Deposit(*row)
        for row in conn.execute(
            queries.WINDOW_DEPOSITS, {"device_id": device_id, "after": after, "until": until}
        )
    ]


def commit_collection(conn: psycopg.Connection, item: PendingCollection, ctx: CycleContext) -> Settlement:
    """Settle one collection window in one transaction."""
    collection = item.collection
    with settlement_transaction(conn, ctx.epoch):
        row = conn.execute(queries.BIN_PROGRESS, {"device_id": collection.device_id}).fetchone()
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
                queries.ADVANCE_BIN,
                {"device_id": collection.device_id, "ts": collection.ts, "event_id": collection.event_id},
            )
        mint(conn, settlement, ctx.signer)
    return settlement


def commit_late_deposit(conn: psycopg.Connection, late: LateDeposit, ctx: CycleContext) -> Settlement:
    """Record a late deposit's claim and flag in one transaction."""
    with settlement_transaction(conn, ctx.epoch):
        settlement = late_settlement(late, ctx)
        settlement_pk = record_settlement(conn, settlement, ctx)
        claim_events(conn, "deposit", [(late.deposit.device_id, late.deposit.event_id)], settlement_pk)
    return settlement


def lock_cap_usage(conn: psycopg.Connection, keys: Iterable[tuple[str, date]]) -> dict[tuple[str, date], int]:
    """What each (account, day) has minted so far, its rows locked until commit."""
    keys = sorted(k for k in keys if k[0])
    if not keys:
        return {}
    rows = conn.execute(
        queries.LOCK_CAP_USAGE, {"accounts": [k[0] for k in keys], "days": [k[1] for k in keys]}
    )
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
            queries.SAVE_CAP_USAGE,
            {
                "accounts": [k[0] for k in keys],
                "days": [k[1] for k in keys],
                "added": [added[k] for k in keys],
            },
        )
