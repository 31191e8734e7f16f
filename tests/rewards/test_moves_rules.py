"""Moves as pure rules: dividends and the floor from tables, conservation and fairness by hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circulo.ledger.requests import TransferRequest
from circulo.rewards.plans.moves import (
    DividendPlan,
    FloorPlan,
    dividend_settlement,
    floor_settlement,
    floor_topups,
    transfer_settlement,
)

MONTH = datetime(2026, 11, 1, tzinfo=UTC)
GENESIS = "ab" * 32
accounts = st.text(alphabet="abcdefgh", min_size=1, max_size=3).map(lambda s: f"{s}@coop1")


@pytest.mark.parametrize(
    ("amount", "shares", "expected"),
    [
        (100, {"alice": 1, "bob": 1}, {"alice": 50, "bob": 50}),
        (101, {"alice": 1, "bob": 1}, {"alice": 51, "bob": 50}),  # tie broken by byte order
        (10, {"alice": 1, "bob": 2, "carol": 0}, {"alice": 3, "bob": 7}),
        (1, {"bob": 1, "alice": 1}, {"alice": 1}),
        (7, {}, {}),
        (7, {"zed": 0}, {}),
    ],
)
def test_a_dividend_splits_by_shares_with_the_largest_remainder(
    amount: int, shares: dict[str, int], expected: dict[str, int]
) -> None:
    plan = DividendPlan("coop1", "GRN", "2026-11", amount, shares)
    assert plan.amounts == expected
    settlement = dividend_settlement(plan, policy="ledger-v2")
    if not expected:
        assert settlement.entries == ()
        return
    burn, *mints = settlement.entries
    assert (burn.kind, burn.account, burn.amount_micro) == ("burn", "treasury@coop1", amount)
    assert {m.account: m.amount_micro for m in mints} == expected
    assert settlement.settlement_id == "dividend:coop1:GRN:2026-11"


@pytest.mark.parametrize(
    ("floor", "minted", "members", "treasury", "paid", "short"),
    [
        (100, {"a": 30, "b": 100}, ["a", "b", "c"], 1000, {"a": 70, "c": 100}, {}),
        (100, {"a": 30}, ["a", "b"], 85, {"a": 35, "b": 50}, {"a": 35, "b": 50}),
        (100, {}, ["a", "b", "c"], 100, {"a": 34, "b": 33, "c": 33}, {"a": 66, "b": 67, "c": 67}),
        (100, {"a": 150}, ["a"], 0, {}, {}),
        (100, {}, ["a"], 0, {}, {"a": 100}),
        (100, {"x": 0}, [], 500, {}, {}),  # minted by a non-member: not a member, not owed
    ],
)
def test_the_floor_tops_up_to_it_and_shares_a_shortfall_pro_rata_to_what_is_owed(
    floor: int,
    minted: dict[str, int],
    members: list[str],
    treasury: int,
    paid: dict[str, int],
    short: dict[str, int],
) -> None:
    outcome = floor_topups(floor, minted, members, treasury)
    assert dict(outcome.paid) == paid
    assert outcome.shortfall == short


@given(
    floor=st.integers(0, 10**9),
    minted=st.dictionaries(accounts, st.integers(0, 2 * 10**9), max_size=8),
    extra=st.lists(accounts, max_size=8),
    treasury=st.integers(0, 10**10),
)
def test_the_floor_never_pays_more_than_owed_or_held_and_never_a_negative_amount(
    floor: int, minted: dict[str, int], extra: list[str], treasury: int
) -> None:
    members = sorted({*minted, *extra})
    outcome = floor_topups(floor, minted, members, treasury)
    assert all(v > 0 for v in outcome.paid.values())
    assert all(outcome.paid[a] <= outcome.owed[a] for a in outcome.paid)
    assert sum(outcome.paid.values()) == min(sum(outcome.owed.values()), treasury)
    for account in members:  # everyone below the floor is owed exactly the gap
        assert outcome.owed.get(account, 0) == max(floor - minted.get(account, 0), 0)


@given(
    amount=st.integers(1, 2**53 - 1),
    shares=st.dictionaries(accounts, st.integers(0, 10**6), min_size=1, max_size=10),
)
def test_a_dividend_conserves_tokens_and_its_entries_balance(amount: int, shares: dict[str, int]) -> None:
    settlement = dividend_settlement(DividendPlan("coop1", "RCY", "x", amount, shares), policy="ledger-v2")
    if not any(s > 0 for s in shares.values()):
        assert settlement.entries == ()
        return
    burns = sum(e.amount_micro for e in settlement.entries if e.kind == "burn")
    mints = sum(e.amount_micro for e in settlement.entries if e.kind == "mint")
    assert burns == mints == amount
    assert all(e.token == "RCY" and e.reason == "dividend" for e in settlement.entries)


@given(
    floor=st.integers(1, 10**8),
    minted=st.dictionaries(accounts, st.integers(0, 10**8), max_size=6),
    treasury=st.integers(0, 10**9),
)
def test_a_floor_settlement_balances_and_flags_exactly_the_unpaid(
    floor: int, minted: dict[str, int], treasury: int
) -> None:
    members = sorted(minted)
    outcome = floor_topups(floor, minted, members, treasury)
    plan = FloorPlan("coop1", "GRN", MONTH, floor, minted, treasury, outcome)
    settlement = floor_settlement(plan, policy="rewards-v1")
    burns = sum(e.amount_micro for e in settlement.entries if e.kind == "burn")
    mints = sum(e.amount_micro for e in settlement.entries if e.kind == "mint")
    assert burns == mints == sum(outcome.paid.values())
    assert {f.account: f.excluded_micro for f in settlement.flags} == outcome.shortfall
    assert all(f.flag == "floor_shortfall" and f.device_id is None for f in settlement.flags)
    assert settlement.settlement_id == "floor:coop1:GRN:2026-11"


def test_a_transfer_is_one_burn_and_one_mint_carrying_the_request() -> None:
    request = TransferRequest(
        GENESIS, "coop1", "alice@coop1", "bob@coop1", "GRN", 2_500_000, "0" * 32, MONTH + timedelta(days=1)
    )
    settlement = transfer_settlement(request, {"by": "operator", "operator": "op@host"}, policy="ledger-v2")
    burn, credit = settlement.entries
    assert (burn.kind, burn.account, burn.amount_micro) == ("burn", "alice@coop1", 2_500_000)
    assert (credit.kind, credit.account, credit.amount_micro) == ("mint", "bob@coop1", 2_500_000)
    assert settlement.settlement_id == f"transfer:{request.request_hash}"
    assert burn.sources[0]["authorised_by"] == {"by": "operator", "operator": "op@host"}
    assert burn.sources[0]["request"] == request.document()
    assert burn.sources[0]["type"] == "transfer_request"
