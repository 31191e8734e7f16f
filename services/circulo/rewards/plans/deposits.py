"""Deposit settlement plans (pure): a bin's deposits settle with its next collection (SPEC §4).

A collection is ready once W has passed its receipt time plus the grace (so deposits
still in flight through another ingest worker are in), and only after the bin's earlier
collections, and not while a replay of its bin's missing messages that may belong to its
window is pending (SPEC §11: bounded by the gap's give-up time). Its window holds the
deposits after the previous settled collection (or since the bin began) up to the
collection's ``ts``. A deposit that arrives after its window settled mints nothing (flag
``late``). The database shell is :mod:`circulo.rewards.deposits`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from circulo.ledger.entries import format_ts
from circulo.rewards.cap import CappedMint, CapRequest, apply_cap, cap_flag
from circulo.rewards.records import (
    RCY,
    FlagRecord,
    PlanContext,
    Settlement,
    Source,
    mint_entries,
    source_key,
)
from circulo.rewards.rules import (
    Collection,
    Deposit,
    DepositOutcome,
    merge_amounts,
    rcy_micro,
    settle_deposits,
    utc_day,
)


@dataclass(frozen=True)
class PendingCollection:
    """A collection not yet settled, with what readiness is judged by.

    ``held_until``: the latest give-up time of the bin's pending replay gaps that may hide a
    message of its window (SPEC §11); until W passes it the collection waits.
    """

    collection: Collection
    received_at: datetime
    coop_id: str
    held_until: datetime | None = None

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


def collection_cleared(
    item: PendingCollection, *, watermark: datetime | None, grace_s: float, drain: bool
) -> bool:
    """Whether W has passed the collection's receipt plus the grace, and every pending replay gap
    that may hide one of its deposits has been recovered or given up (always, when draining)."""
    if drain:
        return True
    if watermark is None or item.received_at + timedelta(seconds=grace_s) >= watermark:
        return False
    return item.held_until is None or item.held_until < watermark


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
        if collection_cleared(item, watermark=watermark, grace_s=grace_s, drain=drain):
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


def collection_source(collection: Collection, coop_id: str, sum_g: int, tolerance_pct: int) -> Source:
    """The collection a deposit settled with (its co-op and ts pick the policy), and the mass balance."""
    return {
        "type": "collection",
        "coop_id": coop_id,
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
    ctx: PlanContext,
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
    collected = collection_source(collection, item.coop_id, sum_g, recycling.tolerance_pct)
    evidence = DepositEvidence(ctx, capped, collected)
    settlement = Settlement(
        settlement_id=settlement_id,
        kind="deposit",
        token=RCY,
        sources=len(deposits) + 1,
        coop_id=item.coop_id,
        device_id=collection.device_id,
        period_start=collection.ts,
        entries=mint_entries(
            token=RCY,
            reason="recycle.deposit",
            settlement_id=settlement_id,
            amounts=merge_amounts(*({c.result.request.account: c.result.minted_micro} for c in capped)),
            sources_for=evidence.sources_for,
            policy=ctx.policy,
            adopted_by=ctx.adopted_by,
        ),
        flags=tuple(flags),
    )
    return settlement, capped


@dataclass(frozen=True)
class DepositEvidence:
    """What each account's deposit mint carries: its deposits, the collection, its cap."""

    ctx: PlanContext
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


def late_settlement(late: LateDeposit, ctx: PlanContext) -> Settlement:
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
        period_start=deposit.ts,
        flags=(flag,),
    )
