"""The reward rules of SPEC §4 and §10 as pure functions over plain data: no I/O, no clock, no floats.

Every amount is an integer number of micro-units (1 GRN = 1 RCY = 1,000,000 µ). Policy
rates are exact decimals; a product with a rate is computed as an integer fraction and
rounded down (:func:`floor_times`), so the same inputs give the same micro-units on any
machine. The SQL in :mod:`circulo.rewards.queries.green` applies :func:`pair_flag` to many
pairs at once; a property test holds the two to the same answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Literal

MICRO = 1_000_000
# Δt is taken in microseconds (timestamps carry them); SPEC §4 states the rule in
# milliseconds, and multiplying both sides by 1000 keeps it exact for sub-ms intervals.
WH_PER_W_US = 3_600_000_000  # 1 W for 3.6e9 µs = 1 Wh
BASIS_POINTS = 10_000

PairFlag = Literal["counter_reset", "implausible", "glitch"]
DepositFlag = Literal["contaminated", "anonymous", "unknown_account", "mass_balance", "late"]


# ---------------------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------------------


def floor_times(amount: int, rate: Decimal, scale: int = 1) -> int:
    """``floor(amount × rate × scale)`` exactly, for an integer amount and a decimal rate."""
    numerator, denominator = rate.as_integer_ratio()
    return amount * numerator * scale // denominator


def byte_order(account: str) -> bytes:
    """The sort key for ties: the account id's UTF-8 bytes."""
    return account.encode("utf-8")


