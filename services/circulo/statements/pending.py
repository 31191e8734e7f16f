"""What a member has coming that is not settled yet, and why: estimates by the engine's own rules.

Nothing here decides readiness or arithmetic itself. Deposits and collections are read by
the engine's shell (``rewards.deposits``), judged by its planners' readiness functions
(``collection_cleared``, ``ready_collections``, ``repair_ready``) and priced by its settlement
planners (``deposit_settlement``, ``repair_settlement``, ``green_settlement``) with the
engine's policy and timing settings, in the engine's order (``(ts, device_id, event_id)``,
the daily cap carried from one to the next). Green hours come from the engine's pair scan
(``rewards.green.fill_pairs``) and its ``settle_end``. What is left to chance is said in
each item's ``note``: a collection not yet weighed, shares that may change, the engine's cap
usage moving under concurrent settlements. Everything runs in the caller's transaction
and locks nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import psycopg

from circulo.governance.service import load_state
from circulo.ledger.describe import amount_text
from circulo.rewards import deposits as deposit_shell
from circulo.rewards import green, repairs
from circulo.rewards.cap import CappedMint
from circulo.rewards.plans.deposits import PendingCollection, collection_cleared, deposit_settlement
from circulo.rewards.plans.green import HOUR, GreenPlan, green_settlement, hour_label, plan_green
from circulo.rewards.plans.repairs import Repair, repair_ready, repair_settlement
from circulo.rewards.policy import Policy
from circulo.rewards.queries import inputs
from circulo.rewards.records import GRN, RCY, PlanContext, Settlement, source_key
from circulo.rewards.rules import Deposit, rcy_micro
from circulo.rewards.settlement import member_accounts
from circulo.statements import queries

Status = Literal[
    "ready", "awaiting_collection", "awaiting_watermark", "awaiting_earlier_collection", "late",
    "hour_open", "awaiting_meters",
]  # fmt: skip

WHY: dict[str, str] = {
    "ready": "ready: it settles in the rewards engine's next cycle",
    "awaiting_collection": "waiting for the bin's next collection (deposits settle when the bin is emptied "
    "and weighed)",
    "awaiting_watermark": "received; waiting until every ingest worker has stored all messages received "
    "before it (the watermark)",
    "awaiting_earlier_collection": "waiting for an earlier collection of the same bin to settle first",
    "late": "arrived after its bin's collection had settled: it mints nothing",
    "hour_open": "the hour has not ended yet",
    "awaiting_meters": "the hour has ended; waiting for the co-op's meters to report past its end and for "
    "the watermark to pass those reports",
}
Usage = dict[tuple[str, date], int]


@dataclass(frozen=True)
class PendingItem:
    """One thing received for the member and not settled yet, with an estimate of what it will mint."""

    kind: Literal["deposit", "repair", "green"]
    token: str
    ts: datetime
    what: str
    status: Status
    estimate_micro: int
    note: str = ""

    @property
    def why(self) -> str:
        """The status in plain words."""
        return WHY[self.status]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``ts`` as an ISO string, ``why`` spelled out)."""
        return {**asdict(self), "ts": self.ts.isoformat().replace("+00:00", "Z"), "why": self.why}


def plan_context(
    conn: psycopg.Connection, policy: Policy, *, grace_s: float, idle_timeout_s: float
) -> PlanContext:
    """The engine's planning context as of now: its policy and timing, the co-ops' governance, W now."""
    row = conn.execute(inputs.WATERMARK).fetchone()
    return PlanContext(
        policy=policy,
        watermark=row[0] if row else None,
        drain=False,
        grace_s=grace_s,
        idle_timeout_s=idle_timeout_s,
        governance=load_state(conn),
    )


def pending_items(
    conn: psycopg.Connection, account: str, coop_ids: Sequence[str], ctx: PlanContext
) -> list[PendingItem]:
    """Everything pending for ``account``: its deposits, its repairs, its share of unsettled green hours."""
    items = recycling_pending(conn, account, ctx)
    for coop_id in coop_ids:
        items += green_pending(conn, coop_id, account, ctx)
    return sorted(items, key=lambda i: (i.ts, i.kind, i.what))


# --- deposits and repairs --------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A pending collection and where its deposit window starts (the collection before it)."""

    item: PendingCollection
    after: datetime | None
    status: Status

    @property
    def order_key(self) -> tuple[datetime, str, str]:
        """The engine's RCY order."""
        return self.item.order_key


def collection_windows(
    pending: Sequence[PendingCollection], settled_ts: Mapping[str, datetime | None], ctx: PlanContext
) -> dict[str, list[Window]]:
    """Per bin, its pending collections in order, each with its window start and readiness."""
    windows: dict[str, list[Window]] = {}
    for item in sorted(pending, key=lambda p: p.order_key):
        device_id = item.collection.device_id
        earlier = windows.setdefault(device_id, [])
        after = earlier[-1].item.collection.ts if earlier else settled_ts.get(device_id)
        windows[device_id].append(Window(item, after, collection_status(item, earlier, ctx)))
    return windows


