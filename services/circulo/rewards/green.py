"""Green settlement, the database shell: pairs from SQL, plans committed one transaction each.

The pairs are computed in SQL (:data:`circulo.rewards.queries.green.FILL_PAIRS`); the pure
planner (:mod:`circulo.rewards.plans.green`) turns their per-hour summaries into
settlements, and each one commits here in its own transaction: claims, flags, progress
marks and mints together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import psycopg

from circulo.certificates import registry as certificates
from circulo.certificates.hours import Span
from circulo.certificates.records import Issuance
from circulo.governance.tally import next_whole_hour
from circulo.ledger.entries import LedgerEntry
from circulo.rewards.plans.green import (
    HOUR,
    PRODUCTION_RECORD,
    FlaggedPair,
    GreenPlan,
    MeterAdvance,
    MeterHour,
    PendingGap,
    drain_end,
    green_settlement,
    last_settled_through,
    meter_hour,
    plan_bundles,
    plan_green,
    plan_production,
    replay_bound,
    settle_end,
)
from circulo.rewards.queries import green as sql
from circulo.rewards.queries import inputs
from circulo.rewards.records import CycleContext, PlanContext, Settlement
from circulo.rewards.rules import MeterReading, hour_of
from circulo.rewards.settlement import SettlementConflict, mint, record_settlement, settlement_transaction

# Upper bound of the pair window in drain mode (everything received settles).
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)


def coops_with_meters(conn: psycopg.Connection) -> list[str]:
    """Every co-op that has (or had) a meter."""
    return [row[0] for row in conn.execute(inputs.COOPS_WITH_METERS)]


def coop_settle_end(conn: psycopg.Connection, coop_id: str, ctx: PlanContext) -> datetime | None:
    """:func:`settle_end` for a co-op from the database, bounded by its meters' pending replay gaps
    (:func:`replay_bound`; not used in drain mode)."""
    if ctx.watermark is None:
        return None
    since = ctx.watermark - timedelta(seconds=ctx.idle_timeout_s)
    recent = frozenset(
        row[0] for row in conn.execute(sql.RECENT_METERS, {"coop_id": coop_id, "since": since})
    )
    done = {
        row[0]: row[1]
        for row in conn.execute(sql.METER_FRONTIER, {"coop_id": coop_id, "watermark": ctx.watermark})
    }
    gaps = [
        PendingGap(*row)
        for row in conn.execute(
            sql.PENDING_GAPS, {"coop_id": coop_id, "replay_timeout_s": ctx.replay_timeout_s}
        )
    ]
    end = settle_end(done, recent, ctx.watermark)
    return replay_bound(end, gaps, ctx.watermark, settled_through(conn, coop_id))


def settled_through(conn: psycopg.Connection, coop_id: str) -> datetime | None:
    """The end of the co-op's last settled hour (None: nothing settled yet)."""
    row = conn.execute(sql.GREEN_PROGRESS, {"coop_id": coop_id}).fetchone()
    return row[0] if row else None


def meter_baselines(conn: psycopg.Connection, coop_id: str) -> dict[str, MeterReading]:
    """Each meter's last settled reading (the start of its next pair)."""
    return {
        row[0]: MeterReading(row[1], row[2])
        for row in conn.execute(sql.METER_BASELINES, {"coop_id": coop_id})
    }


def fill_pairs(
    conn: psycopg.Connection,
    coop_id: str,
    *,
    baselines: Mapping[str, MeterReading],
    window_end: datetime,
    settled: datetime | None,
    plausibility_pct: int,
    glitch_window_us: int = 0,
    watermark: datetime = FAR_FUTURE,
) -> dict[str, datetime]:
    """Compute the co-op's unclaimed pairs before ``window_end`` into the session's pair table.

    Returns each meter's first dip that may still be a glitch (``watermark``: W, or
    FAR_FUTURE when everything received is final); those meters' rows from it on are taken
    out of the table, so nothing of them settles before the glitch window has run.
    """
    has_all_baselines = bool(baselines) and all_meters_have_baselines(conn, coop_id, baselines)
    lower = min(b.ts for b in baselines.values()) if has_all_baselines else FAR_PAST
    conn.execute(sql.CREATE_PAIRS_TABLE)
    conn.execute(sql.CLEAR_PAIRS)
    conn.execute(
        sql.FILL_PAIRS,
        {
            "coop_id": coop_id,
            "lower": lower,
            "window_end": window_end,
            "settled_through": settled,
            "plausibility_pct": plausibility_pct,
            "glitch_window_us": glitch_window_us,
            "watermark": watermark,
        },
    )
    pending = {device: ts for device, ts in conn.execute(sql.PENDING_DIPS)}
    if pending:
        conn.execute(sql.DROP_PENDING)
    conn.execute(sql.INDEX_PAIRS)
    return pending


