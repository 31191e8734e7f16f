"""Green credit settlement: per co-op and UTC hour, once every active meter is done with it.

A meter is done with hour H when one of its readings with ``ts ≥ end(H)`` is committed and
the low watermark W has passed that reading's receipt, or when nothing has been received
from it for the idle timeout (judged against W, before which everything is committed).
The co-op settles every hour before the earliest point all its active meters reached
(:func:`settle_end`). Pairs whose hour had already settled when they arrived are
credited in one ``green-late`` settlement, their original hours kept in the sources.

The pairs are computed in SQL (:data:`queries.FILL_PAIRS`); this module plans settlements
from per-hour summaries (pure) and commits each plan in its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from circulo.errors import VerificationFailed
from circulo.ledger.entries import canonical_json, format_ts, sha256_hex
from circulo.rewards import queries
from circulo.rewards.rules import (
    MeterReading,
    byte_order,
    grn_micro,
    hour_of,
    split_green,
    treasury_part,
)
from circulo.rewards.settlement import (
    GRN,
    CycleContext,
    FlagRecord,
    Settlement,
    SettlementConflict,
    Source,
    mint,
    mint_entries,
    record_settlement,
    settlement_transaction,
    source_key,
)

HOUR = timedelta(hours=1)
# Upper bound of the pair window in drain mode (everything received settles).
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------------------
# Plans (pure)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterHour:
    """The claims of one meter in one hour (late or not): what they credit and where they end.

    ``from``/``to`` are the registers before the hour's first pair and after its last;
    credited Wh = to − from − the excluded deltas (SPEC §4's conservation, per hour).
    ``pairs`` is 0 when the hour holds only the meter's baseline reading.
    """

    late: bool
    hour: datetime
    device_id: str
    claims: int
    pairs: int
    first_ts: datetime
    start: MeterReading | None
    last: MeterReading
    credited_wh: int
    excluded_wh: int

    def source(self) -> Source:
        """The meter's hour as ledger evidence."""
        start = self.start or self.last
        return {
            "type": "meter_hour",
            "device_id": self.device_id,
            "hour": format_ts(self.hour),
            "from_ts": format_ts(start.ts),
            "from_wh": start.energy_wh,
            "to_ts": format_ts(self.last.ts),
            "to_wh": self.last.energy_wh,
            "pairs": self.pairs,
            "excluded_wh": self.excluded_wh,
        }


@dataclass(frozen=True)
class FlaggedPair:
    """A pair that credited nothing, and why."""

    device_id: str
    hour: datetime
    prev_ts: datetime
    prev_wh: int
    ts: datetime
    energy_wh: int
    flag: str

    @property
    def delta_wh(self) -> int:
        """The register difference the pair would have credited."""
        return self.energy_wh - self.prev_wh

    def source(self) -> Source:
        """The excluded pair as ledger evidence (its delta is the hour's excluded part)."""
        return {
            "type": "meter_pair",
            "device_id": self.device_id,
            "hour": format_ts(self.hour),
            "from_ts": format_ts(self.prev_ts),
            "from_wh": self.prev_wh,
            "to_ts": format_ts(self.ts),
            "to_wh": self.energy_wh,
            "flag": self.flag,
        }


@dataclass(frozen=True)
class MeterAdvance:
    """A meter's progress mark moving from ``expected`` (None: first ever) to ``last``."""

    device_id: str
    expected: MeterReading | None
    last: MeterReading


@dataclass(frozen=True)
class GreenPlan:
    """One green settlement to commit: an hour of a co-op, or its late pairs."""

    coop_id: str
    settlement_id: str
    hour: datetime | None
    claims: int
    meter_hours: tuple[MeterHour, ...]
    flagged: tuple[FlaggedPair, ...]
    advances: tuple[MeterAdvance, ...]

    @property
    def late(self) -> bool:
        """Whether this settles pairs whose hour had already settled."""
        return self.hour is None

    @property
    def credited_wh(self) -> int:
        """Energy credited by the whole settlement."""
        return sum(m.credited_wh for m in self.meter_hours)


def hour_label(hour: datetime) -> str:
    """An hour as it appears in settlement ids: ``2025-06-01T10:00Z``."""
    return hour.astimezone(UTC).strftime("%Y-%m-%dT%H:00Z")


def settle_end(
    done_ts: Mapping[str, datetime | None],
    recent: frozenset[str],
    watermark: datetime | None,
) -> datetime | None:
    """Where a co-op's settled hours may end: every hour ending at or before it settles.

    ``done_ts`` holds, for each active meter, its latest reading whose receipt W passed;
    ``recent`` the meters that sent anything within the idle timeout before W. An idle
    meter is done with every hour up to W's; a meter that is not idle, up to its latest
    passed reading's hour. None: some meter is done with nothing yet (or there is no W).
    """
    if watermark is None:
        return None
    ends = [hour_of(watermark)]
    for device_id, ts in done_ts.items():
        if device_id not in recent:
            continue
        if ts is None:
            return None
        ends.append(hour_of(ts))
    return min(ends)


def late_settlement_id(coop_id: str, meter_hours: Sequence[MeterHour]) -> str:
    """``green-late:{coop}:{device}:{ts}`` named after its first source (earliest ts, device)."""
    first = min(meter_hours, key=lambda m: (m.first_ts, m.device_id))
    return f"green-late:{coop_id}:{first.device_id}:{format_ts(first.first_ts)}"


def plan_green(
    coop_id: str,
    *,
    end: datetime | None,
    baselines: Mapping[str, MeterReading],
    meter_hours: Sequence[MeterHour],
    flagged: Sequence[FlaggedPair],
) -> list[GreenPlan]:
    """The co-op's settlements in commit order: its late pairs first, then hour by hour.

    Only hours ending at or before ``end`` settle (every hour with pairs when ``end`` is
    None: drain). Late meter-hours are those the pair scan found before the co-op's
    settled hours. Each plan moves its meters' progress marks from where the previous
    plan left them.
    """
    progress = dict(baselines)
    plans = []
    late = [m for m in meter_hours if m.late]
    if late:
        late_id = late_settlement_id(coop_id, late)
        plans.append(_plan(coop_id, None, late_id, chosen=late, flagged=flagged, progress=progress))
    hours = sorted({m.hour for m in meter_hours if not m.late and (end is None or m.hour + HOUR <= end)})
    for hour in hours:
        chosen = [m for m in meter_hours if not m.late and m.hour == hour]
        settlement_id = f"green:{coop_id}:{hour_label(hour)}"
        plans.append(_plan(coop_id, hour, settlement_id, chosen=chosen, flagged=flagged, progress=progress))
    return plans


def _plan(
    coop_id: str,
    hour: datetime | None,
    settlement_id: str,
    *,
    chosen: Sequence[MeterHour],
    flagged: Sequence[FlaggedPair],
    progress: dict[str, MeterReading],
) -> GreenPlan:
    """A plan for ``chosen`` meter-hours (one hour, or the late ones); updates ``progress``."""
    keys = {(m.hour, m.device_id) for m in chosen}
    advances = []
    for device_id in sorted({m.device_id for m in chosen}):
        last = max((m for m in chosen if m.device_id == device_id), key=lambda m: m.last.ts).last
        advances.append(MeterAdvance(device_id, progress.get(device_id), last))
        progress[device_id] = last
    return GreenPlan(
        coop_id=coop_id,
        settlement_id=settlement_id,
        hour=hour,
        claims=sum(m.claims for m in chosen),
        meter_hours=tuple(m for m in chosen if m.pairs > 0),
        flagged=tuple(f for f in flagged if (f.hour, f.device_id) in keys),
        advances=tuple(advances),
    )


def pair_flag_record(pair: FlaggedPair, grn_per_kwh_micro: int, plausibility_pct: int) -> FlagRecord:
    """The flag row of an excluded pair (an implausible pair withholds its delta's GRN)."""
    if pair.flag == "counter_reset":
        detail = (
            f"register fell from {pair.prev_wh} Wh to {pair.energy_wh} Wh; "
            f"{pair.energy_wh} Wh is the new baseline"
        )
        excluded = 0
    else:
        seconds = (pair.ts - pair.prev_ts).total_seconds()
        detail = (
            f"+{pair.delta_wh} Wh in {seconds:g} s is more than {plausibility_pct} % of the meter's "
            f"rated power; {pair.energy_wh} Wh is the new baseline"
        )
        excluded = pair.delta_wh * grn_per_kwh_micro
    return FlagRecord(
        flag=pair.flag,
        device_id=pair.device_id,
        ts=pair.ts,
        detail=detail,
        token=GRN,
        source_key=source_key(pair.device_id, pair.ts),
        excluded_micro=excluded,
    )


def green_evidence(plan: GreenPlan) -> tuple[Source, ...]:
    """The meter-hours and excluded pairs that justify a plan's credited Wh."""
    return tuple(m.source() for m in plan.meter_hours) + tuple(f.source() for f in plan.flagged)


def evidence_digest(evidence: tuple[Source, ...], credited_wh: int) -> Source:
    """Binds an entry to its settlement's evidence: SHA-256 of the evidence array's JCS."""
    return {
        "type": "evidence",
        "sha256": sha256_hex(canonical_json(list(evidence))),
        "sources": len(evidence),
        "credited_wh": credited_wh,
    }


@dataclass(frozen=True)
class GreenSplit:
    """A settlement's amount and how it was shared: each entry's own arithmetic."""

    coop_id: str
    credited_wh: int
    grn_per_kwh: Decimal
    treasury_bp: int
    amount_micro: int
    member_shares: Mapping[str, int]

    @property
    def total_shares(self) -> int:
        """The members' shares that count (zero and negative never do)."""
        return sum(s for s in self.member_shares.values() if s > 0)

    def amounts(self) -> dict[str, int]:
        """One amount per receiving account (see :func:`rules.split_green`)."""
        return split_green(
            self.amount_micro,
            treasury_bp=self.treasury_bp,
            treasury_account=f"treasury@{self.coop_id}",
            member_shares=self.member_shares,
        )

    def source(self, account: str) -> Source:
        """The split as one account's evidence."""
        treasury = (
            treasury_part(self.amount_micro, self.treasury_bp) if self.total_shares else self.amount_micro
        )
        return {
            "type": "split",
            "coop_id": self.coop_id,
            "credited_wh": self.credited_wh,
            "grn_per_kwh": str(self.grn_per_kwh),
            "amount_micro": self.amount_micro,
            "treasury_bp": self.treasury_bp,
            "treasury_micro": treasury,
            "account_shares": max(self.member_shares.get(account, 0), 0),
            "total_shares": self.total_shares,
        }


def green_settlement(plan: GreenPlan, ctx: CycleContext, member_shares: Mapping[str, int]) -> Settlement:
    """The settlement of a plan under the policy and the members' shares at this moment.

    The evidence (each meter's hour, each excluded pair) is the same for every account
    of a settlement, so it is written once, into the settlement's first entry (the first
    receiving account in byte order); every entry carries its own split and the SHA-256
    of that evidence, binding it to the exact figures. Re-checking needs only the ledger:
    the entries of one ``settlement_id``.
    """
    policy = ctx.policy.green
    amount = grn_micro(plan.credited_wh, policy.grn_per_kwh)
    split = GreenSplit(
        plan.coop_id, plan.credited_wh, policy.grn_per_kwh, policy.treasury_bp, amount, member_shares
    )
    amounts = split.amounts()
    evidence = green_evidence(plan)
    digest = evidence_digest(evidence, plan.credited_wh)
    first = min(amounts, key=byte_order, default=None)
    return Settlement(
        settlement_id=plan.settlement_id,
        kind="green-late" if plan.late else "green",
        token=GRN,
        sources=plan.claims,
        coop_id=plan.coop_id,
        hour=plan.hour,
        credited_wh=plan.credited_wh,
        entries=mint_entries(
            token=GRN,
            reason="green.energy",
            settlement_id=plan.settlement_id,
            amounts=amounts,
            sources_for=lambda a: (split.source(a), digest, *(evidence if a == first else ())),
            policy=ctx.policy,
        ),
        flags=green_flags(plan, ctx),
    )


def green_flags(plan: GreenPlan, ctx: CycleContext) -> tuple[FlagRecord, ...]:
    """The flag rows of a plan's excluded pairs."""
    rate_micro = grn_micro(1, ctx.policy.green.grn_per_kwh)
    return tuple(pair_flag_record(f, rate_micro, ctx.policy.green.plausibility_pct) for f in plan.flagged)


# ---------------------------------------------------------------------------------------
# Database shell
# ---------------------------------------------------------------------------------------


def coops_with_meters(conn: psycopg.Connection) -> list[str]:
    """Every co-op that has (or had) a meter."""
    return [row[0] for row in conn.execute(queries.COOPS_WITH_METERS)]


def coop_settle_end(conn: psycopg.Connection, coop_id: str, ctx: CycleContext) -> datetime | None:
    """:func:`settle_end` for a co-op from the database (not used in drain mode)."""
    if ctx.watermark is None:
        return None
    since = ctx.watermark - timedelta(seconds=ctx.idle_timeout_s)
    recent = frozenset(
        row[0] for row in conn.execute(queries.RECENT_METERS, {"coop_id": coop_id, "since": since})
    )
    done = {
        row[0]: row[1]
        for row in conn.execute(queries.METER_FRONTIER, {"coop_id": coop_id, "watermark": ctx.watermark})
    }
    return settle_end(done, recent, ctx.watermark)


def settled_through(conn: psycopg.Connection, coop_id: str) -> datetime | None:
    """The end of the co-op's last settled hour (None: nothing settled yet)."""
    row = conn.execute(queries.GREEN_PROGRESS, {"coop_id": coop_id}).fetchone()
    return row[0] if row else None


def meter_baselines(conn: psycopg.Connection, coop_id: str) -> dict[str, MeterReading]:
    """Each meter's last settled reading (the start of its next pair)."""
    return {
        row[0]: MeterReading(row[1], row[2])
        for row in conn.execute(queries.METER_BASELINES, {"coop_id": coop_id})
    }


def fill_pairs(
    conn: psycopg.Connection,
    coop_id: str,
    *,
    baselines: Mapping[str, MeterReading],
    window_end: datetime,
    settled: datetime | None,
    plausibility_pct: int,
) -> None:
    """Compute the co-op's unclaimed pairs before ``window_end`` into the session's pair table."""
    has_all_baselines = bool(baselines) and all_meters_have_baselines(conn, coop_id, baselines)
    lower = min(b.ts for b in baselines.values()) if has_all_baselines else FAR_PAST
    conn.execute(queries.CREATE_PAIRS_TABLE)
    conn.execute(queries.CLEAR_PAIRS)
    conn.execute(
        queries.FILL_PAIRS,
        {
            "coop_id": coop_id,
            "lower": lower,
            "window_end": window_end,
            "settled_through": settled,
            "plausibility_pct": plausibility_pct,
        },
    )
    conn.execute(queries.INDEX_PAIRS)


def all_meters_have_baselines(
    conn: psycopg.Connection, coop_id: str, baselines: Mapping[str, MeterReading]
) -> bool:
    """Whether every meter of the co-op has a progress mark (the pair scan can start late)."""
    meters = conn.execute(queries.COUNT_METERS, {"coop_id": coop_id}).fetchone()
    return meters is not None and meters[0] == len(baselines)


def read_pair_summaries(conn: psycopg.Connection) -> tuple[list[MeterHour], list[FlaggedPair]]:
    """The pair table summed per meter and hour, and its flagged pairs."""
    meter_hours = [meter_hour(row) for row in conn.execute(queries.METER_HOURS)]
    flagged = [
        FlaggedPair(device, hour, prev_ts, prev_wh, ts, wh, flag)
        for _late, hour, device, prev_ts, prev_wh, ts, wh, flag in conn.execute(queries.FLAGGED_PAIRS)
    ]
    return meter_hours, flagged


def meter_hour(row: Sequence[Any]) -> MeterHour:
    """A :class:`MeterHour` from a METER_HOURS row, its conservation checked."""
    late, hour, device, claims, pairs, first_ts, from_ts, from_wh, last_ts, last_wh, credited, excluded = row
    start = MeterReading(from_ts, from_wh) if pairs else None
    summary = MeterHour(
        late, hour, device, claims, pairs, first_ts, start, MeterReading(last_ts, last_wh), credited, excluded
    )
    if start is not None and summary.credited_wh != last_wh - from_wh - excluded:
        raise VerificationFailed(f"{device} {hour}: credited Wh do not add up (to − from − excluded)")
    return summary


def settle_coop(conn: psycopg.Connection, coop_id: str, ctx: CycleContext) -> list[Settlement]:
    """Settle what is ready for one co-op; returns the committed settlements in order.

    Stops at the first conflict (another engine is at work: the next cycle starts again
    from the committed progress marks).
    """
    settled = settled_through(conn, coop_id)
    end = None if ctx.drain else coop_settle_end(conn, coop_id, ctx)
    window_end = FAR_FUTURE if ctx.drain else max((t for t in (settled, end) if t is not None), default=None)
    if window_end is None:
        return []
    baselines = meter_baselines(conn, coop_id)
    fill_pairs(
        conn,
        coop_id,
        baselines=baselines,
        window_end=window_end,
        settled=settled,
        plausibility_pct=ctx.policy.green.plausibility_pct,
    )
    meter_hours, flagged = read_pair_summaries(conn)
    plans = plan_green(coop_id, end=end, baselines=baselines, meter_hours=meter_hours, flagged=flagged)
    done = commit_plans(conn, plans, ctx, settled)
    new_end = drain_end(meter_hours, settled) if ctx.drain else end
    if len(done) == len(plans) and new_end is not None and (settled is None or new_end > settled):
        advance_hours(conn, coop_id, ctx, expected=last_settled_through(plans, settled), to=new_end)
    return done


def drain_end(meter_hours: Iterable[MeterHour], settled: datetime | None) -> datetime | None:
    """In drain mode the co-op's hours settle through the last hour that has a pair."""
    hours = [m.hour + HOUR for m in meter_hours if not m.late]
    return max(hours, default=settled)


def last_settled_through(plans: Sequence[GreenPlan], settled: datetime | None) -> datetime | None:
    """The co-op's progress mark after the plans commit."""
    hours = [p.hour + HOUR for p in plans if p.hour is not None]
    return max(hours, default=settled)


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
    """Claims, flags, progress marks and mints of one plan, in one transaction."""
    with settlement_transaction(conn, ctx.epoch):
        shares: dict[str, int] = {
            account: count for account, count in conn.execute(queries.COOP_SHARES, {"coop_id": plan.coop_id})
        }
        settlement = green_settlement(plan, ctx, shares)
        settlement_pk = record_settlement(conn, settlement, ctx)
        claim_pairs(conn, plan, settlement_pk)
        advance_meters(conn, plan.advances)
        if plan.hour is not None:
            move_green_progress(conn, plan.coop_id, expected=settled, to=plan.hour + HOUR)
        mint(conn, settlement, ctx.signer)
    return settlement


def claim_pairs(conn: psycopg.Connection, plan: GreenPlan, settlement_pk: int) -> None:
    """Claim every pair of the plan; fewer rows than planned means the data moved under us."""
    if plan.hour is None:
        cur = conn.execute(queries.CLAIM_LATE_PAIRS, {"settlement": settlement_pk})
    else:
        cur = conn.execute(queries.CLAIM_HOUR_PAIRS, {"settlement": settlement_pk, "hour": plan.hour})
    if cur.rowcount != plan.claims:
        raise SettlementConflict(f"{plan.settlement_id}: claimed {cur.rowcount} of {plan.claims} pairs")


def advance_meters(conn: psycopg.Connection, advances: Sequence[MeterAdvance]) -> None:
    """Move meter progress marks by compare-and-set; any mismatch is a conflict."""
    moving = [a for a in advances if a.expected is not None]
    starting = [a for a in advances if a.expected is None]
    if moving:
        cur = conn.execute(
            queries.ADVANCE_METERS,
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
            queries.START_METERS,
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
    statement = queries.START_GREEN if expected is None else queries.ADVANCE_GREEN
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
