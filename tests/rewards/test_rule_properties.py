"""Properties of the reward rules (hypothesis): conservation, exact and fair splits, the cap."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from circulo.rewards.cap import CapRequest, apply_daily_cap
from circulo.rewards.rules import (
    MeterReading,
    credit_readings,
    grn_micro,
    largest_remainder,
    split_green,
    split_repair,
)

T0 = datetime(2025, 6, 1, tzinfo=UTC)
ACCOUNTS = st.text(alphabet="abcAB0._@-", min_size=1, max_size=6)


@st.composite
def counter_readings(draw: st.DrawFn) -> list[MeterReading]:
    """A meter's readings: mostly rising, with resets, jumps and irregular intervals."""
    count = draw(st.integers(min_value=1, max_value=60))
    ts, energy, values = T0, draw(st.integers(0, 10**9)), []
    for _ in range(count):
        ts += timedelta(microseconds=draw(st.integers(1, 3_600_000_000)))
        step = draw(st.one_of(st.integers(0, 200), st.integers(-(10**6), 10**6), st.just(-energy)))
        energy = max(energy + step, 0)
        values.append(MeterReading(ts, energy))
    return values


@given(counter_readings(), st.integers(1, 20_000), st.integers(1, 300), st.decimals("0", "100", places=4))
def test_credited_energy_is_conserved_and_minted_grn_is_credited_wh_times_the_rate(
    values: list[MeterReading], rated_w: int, pct: int, rate: Decimal
) -> None:
    credits = credit_readings("m", None, values, rated_power_w=rated_w, plausibility_pct=pct)
    credited = sum(c.credited_wh for c in credits)
    excluded = sum(c.pair.delta_wh for c in credits if c.flag)
    assert credited == values[-1].energy_wh - values[0].energy_wh - excluded
    assert all(c.credited_wh >= 0 for c in credits)
    assert grn_micro(credited, rate) == int(Fraction(credited) * Fraction(rate) * 1000)
    assert grn_micro(credited, Decimal(1)) == credited * 1000


@given(counter_readings(), st.integers(1, 59))
def test_settling_in_pieces_credits_the_same_as_settling_at_once(
    values: list[MeterReading], cut: int
) -> None:
    whole = credit_readings("m", None, values, rated_power_w=5000, plausibility_pct=110)
    head, tail = values[:cut], values[cut:]
    first = credit_readings("m", None, head, rated_power_w=5000, plausibility_pct=110)
    baseline = head[-1] if head else None
    second = credit_readings("m", baseline, tail + head, rated_power_w=5000, plausibility_pct=110)
    assert [(c.pair, c.credited_wh) for c in first + second] == [(c.pair, c.credited_wh) for c in whole]


@given(st.integers(0, 2**53 - 1), st.dictionaries(ACCOUNTS, st.integers(0, 10**6), max_size=12))
def test_a_largest_remainder_split_is_exact_and_fair(amount: int, shares: dict[str, int]) -> None:
    parts = largest_remainder(amount, shares)
    total = sum(s for s in shares.values() if s > 0)
    if total == 0 or amount == 0:
        assert parts == {}
        return
    assert sum(parts.values()) == amount
    for account, s in shares.items():
        exact = Fraction(amount * s, total) if s > 0 else Fraction(0)
        assert abs(parts.get(account, 0) - exact) < 1


@given(
    st.integers(0, 10**15),
    st.integers(0, 10_000),
    st.dictionaries(ACCOUNTS, st.integers(0, 1000), max_size=8),
)
def test_the_sum_over_accounts_equals_the_amount_split(amount: int, bp: int, shares: dict[str, int]) -> None:
    split = split_green(amount, treasury_bp=bp, treasury_account="treasury@c", member_shares=shares)
    assert sum(split.values()) == amount
    assert all(v > 0 for v in split.values())


@given(st.integers(0, 10**12), st.integers(0, 100), ACCOUNTS, ACCOUNTS)
def test_a_repair_split_is_exact_and_fair(amount: int, owner_pct: int, owner: str, repairer: str) -> None:
    eligible = frozenset({owner, repairer})
    split = split_repair(amount, owner=owner, repairer=repairer, eligible=eligible, owner_pct=owner_pct)
    assert sum(split.values()) == amount
    if owner != repairer:
        assert abs(split.get(owner, 0) - Fraction(amount * owner_pct, 100)) < 1


@given(
    st.lists(
        st.tuples(st.sampled_from(["alice", "bob"]), st.integers(0, 2), st.integers(0, 80_000_000)),
        max_size=30,
    ),
    st.integers(0, 200_000_000),
)
def test_the_daily_cap_is_never_exceeded_and_nothing_is_lost(
    raw: list[tuple[str, int, int]], cap: int
) -> None:
    requests = [CapRequest(account, date(2025, 6, 1 + d), amount) for account, d, amount in raw]
    results, usage = apply_daily_cap(requests, {}, cap)
    assert all(r.minted_micro + r.capped_micro == r.request.amount_micro for r in results)
    assert all(used <= cap for used in usage.values())
    for key, used in usage.items():
        asked = sum(r.amount_micro for r in requests if (r.account, r.day) == key)
        assert used == min(asked, cap)