def all_meters_have_baselines(
    conn: psycopg.Connection, coop_id: str, baselines: Mapping[str, MeterReading]
) -> bool:
    """Whether every meter of the co-op has a progress mark (the pair scan can start late)."""
    meters = conn.execute(sql.COUNT_METERS, {"coop_id": coop_id}).fetchone()
    return meters is not None and meters[0] == len(baselines)


def read_pair_summaries(conn: psycopg.Connection) -> tuple[list[MeterHour], list[FlaggedPair]]:
    """The pair table summed per meter and hour, and its flagged pairs."""
    meter_hours = [meter_hour(row) for row in conn.execute(sql.METER_HOURS)]
    flagged = [FlaggedPair(*row[1:]) for row in conn.execute(sql.FLAGGED_PAIRS)]
    return meter_hours, flagged


def read_spans(conn: psycopg.Connection) -> list[Span]:
    """The pair table's credited pairs that began before their hour."""
    return [Span(*row) for row in conn.execute(sql.SPANNING_PAIRS)]


def settle_coop(conn: psycopg.Connection, coop_id: str, ctx: CycleContext) -> list[Settlement]:
    """Settle what is ready for one co-op; returns the committed settlements in order.

    Stops at the first conflict (another engine is at work: the next cycle starts again
    from the committed progress marks).
    """
    settled = settled_through(conn, coop_id)
    end = None if ctx.drain else policy_bounded(coop_settle_end(conn, coop_id, ctx), coop_id, settled, ctx)
    window_end = FAR_FUTURE if ctx.drain else max((t for t in (settled, end) if t is not None), default=None)
    if window_end is None:
        return []
    baselines = meter_baselines(conn, coop_id)
    green_policy = ctx.at(coop_id, settled).policy.green
    pending = fill_pairs(
        conn,
        coop_id,
        baselines=baselines,
        window_end=window_end,
        settled=settled,
        plausibility_pct=green_policy.plausibility_pct,
        glitch_window_us=green_policy.glitch_window_us,
        watermark=FAR_FUTURE if ctx.drain or ctx.watermark is None else ctx.watermark,
    )
    end = wait_for_followers(end, pending)
    meter_hours, flagged = read_pair_summaries(conn)
    spans = read_spans(conn)
    plans = plan_green(
        coop_id, end=end, baselines=baselines, meter_hours=meter_hours, flagged=flagged, spans=spans
    )
    done = commit_plans(conn, plans, ctx, settled)
    new_end = drain_end(meter_hours, settled) if ctx.drain else end
    if len(done) == len(plans) and new_end is not None and (settled is None or new_end > settled):
        advance_hours(conn, coop_id, ctx, expected=last_settled_through(plans, settled), to=new_end)
    return done


def policy_bounded(
    end: datetime | None, coop_id: str, settled: datetime | None, ctx: PlanContext
) -> datetime | None:
    """Stop a governed co-op's settling at its next policy change: no window straddles two policies.

    Plausibility is judged for the whole pair window at once; cut there, every hour settles
    under the one policy in force for it (the next cycle starts at the change).
    """
    if end is None or settled is None or ctx.governance is None:
        return end
    coop = ctx.governance.coops.get(coop_id)
    starts = [next_whole_hour(p.effective_from) for p in coop.periods] if coop else []
    return min((start for start in starts if settled < start < end), default=end)


def wait_for_followers(end: datetime | None, pending: Mapping[str, datetime]) -> datetime | None:
    """A meter with a dip that may still be a glitch is not done with that dip's hour."""
    if end is None or not pending:
        return end
    return min(end, *(hour_of(ts) for ts in pending.values()))


def commit_plans(
    conn: psycopg.Connection, plans: Sequence[GreenPlan], ctx: CycleContext, settled: datetime | None
) -> list[Settlement]:
    """Commit plans in order, each in its own transaction; stop at the first conflict."""
    done = []
    for plan in plans:
        try:
            done.append(commit_green(conn, plan, ctx, settled))
        except SettlementConflict:
            if not done:
                raise
            break
        if plan.hour is not None:
            settled = plan.hour + HOUR
    return done