def collection_status(item: PendingCollection, earlier: Sequence[Window], ctx: PlanContext) -> Status:
    """Why a pending collection has not settled (the engine's readiness, in the engine's bin order)."""
    if not collection_cleared(item, watermark=ctx.watermark, grace_s=ctx.grace_s, drain=ctx.drain):
        return "awaiting_watermark"
    return "awaiting_earlier_collection" if any(w.status != "ready" for w in earlier) else "ready"


def deposit_words(deposit: Deposit) -> str:
    """``245 g aluminium at bin-0007``."""
    return f"{deposit.weight_g} g {deposit.material} at {deposit.device_id}"


def unsettled_deposits(conn: psycopg.Connection, account: str) -> list[tuple[Deposit, str, datetime | None]]:
    """The account's unclaimed deposits, each with its bin's co-op and last settled collection time."""
    rows = conn.execute(queries.UNSETTLED_DEPOSITS, {"account": account})
    return [(Deposit(*row[:7]), row[8], row[9]) for row in rows]


def recycling_pending(conn: psycopg.Connection, account: str, ctx: PlanContext) -> list[PendingItem]:
    """The account's unsettled deposits and repairs, estimated in the engine's settlement order."""
    mine = unsettled_deposits(conn, account)
    pending = deposit_shell.pending_collections(conn)
    settled_ts: dict[str, datetime | None] = dict(
        conn.execute(
            queries.BIN_PROGRESS, {"devices": sorted({p.collection.device_id for p in pending})}
        ).fetchall()
    )
    windows = collection_windows(pending, settled_ts, ctx)
    items, open_windows = [], {}
    for deposit, coop_id, last_settled in mine:
        window = covering_window(deposit, windows.get(deposit.device_id, []))
        if last_settled is not None and deposit.ts <= last_settled:
            items.append(PendingItem("deposit", RCY, deposit.ts, deposit_words(deposit), "late", 0))
        elif window is None:
            items.append(uncollected_deposit(deposit, ctx.at(coop_id, deposit.ts)))
        else:
            open_windows[window.order_key] = window
    work: list[Window | Repair] = [*open_windows.values(), *repairs.unclaimed_repairs(conn, account)]
    pricing = Pricing(ctx, member_accounts(conn), cap_usage(conn, account))
    for unit in sorted(work, key=lambda w: w.order_key):
        if isinstance(unit, Window):
            items += window_items(conn, unit, account, pricing)
        else:
            items.append(repair_item(unit, account, pricing))
    return items


@dataclass(frozen=True)
class Pricing:
    """What the settlement planners price with: the context, the members, and the cap usage so far.

    ``used`` is carried from one planned settlement to the next, as the engine saves it.
    """

    ctx: PlanContext
    members: frozenset[str]
    used: Usage

    def carry(self, capped: Iterable[CappedMint[Any]]) -> None:
        """Add what a planned settlement mints to the usage the next one sees."""
        for c in capped:
            key = (c.result.request.account, c.result.request.day)
            self.used[key] = self.used.get(key, 0) + c.result.minted_micro


def covering_window(deposit: Deposit, windows: Sequence[Window]) -> Window | None:
    """The first pending collection of the bin at or after the deposit (its window holds it)."""
    return next((w for w in windows if w.item.collection.ts >= deposit.ts), None)


def uncollected_deposit(deposit: Deposit, ctx: PlanContext) -> PendingItem:
    """A deposit whose bin has not been collected since: what it mints at its material's rate."""
    rate = ctx.policy.recycling.rates_rcy_per_kg[deposit.material]
    estimate = 0 if deposit.contaminated else rcy_micro(deposit.weight_g, rate)
    note = (
        "marked contaminated: it will mint nothing"
        if deposit.contaminated
        else "if the collection's weight confirms the bin's deposits (mass balance) and within the daily cap"
    )
    return PendingItem(
        "deposit", RCY, deposit.ts, deposit_words(deposit), "awaiting_collection", estimate, note
    )


def cap_usage(conn: psycopg.Connection, account: str) -> Usage:
    """What the account has minted per UTC day so far (read without a lock)."""
    return {(a, day): used for a, day, used in conn.execute(queries.CAP_USAGE, {"account": account})}


