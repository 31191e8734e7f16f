"""Green settlement plans (pure): which hours of a co-op settle, what they credit, and to whom.

A meter is done with hour H when one of its readings with ``ts ≥ end(H)`` is committed and
the low watermark W has passed that reading's receipt, or when nothing has been received
from it for the idle timeout (judged against W). The co-op settles every hour before the
earliest point all its active meters reached (:func:`settle_end`), and not past an hour a
pending replay of a meter's missing readings may still fill in (:func:`replay_bound`).
Pairs whose hour had already settled when they arrived are credited in one ``green-late``
settlement, their original hours kept in the sources. The database shell is
:mod:`circulo.rewards.green`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from circulo.certificates.hours import MAX_SPAN, Production, Span, production
from circulo.certificates.records import (
    Issuance,
    IssuedBundle,
    certificates_source,
    issue_bundles,
)
from circulo.errors import VerificationFailed
from circulo.ledger.entries import NewEntry, fast_canonical_json, format_ts, sha256_hex
from circulo.rewards.records import (
    GRN,
    FlagRecord,
    PlanContext,
    Settlement,
    Source,
    mint_entries,
    source_key,
)
from circulo.rewards.rules import MeterReading, grn_micro, hour_of, split_green, treasury_part

HOUR = timedelta(hours=1)
# The record that carries a green settlement's evidence (SPEC §12: the certificates it issues).
PRODUCTION_RECORD = "certificate.issue"


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
    """A reading that credited nothing, and why (a glitch: the follower whose pair credits its span)."""

    device_id: str
    hour: datetime
    prev_ts: datetime
    prev_wh: int
    ts: datetime
    energy_wh: int
    flag: str
    follower_ts: datetime | None = None
    follower_wh: int | None = None
    at_stake_wh: int = 0

    @property
    def delta_wh(self) -> int:
        """The register difference the pair would have credited."""
        return self.energy_wh - self.prev_wh

    def source(self) -> Source:
        """The excluded pair as ledger evidence (a glitch carries all three readings)."""
        source: dict[str, Any] = {
            "type": "meter_pair",
            "device_id": self.device_id,
            "hour": format_ts(self.hour),
            "from_ts": format_ts(self.prev_ts),
            "from_wh": self.prev_wh,
            "to_ts": format_ts(self.ts),
            "to_wh": self.energy_wh,
            "flag": self.flag,
        }
        if self.follower_ts is not None and self.follower_wh is not None:
            source.update(follower_ts=format_ts(self.follower_ts), follower_wh=self.follower_wh)
        return source


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
    spans: tuple[Span, ...] = ()

    @property
    def late(self) -> bool:
        """Whether this settles pairs whose hour had already settled."""
        return self.hour is None

    @property
    def credited_wh(self) -> int:
        """Energy credited by the whole settlement."""
        return sum(m.credited_wh for m in self.meter_hours)

    @property
    def period_start(self) -> datetime | None:
        """The hour the settlement is attributed to (late pairs: the earliest of their hours)."""
        if self.hour is not None:
            return self.hour
        return min((m.hour for m in self.meter_hours), default=None)


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


@dataclass(frozen=True)
class PendingGap:
    """A meter's replay gap still open or requested (SPEC §11): readings between ``before_ts`` and
    ``after_ts`` are missing (None: unbounded on that side), and it holds the meter back until W
    passes ``held_until``."""

    device_id: str
    before_ts: datetime | None
    after_ts: datetime | None
    held_until: datetime


def replay_bound(
    end: datetime | None,
    gaps: Iterable[PendingGap],
    watermark: datetime | None,
    settled: datetime | None = None,
) -> datetime | None:
    """``end`` cut where a pending replay may still fill in a reading (SPEC §11).

    A meter is not done with hour H while one of its pending gaps may cover it: ``before_ts <
    end(H)`` and ``after_ts > start(H)``. Hours settle in order, so the first hour a gap holds
    is ``before_ts``'s; a gap that ends before the co-op's settled hours (``after_ts ≤
    settled``) holds nothing (its readings would change no amount). The wait is bounded: once
    W passes the gap's give-up time it holds nothing back (the ingest declares it lost). A gap
    with no ``before_ts`` may cover any hour before its ``after_ts``: nothing new settles.
    """
    if end is None or watermark is None:
        return end
    holding = [
        gap
        for gap in gaps
        if gap.held_until >= watermark and (gap.after_ts is None or settled is None or gap.after_ts > settled)
    ]
    if any(gap.before_ts is None for gap in holding):
        return None
    return min([end, *(hour_of(gap.before_ts) for gap in holding if gap.before_ts is not None)])


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
    spans: Sequence[Span] = (),
) -> list[GreenPlan]:
    """The co-op's settlements in commit order: its late pairs first, then hour by hour.

    Only hours ending at or before ``end`` settle (every hour with pairs when ``end`` is
    None: drain). Late meter-hours are those the pair scan found before the co-op's
    settled hours. Each plan moves its meters' progress marks from where the previous
    plan left them. ``spans`` are the credited pairs that began before their hour (their
    energy is certified in the hours it was produced in).
    """
    progress = dict(baselines)
    plans = []
    late = [m for m in meter_hours if m.late]
    found = (flagged, spans)
    if late:
        late_id = late_settlement_id(coop_id, late)
        plans.append(_plan(coop_id, None, late_id, chosen=late, found=found, progress=progress))
    hours = sorted({m.hour for m in meter_hours if not m.late and (end is None or m.hour + HOUR <= end)})
    for hour in hours:
        chosen = [m for m in meter_hours if not m.late and m.hour == hour]
        settlement_id = f"green:{coop_id}:{hour_label(hour)}"
        plans.append(_plan(coop_id, hour, settlement_id, chosen=chosen, found=found, progress=progress))
    return plans


def _plan(
    coop_id: str,
    hour: datetime | None,
    settlement_id: str,
    *,
    chosen: Sequence[MeterHour],
    found: tuple[Sequence[FlaggedPair], Sequence[Span]],
    progress: dict[str, MeterReading],
) -> GreenPlan:
    """A plan for ``chosen`` meter-hours (one hour, or the late ones); updates ``progress``."""
    flagged, spans = found
    keys = {(m.hour, m.device_id) for m in chosen}
    latest: dict[str, MeterHour] = {}  # each meter's hour with the latest reading (the first such)
    for m in chosen:
        best = latest.get(m.device_id)
        if best is None or m.last.ts > best.last.ts:
            latest[m.device_id] = m
    advances = []
    for device_id in sorted(latest):
        last = latest[device_id].last
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
        spans=tuple(s for s in spans if s.credited_in[::-1] in keys),
    )


def pair_flag_record(pair: FlaggedPair, grn_per_kwh_micro: int, plausibility_pct: int) -> FlagRecord:
    """The flag row of an excluded reading; it withholds the GRN of the energy at stake.

    What is at stake over an excluded interval is what the meter can have made in it
    (``rules.at_stake_wh``), never a lifetime register: a glitch withholds nothing, its
    span being credited by the follower's pair.
    """
    return FlagRecord(
        flag=pair.flag,
        device_id=pair.device_id,
        ts=pair.ts,
        detail=flag_detail(pair, plausibility_pct),
        token=GRN,
        source_key=source_key(pair.device_id, pair.ts),
        excluded_micro=pair.at_stake_wh * grn_per_kwh_micro,
    )


def flag_detail(pair: FlaggedPair, plausibility_pct: int) -> str:
    """What happened, in words (``circulo rewards flags`` shows it)."""
    seconds = (pair.ts - pair.prev_ts).total_seconds()
    if pair.flag == "glitch" and pair.follower_ts is not None:
        back = (pair.follower_ts - pair.ts).total_seconds()
        return (
            f"register read {pair.energy_wh} Wh after {pair.prev_wh} Wh and was back at "
            f"{pair.follower_wh} Wh {back:g} s later: a glitch; "
            f"{pair.prev_wh} → {pair.follower_wh} Wh is credited"
        )
    if pair.flag == "counter_reset":
        return (
            f"register fell from {pair.prev_wh} Wh to {pair.energy_wh} Wh; {pair.energy_wh} Wh is the new "
            f"baseline; up to {pair.at_stake_wh} Wh over the {seconds:g} s between them are not credited"
        )
    return (
        f"+{pair.delta_wh} Wh in {seconds:g} s is more than {plausibility_pct} % of the meter's rated power; "
        f"{pair.energy_wh} Wh is the new baseline; up to {pair.at_stake_wh} Wh are not credited"
    )


def green_evidence(plan: GreenPlan) -> tuple[Source, ...]:
    """The meter-hours and excluded pairs that justify a plan's credited Wh."""
    return tuple(m.source() for m in plan.meter_hours) + tuple(f.source() for f in plan.flagged)