def largest_remainder(amount: int, shares: Mapping[str, int]) -> dict[str, int]:
    """Split ``amount`` µ pro rata to integer ``shares`` by largest remainder.

    Each account gets the floor of its exact share; the units left over go one each to
    the largest remainders, ties broken by account id in byte order. Accounts with zero
    shares get nothing; the result omits zero amounts. With no positive shares the
    result is empty (the caller decides where the amount goes).
    """
    positive = {account: s for account, s in shares.items() if s > 0}
    total = sum(positive.values())
    if amount <= 0 or total == 0:
        return {}
    parts = {account: amount * s // total for account, s in positive.items()}
    left = amount - sum(parts.values())
    by_remainder = sorted(positive, key=lambda a: (-(amount * positive[a] % total), byte_order(a)))
    for account in by_remainder[:left]:
        parts[account] += 1
    return {account: part for account, part in parts.items() if part > 0}


def merge_amounts(*splits: Mapping[str, int]) -> dict[str, int]:
    """Amounts per account summed over several splits (one mint per receiving account)."""
    merged: dict[str, int] = {}
    for split in splits:
        for account, amount in split.items():
            merged[account] = merged.get(account, 0) + amount
    return {account: amount for account, amount in merged.items() if amount > 0}


# ---------------------------------------------------------------------------------------
# Green credits
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterReading:
    """One committed register value of a meter."""

    ts: datetime
    energy_wh: int


@dataclass(frozen=True)
class MeterPair:
    """Two consecutive readings of a meter; the pair is credited to the later one's hour."""

    device_id: str
    prev_ts: datetime
    prev_wh: int
    ts: datetime
    energy_wh: int

    @property
    def delta_wh(self) -> int:
        """The register difference (negative after a reset)."""
        return self.energy_wh - self.prev_wh

    @property
    def interval_us(self) -> int:
        """Δt between the two readings in microseconds."""
        return (self.ts - self.prev_ts) // timedelta(microseconds=1)


@dataclass(frozen=True)
class PairCredit:
    """What a reading credits: its pair's delta, or 0 with the flag that excluded it.

    A ``glitch`` (policy v2) is a reading below its predecessor that the meter came back
    from: ``pair`` runs from the predecessor to the glitch, ``follower`` is the reading
    that came back, and the span predecessor → follower is credited by the follower's own
    pair (so the glitch credits 0 and is never a baseline).
    """

    pair: MeterPair
    credited_wh: int
    flag: PairFlag | None
    follower: MeterReading | None = None

    @property
    def hour(self) -> datetime:
        """The hour it is settled in: the later reading's, a glitch's follower's."""
        return hour_of(self.follower.ts if self.follower is not None else self.pair.ts)


def pair_flag(delta_wh: int, interval_us: int, rated_power_w: int, plausibility_pct: int) -> PairFlag | None:
    """Why a pair credits nothing, or None when it credits its delta.

    A negative delta is a counter reset. A pair is implausible when
    ``delta × 360,000,000 > rated_power_w × Δt_ms × plausibility_pct + 360,000,000``
    (more than ``plausibility_pct`` % of rated power over the interval, plus 1 Wh of
    register rounding), here with both sides × 1000 to use Δt in microseconds.
    """
    if delta_wh < 0:
        return "counter_reset"
    limit = rated_power_w * interval_us * plausibility_pct + WH_PER_W_US * 100
    if delta_wh * WH_PER_W_US * 100 > limit:
        return "implausible"
    return None


def plausible_limit_wh(interval_us: int, rated_power_w: int, plausibility_pct: int) -> int:
    """The most a meter can credit over an interval: the plausibility limit in whole Wh."""
    return (rated_power_w * interval_us * plausibility_pct + WH_PER_W_US * 100) // (WH_PER_W_US * 100)


def at_stake_wh(flag: PairFlag | None, pair: MeterPair, rated_power_w: int, plausibility_pct: int) -> int:
    """The energy a flag withholds: what the meter can have made over the excluded interval.

    Never a lifetime register (SPEC §10): an implausible pair withholds at most the
    plausibility limit over its interval, a counter reset at most what the new register
    counted (and no more than that limit), a glitch nothing (its span is credited).
    """
    limit = plausible_limit_wh(pair.interval_us, rated_power_w, plausibility_pct)
    if flag == "implausible":
        return min(pair.delta_wh, limit)
    if flag == "counter_reset":
        return min(pair.energy_wh, limit)
    return 0


def credit_pair(pair: MeterPair, rated_power_w: int, plausibility_pct: int) -> PairCredit:
    """The credit of one pair under the reset and plausibility rules."""
    flag = pair_flag(pair.delta_wh, pair.interval_us, rated_power_w, plausibility_pct)
    return PairCredit(pair, 0 if flag else pair.delta_wh, flag)


def meter_pairs(
    device_id: str, baseline: MeterReading | None, readings: Iterable[MeterReading]
) -> list[MeterPair]:
    """Consecutive pairs in ``ts`` order, starting at ``baseline`` (the last settled reading).

    Readings at or before the baseline change nothing (the pair that spanned them already
    carried their energy). Without a baseline the meter's first reading is its baseline.
    """
    chain = meter_chain(baseline, readings)
    return [
        MeterPair(device_id, earlier.ts, earlier.energy_wh, later.ts, later.energy_wh)
        for earlier, later in pairwise(chain)
    ]


def meter_chain(baseline: MeterReading | None, readings: Iterable[MeterReading]) -> list[MeterReading]:
    """The baseline (if any) and the readings after it, in ``ts`` order."""
    ordered = sorted((r for r in readings if baseline is None or r.ts > baseline.ts), key=lambda r: r.ts)
    return [baseline, *ordered] if baseline is not None else ordered


def credit_readings(
    device_id: str,
    baseline: MeterReading | None,
    readings: Iterable[MeterReading],
    *,
    rated_power_w: int,
    plausibility_pct: int,
    glitch_window_us: int = 0,
) -> list[PairCredit]:
    """What every reading after ``baseline`` credits (SPEC §4; with a glitch window, §10).

    Each reading pairs with the last reading before it that is not a glitch. A reading
    below that one starts a dip; when a later reading within ``glitch_window_us`` of the
    dip's first reading is at or above it and the span is plausible, every reading of the
    dip is a glitch; otherwise the dip's first reading is a counter reset, as in v1.
    """
    chain = meter_chain(baseline, readings)
    credits: list[PairCredit] = []
    if not chain:
        return credits
    ref, index = chain[0], 1
    while index < len(chain):
        reading = chain[index]
        follower = (
            None if reading.energy_wh >= ref.energy_wh else dip_follower(chain, index, ref, glitch_window_us)
        )
        if follower is not None and _span_plausible(ref, chain[follower], rated_power_w, plausibility_pct):
            credits += [_glitch(device_id, ref, chain[k], chain[follower]) for k in range(index, follower)]
            index = follower
            continue
        credits.append(credit_pair(_pair(device_id, ref, reading), rated_power_w, plausibility_pct))
        ref, index = reading, index + 1
    return credits


def dip_follower(chain: Sequence[MeterReading], start: int, ref: MeterReading, window_us: int) -> int | None:
    """The first reading after a dip at ``start`` back at or above ``ref``, within the window."""
    if window_us <= 0:
        return None
    limit = chain[start].ts + timedelta(microseconds=window_us)
    for index in range(start + 1, len(chain)):
        if chain[index].ts > limit:
            return None
        if chain[index].energy_wh >= ref.energy_wh:
            return index
    return None


def _span_plausible(ref: MeterReading, follower: MeterReading, rated_power_w: int, pct: int) -> bool:
    span = _pair("", ref, follower)
    return pair_flag(span.delta_wh, span.interval_us, rated_power_w, pct) is None


def _pair(device_id: str, earlier: MeterReading, later: MeterReading) -> MeterPair:
    return MeterPair(device_id, earlier.ts, earlier.energy_wh, later.ts, later.energy_wh)


def _glitch(device_id: str, ref: MeterReading, glitch: MeterReading, follower: MeterReading) -> PairCredit:
    return PairCredit(_pair(device_id, ref, glitch), 0, "glitch", follower)


def hour_of(ts: datetime) -> datetime:
    """The UTC hour a pair is attributed to: its later reading's hour, truncated."""
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def utc_day(ts: datetime) -> date:
    """The UTC day of a source's ``ts`` (the daily cap counts per UTC day)."""
    return ts.astimezone(UTC).date()


def grn_micro(credited_wh: int, grn_per_kwh: Decimal) -> int:
    """µGRN for credited Wh: ``Wh × grn_per_kwh × 1000`` (1 kWh at rate 1 is 1 GRN)."""
    return floor_times(credited_wh, grn_per_kwh, 1000)


def treasury_part(amount: int, treasury_bp: int) -> int:
    """The treasury's part of a settlement: ``floor(amount × treasury_bp / 10000)``."""
    return amount * treasury_bp // BASIS_POINTS


def split_green(
    amount: int, *, treasury_bp: int, treasury_account: str, member_shares: Mapping[str, int]
) -> dict[str, int]:
    """One co-op settlement split: the treasury's part, the rest pro rata to members' shares.

    A co-op without members (or whose members all hold zero shares) credits its treasury
    with everything. The result has one amount per receiving account (merged when the
    treasury is also a member) and no zero amounts.
    """
    treasury = treasury_part(amount, treasury_bp)
    members = largest_remainder(amount - treasury, member_shares)
    if not members:
        treasury = amount
    return merge_amounts({treasury_account: treasury}, members)


# ---------------------------------------------------------------------------------------
# Recycling tokens for deposits
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deposit:
    """A deposit event as the rule needs it."""

    device_id: str
    event_id: str
    ts: datetime
    material: str
    weight_g: int
    account: str | None
    contaminated: bool

    @property
    def order_key(self) -> tuple[datetime, str, str]:
        """Order within a settlement: ``(ts, device_id, event_id)``."""
        return (self.ts, self.device_id, self.event_id)


@dataclass(frozen=True)
class Collection:
    """A bin's collection: what was weighed at pickup."""

    device_id: str
    event_id: str
    ts: datetime
    weight_g: int


@dataclass(frozen=True)
class DepositOutcome:
    """A deposit's amount before the daily cap, or 0 with the flag that excluded it.

    ``excluded_micro`` is what the deposit would have minted without the flag.
    """

    deposit: Deposit
    amount_micro: int
    flag: DepositFlag | None
    excluded_micro: int


def rcy_micro(weight_g: int, rate_rcy_per_kg: Decimal) -> int:
    """µRCY for ``weight_g`` at a rate in RCY/kg: ``floor(weight_g × rate × 1000)``."""
    return floor_times(weight_g, rate_rcy_per_kg, 1000)


def mass_balance_holds(sum_g: int, collected_g: int, tolerance_pct: int) -> bool:
    """``sum_g × 100 ≤ collected_g × (100 + tolerance_pct)``: the bin held what was deposited."""
    return sum_g * 100 <= collected_g * (100 + tolerance_pct)


def deposit_exclusion(deposit: Deposit, members: frozenset[str]) -> DepositFlag | None:
    """Why a single deposit cannot mint (contaminated, anonymous, unknown account), or None."""
    if deposit.contaminated:
        return "contaminated"
    if deposit.account is None:
        return "anonymous"
    if deposit.account not in members:
        return "unknown_account"
    return None


def settle_deposits(
    collection: Collection,
    deposits: Sequence[Deposit],
    *,
    rates_rcy_per_kg: Mapping[str, Decimal],
    tolerance_pct: int,
    members: frozenset[str],
) -> list[DepositOutcome]:
    """The deposits of one collection window, in ``(ts, device_id, event_id)`` order.

    When the deposits weigh more than the collection allows, none mints and all are
    flagged ``mass_balance``; otherwise each eligible deposit mints at its material's rate.
    """
    ordered = sorted(deposits, key=lambda d: d.order_key)
    balanced = mass_balance_holds(sum(d.weight_g for d in ordered), collection.weight_g, tolerance_pct)
    outcomes = []
    for deposit in ordered:
        value = rcy_micro(deposit.weight_g, rates_rcy_per_kg[deposit.material])
        flag = "mass_balance" if not balanced else deposit_exclusion(deposit, members)
        outcomes.append(DepositOutcome(deposit, 0 if flag else value, flag, value if flag else 0))
    return outcomes


# ---------------------------------------------------------------------------------------
# Recycling tokens for repairs
# ---------------------------------------------------------------------------------------


def repair_micro(weight_g: int, rcy_per_kg: Decimal) -> int:
    """µRCY for a fixed repair: ``weight_g × rcy_per_kg × 1000`` (rounded down)."""
    return floor_times(weight_g, rcy_per_kg, 1000)


def repair_weight_limit_g(reference_weight_g: int, *, factor: int, without_reference_g: int) -> int:
    """The heaviest plausible item: ``factor ×`` the category's reference weight (a fixed
    limit where the reference is 0)."""
    return reference_weight_g * factor if reference_weight_g > 0 else without_reference_g


def split_repair(
    amount: int, *, owner: str | None, repairer: str | None, eligible: frozenset[str], owner_pct: int
) -> dict[str, int]:
    """The owner/repairer split of a repair's amount by largest remainder.

    An absent or ineligible party's part goes to the other; neither eligible: nothing;
    owner = repairer: one amount.
    """
    parties = {p for p in (owner, repairer) if p is not None and p in eligible}
    if not parties or amount <= 0:
        return {}
    if owner is None or repairer is None or len(parties) == 1:
        return {parties.pop(): amount}
    return largest_remainder(amount, {owner: owner_pct, repairer: 100 - owner_pct})