def window_items(
    conn: psycopg.Connection, window: Window, account: str, pricing: Pricing
) -> list[PendingItem]:
    """The account's deposits in one collection window, priced as the engine will settle the window."""
    collection = window.item.collection
    deposits = deposit_shell.window_deposits(conn, collection.device_id, window.after, collection.ts)
    ctx = pricing.ctx.at(window.item.coop_id, collection.ts)  # as the engine: the policy in force then
    settlement, capped = deposit_settlement(
        window.item, deposits, ctx=ctx, members=pricing.members, used=pricing.used
    )
    pricing.carry(capped)
    minted = {
        (c.source.device_id, c.source.event_id): c.result.minted_micro
        for c in capped
        if c.result.request.account == account
    }
    flags = {f.source_key: f.flag for f in settlement.flags}
    items = []
    for deposit in (d for d in deposits if d.account == account):
        flag = flags.get(source_key(deposit.device_id, deposit.event_id))
        note = f"flag {flag} (see docs/rewards.md)" if flag else f"with collection {collection.event_id}"
        estimate = minted.get((deposit.device_id, deposit.event_id), 0)
        items.append(
            PendingItem("deposit", RCY, deposit.ts, deposit_words(deposit), window.status, estimate, note)
        )
    return items


def mint_to(settlement: Settlement, account: str) -> int:
    """What a planned settlement mints to ``account``."""
    return sum(e.amount_micro for e in settlement.entries if e.kind == "mint" and e.account == account)


def repair_item(repair: Repair, account: str, pricing: Pricing) -> PendingItem:
    """The account's part of one unsettled repair, as the engine will settle it."""
    ctx = pricing.ctx.at(repair.coop_id, repair.ts)
    settlement, capped = repair_settlement(repair, ctx, pricing.members, pricing.used)
    pricing.carry(capped)
    role = " and ".join(
        r for r, a in (("owner", repair.owner), ("repairer", repair.repairer)) if a == account
    )
    flags = ", ".join(f.flag for f in settlement.flags)
    note = "only a fixed repair mints" if repair.status != "fixed" else (f"flag {flags}" if flags else "")
    ready = repair_ready(repair, watermark=ctx.watermark, drain=ctx.drain)
    what = f"{repair.category} ({repair.status.replace('_', ' ')}) at {repair.device_id}, you as {role}"
    status: Status = "ready" if ready else "awaiting_watermark"
    return PendingItem("repair", RCY, repair.ts, what, status, mint_to(settlement, account), note)


# --- green hours -----------------------------------------------------------------------------


def green_pending(
    conn: psycopg.Connection, coop_id: str, account: str, ctx: PlanContext
) -> list[PendingItem]:
    """The account's share of the co-op's unsettled green hours (its shares as they are now)."""
    settled = green.settled_through(conn, coop_id)
    end = green.policy_bounded(green.coop_settle_end(conn, coop_id, ctx), coop_id, settled, ctx)
    baselines = green.meter_baselines(conn, coop_id)
    green.fill_pairs(
        conn,
        coop_id,
        baselines=baselines,
        window_end=green.FAR_FUTURE,
        settled=settled,
        plausibility_pct=ctx.at(coop_id, settled).policy.green.plausibility_pct,
    )
    meter_hours, flagged = green.read_pair_summaries(conn)
    plans = plan_green(coop_id, end=None, baselines=baselines, meter_hours=meter_hours, flagged=flagged)
    shares: dict[str, int] = dict(conn.execute(inputs.COOP_SHARES, {"coop_id": coop_id}).fetchall())
    if shares.get(account, 0) <= 0:
        return []  # no shares, no part of the co-op's green credits
    return [green_item(plan, account, shares, end, ctx) for plan in plans if plan.credited_wh > 0]


def green_status(plan: GreenPlan, end: datetime | None, ctx: PlanContext) -> Status:
    """Why a green plan has not settled: the co-op's settle end (``settle_end``) and W."""
    if plan.hour is None or (end is not None and plan.hour + HOUR <= end):
        return "ready"
    if ctx.watermark is None or plan.hour + HOUR > ctx.watermark:
        return "hour_open"
    return "awaiting_meters"


def green_item(
    plan: GreenPlan, account: str, shares: Mapping[str, int], end: datetime | None, ctx: PlanContext
) -> PendingItem:
    """The account's estimated part of one unsettled green hour (or of the co-op's late pairs)."""
    settlement = green_settlement(plan, ctx.at(plan.coop_id, plan.period_start), shares)
    total = amount_text(settlement.minted_micro, GRN)
    when = "late readings of hours already settled" if plan.hour is None else f"hour {hour_label(plan.hour)}"
    what = f"{plan.coop_id} {when}: the co-op's meters credited {plan.credited_wh} Wh so far ({total} in all)"
    ts = plan.period_start or ctx.watermark or datetime.now(UTC)
    amount = mint_to(settlement, account)
    note = "your shares and the co-op's readings at settlement time decide"
    return PendingItem("green", GRN, ts, what, green_status(plan, end, ctx), amount, note)
