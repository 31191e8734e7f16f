"""Repair settlement, the database shell: each repair settles once W has passed its receipt time.

The rules live in :mod:`circulo.rewards.plans.repairs` (pure); each repair commits here in one
transaction with its claim, cap usage, CO2e report (reported, never minted) and mints.
"""

from __future__ import annotations

import psycopg

from circulo.rewards.plans.repairs import Repair, category_figures, ready_repairs, repair_settlement
from circulo.rewards.queries import recycling as sql
from circulo.rewards.records import CycleContext, PlanContext, Settlement
from circulo.rewards.rules import utc_day
from circulo.rewards.settlement import (
    claim_events,
    lock_cap_usage,
    member_accounts,
    mint,
    record_settlement,
    save_cap_usage,
    settlement_transaction,
)
from circulo_schemas.repair_categories import FACTOR_TABLE_VERSION


def unclaimed_repairs(conn: psycopg.Connection, account: str | None = None) -> list[Repair]:
    """Repairs not yet settled (of one account, as owner or repairer, when given), in ts order."""
    return [Repair(*row) for row in conn.execute(sql.UNCLAIMED_REPAIRS, {"account": account})]


def pending_repairs(conn: psycopg.Connection, ctx: PlanContext) -> list[Repair]:
    """Unclaimed repairs whose receipt W has passed (all of them when draining)."""
    return ready_repairs(unclaimed_repairs(conn), watermark=ctx.watermark, drain=ctx.drain)


def commit_repair(conn: psycopg.Connection, repair: Repair, ctx: CycleContext) -> Settlement:
    """Claim, flag, report and mint one repair in one transaction (under the policy at its ts)."""
    ctx = ctx.at(repair.coop_id, repair.ts)
    with settlement_transaction(conn, ctx.epoch):
        parties = {a for a in (repair.owner, repair.repairer) if a is not None}
        used = lock_cap_usage(conn, {(a, utc_day(repair.ts)) for a in parties})
        settlement, capped = repair_settlement(repair, ctx, member_accounts(conn), used)
        settlement_pk = record_settlement(conn, settlement, ctx)
        claim_events(conn, "repair", [(repair.device_id, repair.event_id)], settlement_pk)
        save_cap_usage(conn, capped)
        if not any(f.flag == "implausible_weight" for f in settlement.flags):
            report_co2e(conn, repair, settlement_pk)
        mint(conn, settlement, ctx.signer)
    return settlement


def report_co2e(conn: psycopg.Connection, repair: Repair, settlement_pk: int) -> None:
    """Record the CO2e a fixed repair avoided (reported, never minted)."""
    figures = category_figures(repair.category)
    if repair.status != "fixed" or figures.co2e_avoided_g is None:
        return
    conn.execute(
        sql.INSERT_REPAIR_REPORT,
        {
            "device_id": repair.device_id,
            "event_id": repair.event_id,
            "ts": repair.ts,
            "category": repair.category,
            "weight_g": repair.weight_g,
            "co2e_avoided_g": figures.co2e_avoided_g,
            "factor_table_version": FACTOR_TABLE_VERSION,
            "settlement": settlement_pk,
        },
    )