def evidence_digest(evidence: tuple[Source, ...], credited_wh: int) -> Source:
    """Binds an entry to its settlement's evidence: SHA-256 of the evidence array's JCS."""
    return {
        "type": "evidence",
        "sha256": sha256_hex(fast_canonical_json(list(evidence))),
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


def plan_production(plan: GreenPlan) -> Production:
    """The plan's credited energy per meter and production hour (:mod:`circulo.certificates.hours`)."""
    return production({(m.device_id, m.hour): m.credited_wh for m in plan.meter_hours}, plan.spans)


def plan_bundles(plan: GreenPlan, issuance: Issuance) -> tuple[IssuedBundle, ...]:
    """The bundles the plan issues: one per meter and production hour, ids from ``first_id``."""
    treasury = f"treasury@{plan.coop_id}"
    return issue_bundles(plan_production(plan), issuance.first_id, issuance.holders, treasury)


def green_settlement(
    plan: GreenPlan, ctx: PlanContext, member_shares: Mapping[str, int], issuance: Issuance | None = None
) -> Settlement:
    """The settlement of a plan under the policy and the members' shares at this moment.

    The evidence (each meter's hour, each excluded pair) is the same for every account of a
    settlement, so it is written once, in a ``certificate.issue`` record of the co-op's
    treasury at the head of the settlement (the production it credits, and the certificates
    issued for it); each member's mint carries only its own split and the SHA-256 of that
    evidence, binding it to the exact figures — so a member's entries show no neighbour's
    production. Re-checking needs only the ledger: the entries of one ``settlement_id``.
    With ``issuance``, the record also issues the plan's certificate bundles.
    """
    policy = ctx.policy.green
    amount = grn_micro(plan.credited_wh, policy.grn_per_kwh)
    split = GreenSplit(
        plan.coop_id, plan.credited_wh, policy.grn_per_kwh, policy.treasury_bp, amount, member_shares
    )
    evidence = green_evidence(plan)
    digest = evidence_digest(evidence, plan.credited_wh)
    mints = mint_entries(
        token=GRN,
        reason="green.energy",
        settlement_id=plan.settlement_id,
        amounts=split.amounts(),
        sources_for=lambda account: (split.source(account), digest),
        policy=ctx.policy,
        adopted_by=ctx.adopted_by,
    )
    certificates = certificates_of(plan, issuance)
    return Settlement(
        settlement_id=plan.settlement_id,
        kind="green-late" if plan.late else "green",
        token=GRN,
        sources=plan.claims,
        coop_id=plan.coop_id,
        hour=plan.hour,
        period_start=plan.period_start,
        credited_wh=plan.credited_wh,
        entries=(*production_record(plan, digest, (*evidence, *certificates), ctx), *mints),
        flags=green_flags(plan, ctx) + uncertified_flags(plan) if issuance else green_flags(plan, ctx),
    )


def certificates_of(plan: GreenPlan, issuance: Issuance | None) -> tuple[Source, ...]:
    """The record's ``certificates`` object, beside the evidence (none without credited energy)."""
    if issuance is None or plan.credited_wh == 0:
        return ()
    produced = plan_production(plan)
    bundles = plan_bundles(plan, issuance)
    return (certificates_source(issuance.issuer, bundles, issuance.devices, produced, plan.spans),)


def production_record(
    plan: GreenPlan, digest: Source, sources: tuple[Source, ...], ctx: PlanContext
) -> tuple[NewEntry, ...]:
    """The settlement's evidence (and certificates) as a record of the co-op's treasury (none when
    nothing happened: an hour whose meters produced nothing and excluded nothing)."""
    if plan.credited_wh == 0 and not plan.flagged:
        return ()
    return (
        NewEntry(
            kind="record",
            token=None,
            account=f"treasury@{plan.coop_id}",
            amount_micro=0,
            reason=PRODUCTION_RECORD,
            settlement_id=plan.settlement_id,
            sources=({**digest, "type": "production", "coop_id": plan.coop_id}, *sources),
            policy=ctx.policy.version,
            adopted_by=ctx.adopted_by,
        ),
    )


def uncertified_flags(plan: GreenPlan) -> tuple[FlagRecord, ...]:
    """A flag per credited pair too long to place in hours: GRN credited, no certificate."""
    hours = MAX_SPAN // HOUR
    return tuple(
        FlagRecord(
            flag="uncertified_span",
            device_id=span.device_id,
            ts=span.to_ts,
            detail=(
                f"+{span.wh} Wh over {(span.to_ts - span.from_ts).total_seconds():g} s (more than "
                f"{hours} h): credited, but no certificate can say in which hour it was produced"
            ),
            token=GRN,
            source_key=source_key(span.device_id, span.to_ts),
        )
        for span in plan_production(plan).uncertified
    )


def green_flags(plan: GreenPlan, ctx: PlanContext) -> tuple[FlagRecord, ...]:
    """The flag rows of a plan's excluded pairs."""
    rate_micro = grn_micro(1, ctx.policy.green.grn_per_kwh)
    return tuple(pair_flag_record(f, rate_micro, ctx.policy.green.plausibility_pct) for f in plan.flagged)


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


def drain_end(meter_hours: Iterable[MeterHour], settled: datetime | None) -> datetime | None:
    """In drain mode the co-op's hours settle through the last hour that has a pair."""
    hours = [m.hour + HOUR for m in meter_hours if not m.late]
    return max(hours, default=settled)


def last_settled_through(plans: Sequence[GreenPlan], settled: datetime | None) -> datetime | None:
    """The co-op's progress mark after the plans commit."""
    hours = [p.hour + HOUR for p in plans if p.hour is not None]
    return max(hours, default=settled)
