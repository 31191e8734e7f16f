"""Repair settlement plans (pure): what a fixed repair mints, to whom, and what it avoided.

A repair settles once W has passed its receipt (:func:`repair_ready`). Only a ``fixed``
repair mints: ``weight_g × rcy_per_kg × 1000`` µRCY, split owner/repairer by largest
remainder; an item heavier than the category's plausible weight mints nothing
(flag ``implausible_weight``). The CO2e a fixed repair avoided is reported (never minted)
with the factor table's version. The database shell is :mod:`circulo.rewards.repairs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

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
from circulo.rewards.rules import byte_order, repair_micro, repair_weight_limit_g, split_repair, utc_day
from circulo_schemas.errors import UnknownRepairCategory
from circulo_schemas.repair_categories import FACTOR_TABLE_VERSION, category, co2e_avoided_g


@dataclass(frozen=True)
class Repair:
    """A repair event as the rule needs it."""

    device_id: str
    event_id: str
    ts: datetime
    category: str
    status: str
    weight_g: int
    owner: str | None
    repairer: str | None
    coop_id: str
    received_at: datetime

    @property
    def order_key(self) -> tuple[datetime, str, str]:
        """Settlement order among RCY sources: ``(ts, device_id, event_id)``."""
        return (self.ts, self.device_id, self.event_id)

    @property
    def settlement_id(self) -> str:
        """``repair:{device_id}:{event_id}``."""
        return f"repair:{self.device_id}:{self.event_id}"


def repair_ready(repair: Repair, *, watermark: datetime | None, drain: bool) -> bool:
    """Whether a repair settles now: W has passed its receipt (always, when draining)."""
    return drain or (watermark is not None and repair.received_at < watermark)


def ready_repairs(repairs: Sequence[Repair], *, watermark: datetime | None, drain: bool) -> list[Repair]:
    """The repairs that settle now, in the order given."""
    return [r for r in repairs if repair_ready(r, watermark=watermark, drain=drain)]


@dataclass(frozen=True)
class CategoryFigures:
    """What the factor table says about a repair's category (None: not in the table)."""

    reference_weight_g: int
    co2e_avoided_g: int | None


def category_figures(name: str) -> CategoryFigures:
    """The category's reference weight and CO2e avoided; an unknown category has neither."""
    try:
        return CategoryFigures(category(name).reference_weight_g, co2e_avoided_g(name))
    except UnknownRepairCategory:
        return CategoryFigures(0, None)


def repair_source(repair: Repair, amount: int, ctx: PlanContext, figures: CategoryFigures) -> Source:
    """The repair as ledger evidence, with its CO2e figure and the factor-table version."""
    source: dict[str, str | int] = {
        "type": "repair",
        "coop_id": repair.coop_id,
        "device_id": repair.device_id,
        "event_id": repair.event_id,
        "ts": format_ts(repair.ts),
        "category": repair.category,
        "status": repair.status,
        "weight_g": repair.weight_g,
        "rcy_per_kg": str(ctx.policy.repair.rcy_per_kg),
        "amount_micro": amount,
        "owner_pct": ctx.policy.repair.owner_pct,
    }
    for role, account in (("owner", repair.owner), ("repairer", repair.repairer)):
        if account is not None:
            source[role] = account
    if figures.co2e_avoided_g is not None:
        source["co2e_avoided_g"] = figures.co2e_avoided_g
        source["factor_table_version"] = FACTOR_TABLE_VERSION
    return source


def exclusion_flag(repair: Repair, flag: str, detail: str, excluded: int) -> FlagRecord:
    """A flag on a repair that mints nothing."""
    return FlagRecord(
        flag=flag,
        device_id=repair.device_id,
        ts=repair.ts,
        detail=detail,
        token=RCY,
        source_key=source_key(repair.device_id, repair.event_id),
        excluded_micro=excluded,
    )


def repair_split(
    repair: Repair, amount: int, ctx: PlanContext, members: frozenset[str]
) -> tuple[dict[str, int], FlagRecord | None]:
    """The parties' amounts before the cap, or the flag that excluded the whole repair."""
    policy = ctx.policy.repair
    figures = category_figures(repair.category)
    limit = repair_weight_limit_g(
        figures.reference_weight_g,
        factor=policy.max_weight_factor,
        without_reference_g=policy.max_weight_g_without_reference,
    )
    if repair.weight_g > limit:
        detail = f"{repair.weight_g} g is more than the {limit} g plausible for {repair.category}"
        return {}, exclusion_flag(repair, "implausible_weight", detail, amount)
    split = split_repair(
        amount, owner=repair.owner, repairer=repair.repairer, eligible=members, owner_pct=policy.owner_pct
    )
    if split or amount == 0:
        return split, None
    if repair.owner is None and repair.repairer is None:
        return {}, exclusion_flag(repair, "anonymous", "repair names neither owner nor repairer", amount)
    named = ", ".join(a for a in (repair.owner, repair.repairer) if a is not None)
    return {}, exclusion_flag(repair, "unknown_account", f"{named}: no co-op's member", amount)


def repair_settlement(
    repair: Repair, ctx: PlanContext, members: frozenset[str], used: Mapping[tuple[str, date], int]
) -> tuple[Settlement, list[CappedMint[Repair]]]:
    """The settlement of one repair (pure given members and cap usage)."""
    figures = category_figures(repair.category)
    fixed = repair.status == "fixed"
    amount = repair_micro(repair.weight_g, ctx.policy.repair.rcy_per_kg) if fixed else 0
    split, flag = repair_split(repair, amount, ctx, members) if fixed else ({}, None)
    accounts = sorted(split, key=byte_order)
    requests = [CapRequest(a, utc_day(repair.ts), split[a]) for a in accounts]
    cap_micro = ctx.policy.recycling.daily_cap_micro
    capped = apply_cap(requests, [repair] * len(requests), used, cap_micro)
    flags = [flag] if flag else []
    flags += [cap_flag(c, ctx.policy.recycling.daily_cap_rcy) for c in capped if c.capped]
    evidence = repair_source(repair, amount, ctx, figures)

    def sources_for(account: str) -> tuple[Source, ...]:
        caps = [c.cap_source(cap_micro) for c in capped if c.capped and c.result.request.account == account]
        return (evidence, *caps)

    return (
        Settlement(
            settlement_id=repair.settlement_id,
            kind="repair",
            token=RCY,
            sources=1,
            coop_id=repair.coop_id,
            device_id=repair.device_id,
            period_start=repair.ts,
            entries=mint_entries(
                token=RCY,
                reason="repair",
                settlement_id=repair.settlement_id,
                amounts={c.result.request.account: c.result.minted_micro for c in capped},
                sources_for=sources_for,
                policy=ctx.policy,
                adopted_by=ctx.adopted_by,
            ),
            flags=tuple(flags),
        ),
        capped,
    )
