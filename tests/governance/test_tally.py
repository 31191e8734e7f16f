"""Counting a vote, from tables: quorum, threshold, abstentions, weighting, ties, supersession, time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circulo.governance.tally import (
    Ballot,
    Rules,
    count,
    counted_ballots,
    effective_from,
    next_whole_hour,
    voter_weights,
)

OPENS = datetime(2026, 12, 1, tzinfo=UTC)
CLOSES = OPENS + timedelta(days=7)
DURING = OPENS + timedelta(days=1)


def rules(voters: dict[str, int], **overrides: object) -> Rules:
    return Rules(voters=voters, opens=OPENS, closes=CLOSES, **overrides)  # type: ignore[arg-type]


def ballots(*choices: tuple[str, str]) -> list[Ballot]:
    return [Ballot(voter, choice, DURING, "member") for voter, choice in choices]


FOUR = {"a": 1, "b": 1, "c": 1, "d": 1}


@pytest.mark.parametrize(
    ("cast", "quorum", "threshold", "adopted", "why"),
    [
        ((("a", "yes"), ("b", "yes"), ("c", "no")), True, True, True, "3 of 4 voted, 2 yes of 3"),
        ((("a", "yes"), ("b", "no")), True, False, False, "a tie is not a majority"),
        ((("a", "yes"),), False, True, False, "1 of 4 is below the 50 % quorum"),
        ((("a", "yes"), ("b", "abstain")), True, True, True, "abstentions count for quorum only"),
        ((("a", "abstain"), ("b", "abstain")), True, False, False, "no yes or no: no majority"),
        ((("a", "no"), ("b", "no"), ("c", "yes")), True, False, False, "a majority against"),
        ((), False, False, False, "nobody voted"),
    ],
)
def test_a_member_weighted_vote_is_counted_by_quorum_and_threshold(
    cast: tuple[tuple[str, str], ...], quorum: bool, threshold: bool, adopted: bool, why: str
) -> None:
    tally = count(ballots(*cast), rules(FOUR))
    assert (tally.quorum_met, tally.threshold_met, tally.adopted) == (quorum, threshold, adopted), why


def test_shares_weighting_counts_shares_and_a_zero_share_member_weighs_nothing() -> None:
    voters = voter_weights({"a": 5, "b": 1, "c": 1, "d": 0}, "shares")
    assert voters == {"a": 5, "b": 1, "c": 1, "d": 0}
    tally = count(ballots(("a", "yes"), ("b", "no"), ("d", "no")), rules(voters, weighting="shares"))
    assert (tally.yes, tally.no, tally.total, tally.cast) == (5, 1, 7, 6)
    assert tally.adopted
    assert voter_weights({"a": 5, "b": 0}, "member") == {"a": 1, "b": 1}


@pytest.mark.parametrize(
    ("threshold", "yes", "no", "met"),
    [(50, 51, 49, True), (50, 50, 50, False), (66, 2, 1, True), (66, 66, 34, False), (66, 67, 33, True),
     (0, 1, 99, True), (0, 0, 5, False)],
)  # fmt: skip
def test_the_threshold_is_more_than_its_share_of_yes_and_no(
    threshold: int, yes: int, no: int, met: bool
) -> None:
    voters = {"y": yes, "n": no}
    tally = count(
        ballots(("y", "yes"), ("n", "no")), rules(voters, threshold_pct=threshold, weighting="shares")
    )
    assert tally.threshold_met is met


def test_the_quorum_is_at_least_its_share_of_every_voters_weight() -> None:
    ten = {str(i): 1 for i in range(10)}
    assert count(ballots(*((str(i), "yes") for i in range(5))), rules(ten)).quorum_met
    assert not count(ballots(*((str(i), "yes") for i in range(4))), rules(ten)).quorum_met
    assert count(ballots(("0", "yes")), rules(ten, quorum_pct=10)).quorum_met
    assert not count([], rules({"z": 0}, quorum_pct=0)).quorum_met  # no weight at all: never a quorum


def test_a_members_own_ballot_supersedes_the_secretarys_record_whatever_the_order() -> None:
    secretary = Ballot("a", "no", DURING, "secretary")
    own = Ballot("a", "yes", DURING + timedelta(hours=1), "member")
    for order in ([secretary, own], [own, secretary]):
        assert counted_ballots(order, rules(FOUR))["a"] == own
    assert counted_ballots([secretary], rules(FOUR))["a"] == secretary


def test_only_voters_in_time_count() -> None:
    late = Ballot("a", "yes", CLOSES, "member")  # at the closing instant: too late
    early = Ballot("b", "yes", OPENS - timedelta(seconds=1), "member")
    stranger = Ballot("z", "yes", DURING, "member")
    just_in = Ballot("c", "no", CLOSES - timedelta(microseconds=1), "member")
    counted = counted_ballots([late, early, stranger, just_in], rules(FOUR))
    assert list(counted) == ["c"]


@pytest.mark.parametrize(
    ("recorded", "green_from"),
    [
        (datetime(2026, 12, 8, 10, 20, tzinfo=UTC), datetime(2026, 12, 8, 11, tzinfo=UTC)),
        (datetime(2026, 12, 8, 10, 0, tzinfo=UTC), datetime(2026, 12, 8, 10, tzinfo=UTC)),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_policy_applies_from_its_tally_and_green_credits_follow_on_the_hour(
    recorded: datetime, green_from: datetime
) -> None:
    assert effective_from(recorded) == recorded
    assert next_whole_hour(effective_from(recorded)) == green_from


@given(
    weights=st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.integers(0, 100), min_size=1),
    choices=st.lists(
        st.tuples(st.text("abcdefg", min_size=1, max_size=3), st.sampled_from(["yes", "no", "abstain"]))
    ),
)
def test_a_count_never_exceeds_the_voters_weight_and_each_voter_counts_once(
    weights: dict[str, int], choices: list[tuple[str, str]]
) -> None:
    tally = count(ballots(*choices), rules(weights, weighting="shares"))
    assert tally.cast <= tally.total
    assert tally.ballots == len({v for v, _ in choices if v in weights})
    assert tally.adopted == (tally.quorum_met and tally.threshold_met)