def commit_green(
    conn: psycopg.Connection, plan: GreenPlan, ctx: CycleContext, settled: datetime | None
) -> Settlement:
    """Claims, flags, progress marks, certificates and mints of one plan, in one transaction."""
    ctx = ctx.at(plan.coop_id, plan.period_start)
    with settlement_transaction(conn, ctx.epoch):
        shares: dict[str, int] = {
            account: count for account, count in conn.execute(inputs.COOP_SHARES, {"coop_id": plan.coop_id})
        }
        issuance = issue_certificates(conn, plan)
        settlement = green_settlement(plan, ctx, shares, issuance)
        settlement_pk = record_settlement(conn, settlement, ctx)
        claim_pairs(conn, plan, settlement_pk)
        advance_meters(conn, plan.advances)
        if plan.hour is not None:
            move_green_progress(conn, plan.coop_id, expected=settled, to=plan.hour + HOUR)
        sealed = mint(conn, settlement, ctx.signer)
        record_certificates(conn, plan, issuance, sealed, settlement_pk)
    return settlement


def issue_certificates(conn: psycopg.Connection, plan: GreenPlan) -> Issuance:
    """The registry's inputs to the plan's certificates, its ids allocated from the counter row
    in this transaction (a rollback gives them back)."""
    certified = plan_production(plan).certified_wh if plan.credited_wh else 0
    return certificates.issuance_inputs(conn, plan.coop_id, certified)


def record_certificates(
    conn: psycopg.Connection,
    plan: GreenPlan,
    issuance: Issuance,
    sealed: Sequence[LedgerEntry],
    settlement_pk: int,
) -> None:
    """The issued bundles' rows, naming the settlement's ``certificate.issue`` record."""
    record = next((e for e in sealed if e.reason == PRODUCTION_RECORD), None)
    if record is None or not plan.credited_wh:
        return
    certificates.record_issuance(
        conn, coop_id=plan.coop_id, bundles=plan_bundles(plan, issuance), inputs=issuance, record=record,
        settlement_pk=settlement_pk,
    )  # fmt: skip


def claim_pairs(conn: psycopg.Connection, plan: GreenPlan, settlement_pk: int) -> None:
    """Claim every pair of the plan; fewer rows than planned means the data moved under us."""
    if plan.hour is None:
        cur = conn.execute(sql.CLAIM_LATE_PAIRS, {"settlement": settlement_pk})
    else:
        cur = conn.execute(sql.CLAIM_HOUR_PAIRS, {"settlement": settlement_pk, "hour": plan.hour})
    if cur.rowcount != plan.claims:
        raise SettlementConflict(f"{plan.settlement_id}: claimed {cur.rowcount} of {plan.claims} pairs")


def advance_meters(conn: psycopg.Connection, advances: Sequence[MeterAdvance]) -> None:
    """Move meter progress marks by compare-and-set; any mismatch is a conflict."""
    moving = [a for a in advances if a.expected is not None]
    starting = [a for a in advances if a.expected is None]
    if moving:
        cur = conn.execute(
            sql.ADVANCE_METERS,
            {
                "devices": [a.device_id for a in moving],
                "expected": [a.expected.ts for a in moving if a.expected is not None],
                "last_ts": [a.last.ts for a in moving],
                "last_wh": [a.last.energy_wh for a in moving],
            },
        )
        if cur.rowcount != len(moving):
            raise SettlementConflict("a meter's progress moved under this engine")
    if starting:
        cur = conn.execute(
            sql.START_METERS,
            {
                "devices": [a.device_id for a in starting],
                "last_ts": [a.last.ts for a in starting],
                "last_wh": [a.last.energy_wh for a in starting],
            },
        )
        if cur.rowcount != len(starting):
            raise SettlementConflict("a meter's first progress mark was written by another engine")


def move_green_progress(
    conn: psycopg.Connection, coop_id: str, *, expected: datetime | None, to: datetime
) -> None:
    """Compare-and-set the co-op's settled-through mark."""
    params = {"coop_id": coop_id, "expected": expected, "settled_through": to}
    statement = sql.START_GREEN if expected is None else sql.ADVANCE_GREEN
    if conn.execute(statement, params).rowcount != 1:
        raise SettlementConflict(f"co-op {coop_id}: settled hours moved under this engine")


def advance_hours(
    conn: psycopg.Connection, coop_id: str, ctx: CycleContext, *, expected: datetime | None, to: datetime
) -> None:
    """Mark hours without pairs as settled too (a pair arriving for them later is late)."""
    if expected is not None and to <= expected:
        return
    with settlement_transaction(conn, ctx.epoch):
        move_green_progress(conn, coop_id, expected=expected, to=to)
