"""Table tests for the pure reward rules of SPEC §4 (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from circulo.rewards.cap import CapRequest, apply_daily_cap
from circulo.rewards.rules import (
    Collection,
    Deposit,
    MeterReading,
    credit_readings,
    grn_micro,
    hour_of,
    largest_remainder,
    mass_balance_holds,
    meter_pairs,
    pair_flag,
    rcy_micro,
    repair_micro,
    repair_weight_limit_g,
    settle_deposits,
    split_green,
    split_repair,
    treasury_part,
    utc_day,
)

T0 = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
RATES = {
    "aluminium": Decimal(20), "pet": Decimal(10), "hdpe": Decimal(8), "pp": Decimal(6),
    "steel": Decimal(6), "glass": Decimal(2), "paper": Decimal(2), "cardboard": Decimal(2),
    "textile": Decimal(4), "ewaste": Decimal(15), "organic": Decimal(0), "mixed": Decimal(0),
}  # fmt: skip


def readings(*values: tuple[int, int]) -> list[MeterReading]:
    """Readings from (minutes after T0, energy_wh)."""
    return [MeterReading(T0 + m * MINUTE, wh) for m, wh in values]


# --- pairs, resets, plausibility -----------------------------------------------------------


@pytest.mark.parametrize(
    ("delta_wh", "interval_us", "rated_w", "pct", "expected"),
    [
        (0, 60_000_000, 1000, 110, None),
        (-1, 60_000_000, 1000, 110, "counter_reset"),
        (-5000, 60_000_000, 1000, 110, "counter_reset"),
        # 1000 W for 60 s = 16.67 Wh; 110 % + 1 Wh = 19.33 Wh
        (19, 60_000_000, 1000, 110, None),
        (20, 60_000_000, 1000, 110, "implausible"),
        # exactly on the limit is plausible: 3600 W for 1 s at 100 % = 1 Wh, + 1 Wh = 2 Wh
        (2, 1_000_000, 3600, 100, None),
        (3, 1_000_000, 3600, 100, "implausible"),
        # the 1 Wh of register rounding lets a tiny interval credit 1 Wh
        (1, 500, 1000, 110, None),
        (2, 500, 1000, 110, "implausible"),
        # a long outage: 5 kW for 2 h at 110 % = 11,000 Wh (+1)
        (11_001, 7_200_000_000, 5000, 110, None),
        (11_002, 7_200_000_000, 5000, 110, "implausible"),
    ],
)
def test_a_pair_is_flagged_by_the_reset_and_plausibility_rules(
    delta_wh: int, interval_us: int, rated_w: int, pct: int, expected: str | None
) -> None:
    assert pair_flag(delta_wh, interval_us, rated_w, pct) == expected


def test_the_first_reading_of_a_meter_is_its_baseline_and_credits_nothing() -> None:
    assert meter_pairs("m1", None, readings((0, 100))) == []
    credits = credit_readings(
        "m1", None, readings((0, 100), (1, 110)), rated_power_w=5000, plausibility_pct=110
    )
    assert [(c.credited_wh, c.flag) for c in credits] == [(10, None)]


def test_a_counter_reset_credits_zero_and_the_later_reading_is_the_new_baseline() -> None:
    credits = credit_readings(
        "m1", None, readings((0, 1000), (1, 1010), (2, 3), (3, 13)), rated_power_w=5000, plausibility_pct=110
    )
    assert [(c.credited_wh, c.flag) for c in credits] == [(10, None), (0, "counter_reset"), (10, None)]
    assert credits[2].pair.prev_wh == 3


def test_an_implausible_jump_credits_zero_and_the_later_reading_is_the_next_baseline() -> None:
    credits = credit_readings(
        "m1", None, readings((0, 0), (1, 10), (2, 5000), (3, 5010)), rated_power_w=1000, plausibility_pct=110
    )
    assert [(c.credited_wh, c.flag) for c in credits] == [(10, None), (0, "implausible"), (10, None)]


def test_readings_are_paired_in_ts_order_whatever_order_they_arrive_in() -> None:
    shuffled = readings((2, 30), (0, 10), (1, 20))
    assert [(p.prev_wh, p.energy_wh) for p in meter_pairs("m1", None, shuffled)] == [(10, 20), (20, 30)]


def test_a_reading_older_than_the_last_settled_one_changes_no_amount() -> None:
    baseline = MeterReading(T0 + 5 * MINUTE, 500)
    late_and_new = readings((3, 300), (5, 500), (6, 520))
    pairs = meter_pairs("m1", baseline, late_and_new)
    assert [(p.prev_ts, p.prev_wh, p.energy_wh) for p in pairs] == [(baseline.ts, 500, 520)]


@pytest.mark.parametrize(
    ("ts", "hour"),
    [
        (datetime(2025, 6, 1, 10, 0, tzinfo=UTC), datetime(2025, 6, 1, 10, tzinfo=UTC)),
        (datetime(2025, 6, 1, 10, 59, 59, 999999, tzinfo=UTC), datetime(2025, 6, 1, 10, tzinfo=UTC)),
        (datetime(2025, 6, 1, 11, 0, tzinfo=UTC), datetime(2025, 6, 1, 11, tzinfo=UTC)),
        # an offset is converted to UTC first: 12:30+02:00 is 10:30Z
        (
            datetime(2025, 6, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))),
            datetime(2025, 6, 1, 10, tzinfo=UTC),
        ),
    ],
)
def test_a_pair_is_attributed_to_the_utc_hour_of_its_later_reading(ts: datetime, hour: datetime) -> None:
    assert hour_of(ts) == hour


def test_the_utc_day_of_a_source_ignores_its_offset() -> None:
    assert utc_day(datetime(2025, 6, 2, 1, 0, tzinfo=timezone(timedelta(hours=3)))) == date(2025, 6, 1)


# --- GRN amounts and splits ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("wh", "rate", "micro"),
    [
        (1, Decimal(1), 1_000),
        (1000, Decimal(1), 1_000_000),
        (0, Decimal(1), 0),
        (3, Decimal("1.5"), 4_500),
        (1, Decimal("0.0001"), 0),
        (7, Decimal("0.0001"), 0),
        (10, Decimal("0.0001"), 1),
    ],
)
def test_grn_is_credited_wh_times_the_rate_in_micro_units(wh: int, rate: Decimal, micro: int) -> None:
    assert grn_micro(wh, rate) == micro


@pytest.mark.parametrize(
    ("amount", "shares", "expected"),
    [
        (100, {"a": 1, "b": 1, "c": 1}, {"a": 34, "b": 33, "c": 33}),
        (10, {"a": 1, "b": 2}, {"a": 3, "b": 7}),
        # ties go by byte order: "B" (0x42) sorts before "a" (0x61)
        (1, {"a": 1, "B": 1}, {"B": 1}),
        (2, {"c": 1, "b": 1, "a": 1}, {"a": 1, "b": 1}),
        (5, {"a": 0, "b": 1}, {"b": 5}),
        (5, {"a": 0}, {}),
        (5, {}, {}),
        (0, {"a": 1}, {}),
        (900_000, {"alice@coop1": 3, "bob@coop1": 1}, {"alice@coop1": 675_000, "bob@coop1": 225_000}),
    ],
)
def test_largest_remainder_splits_exactly_with_ties_in_byte_order(
    amount: int, shares: dict[str, int], expected: dict[str, int]
) -> None:
    assert largest_remainder(amount, shares) == expected


@pytest.mark.parametrize(
    ("amount", "shares", "expected"),
    [
        (1_000_000, {"alice": 3, "bob": 1}, {"treasury@c": 100_000, "alice": 675_000, "bob": 225_000}),
        (1_000_000, {}, {"treasury@c": 1_000_000}),
        (1_000_000, {"alice": 0}, {"treasury@c": 1_000_000}),
        # the treasury's part rounds down: floor(7 × 1000 / 10000) = 0
        (7, {"alice": 1}, {"alice": 7}),
        # the treasury as a member gets its part and its share in one amount
        (1_000, {"treasury@c": 1, "alice": 1}, {"treasury@c": 550, "alice": 450}),
        (0, {"alice": 1}, {}),
    ],
)
def test_a_green_settlement_pays_the_treasury_then_members_pro_rata(
    amount: int, shares: dict[str, int], expected: dict[str, int]
) -> None:
    assert (
        split_green(amount, treasury_bp=1000, treasury_account="treasury@c", member_shares=shares) == expected
    )


def test_the_treasury_part_is_rounded_down() -> None:
    assert treasury_part(9_999, 1000) == 999
    assert treasury_part(10_000, 0) == 0
    assert treasury_part(10_000, 10_000) == 10_000


# --- deposits ------------------------------------------------------------------------------


def deposit(
    event_id: str, grams: int, material: str = "pet", account: str | None = "alice", **kw: bool
) -> Deposit:
    return Deposit(
        "bin1", event_id, T0 + int(event_id[1:]) * MINUTE, material, grams, account, kw.get("dirty", False)
    )


COLLECTION = Collection("bin1", "c1", T0 + timedelta(hours=2), 1000)


@pytest.mark.parametrize(
    ("grams", "rate", "micro"),
    [
        (1000, Decimal(20), 20_000_000),
        (333, Decimal(10), 3_330_000),
        (1, Decimal("2.5"), 2_500),
        (1, Decimal("0.0001"), 0),
        (50_000, Decimal(15), 750_000_000),
        (500, Decimal(0), 0),
    ],
)
def test_a_deposit_mints_its_weight_times_the_material_rate(grams: int, rate: Decimal, micro: int) -> None:
    assert rcy_micro(grams, rate) == micro


@pytest.mark.parametrize(
    ("sum_g", "collected_g", "tolerance", "holds"),
    [
        (1150, 1000, 15, True),
        (1151, 1000, 15, False),
        (1000, 1000, 0, True),
        (1001, 1000, 0, False),
        (0, 1, 15, True),
    ],
)
def test_the_mass_balance_allows_the_tolerance_and_no_more(
    sum_g: int, collected_g: int, tolerance: int, holds: bool
) -> None:
    assert mass_balance_holds(sum_g, collected_g, tolerance) is holds


def test_eligible_deposits_mint_and_the_others_are_flagged_with_their_reason() -> None:
    outcomes = settle_deposits(
        COLLECTION,
        [
            deposit("e4", 100, account="stranger"),
            deposit("e1", 200, "aluminium"),
            deposit("e2", 100, dirty=True),
            deposit("e3", 100, account=None),
            deposit("e5", 100, "organic"),
        ],
        rates_rcy_per_kg=RATES,
        tolerance_pct=15,
        members=frozenset({"alice"}),
    )
    assert [(o.deposit.event_id, o.amount_micro, o.flag, o.excluded_micro) for o in outcomes] == [
        ("e1", 4_000_000, None, 0),
        ("e2", 0, "contaminated", 1_000_000),
        ("e3", 0, "anonymous", 1_000_000),
        ("e4", 0, "unknown_account", 1_000_000),
        ("e5", 0, None, 0),
    ]


def test_a_failed_mass_balance_flags_every_deposit_of_the_window() -> None:
    outcomes = settle_deposits(
        COLLECTION,
        [deposit("e1", 800), deposit("e2", 351, dirty=True)],
        rates_rcy_per_kg=RATES,
        tolerance_pct=15,
        members=frozenset({"alice"}),
    )
    assert [(o.amount_micro, o.flag) for o in outcomes] == [(0, "mass_balance"), (0, "mass_balance")]
    assert outcomes[0].excluded_micro == 8_000_000


# --- the daily cap -------------------------------------------------------------------------

CAP = 100_000_000
DAY = date(2025, 6, 1)


def test_the_request_that_crosses_the_cap_mints_the_part_below_it() -> None:
    requests = [CapRequest("alice", DAY, 60_000_000)] * 3
    results, usage = apply_daily_cap(requests, {}, CAP)
    assert [(r.minted_micro, r.capped_micro, r.used_before_micro) for r in results] == [
        (60_000_000, 0, 0),
        (40_000_000, 20_000_000, 60_000_000),
        (0, 60_000_000, 100_000_000),
    ]
    assert usage == {("alice", DAY): CAP}


def test_the_cap_counts_per_account_and_utc_day_and_starts_from_earlier_usage() -> None:
    requests = [
        CapRequest("alice", DAY, 30_000_000),
        CapRequest("bob", DAY, 30_000_000),
        CapRequest("alice", DAY + timedelta(days=1), 30_000_000),
    ]
    results, usage = apply_daily_cap(requests, {("alice", DAY): 80_000_000}, CAP)
    assert [r.minted_micro for r in results] == [20_000_000, 30_000_000, 30_000_000]
    assert usage[("alice", DAY)] == CAP


# --- repairs -------------------------------------------------------------------------------


def test_a_fixed_repair_mints_weight_times_the_repair_rate() -> None:
    assert repair_micro(1500, Decimal(5)) == 7_500_000
    assert repair_micro(1, Decimal("0.0003")) == 0


@pytest.mark.parametrize(("reference_g", "limit_g"), [(1250, 3750), (0, 50_000), (17_700, 53_100)])
def test_an_item_is_plausible_up_to_three_times_its_category_reference(
    reference_g: int, limit_g: int
) -> None:
    assert repair_weight_limit_g(reference_g, factor=3, without_reference_g=50_000) == limit_g


@pytest.mark.parametrize(
    ("amount", "owner", "repairer", "eligible", "expected"),
    [
        (7_500_000, "olga", "rita", {"olga", "rita"}, {"olga": 3_750_000, "rita": 3_750_000}),
        # an odd micro-unit goes to the party first in byte order
        (7, "zoe", "adam", {"zoe", "adam"}, {"adam": 4, "zoe": 3}),
        (7, None, "rita", {"rita"}, {"rita": 7}),
        (7, "olga", "stranger", {"olga"}, {"olga": 7}),
        (7, "olga", None, {"olga"}, {"olga": 7}),
        (7, "stranger", None, {"olga"}, {}),
        (7, None, None, {"olga"}, {}),
        (7, "olga", "olga", {"olga"}, {"olga": 7}),
        (0, "olga", "rita", {"olga", "rita"}, {}),
    ],
)
def test_a_repair_is_split_owner_repairer_with_absent_or_unknown_parties_giving_way(
    amount: int, owner: str | None, repairer: str | None, eligible: set[str], expected: dict[str, int]
) -> None:
    assert (
        split_repair(amount, owner=owner, repairer=repairer, eligible=frozenset(eligible), owner_pct=50)
        == expected
    )
