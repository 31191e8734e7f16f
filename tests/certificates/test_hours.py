"""The hour split (pure): a settlement's credited energy per meter and production hour."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circulo.certificates.hours import HOUR, MAX_SPAN, Span, overlaps, production, split_by_time

H9 = datetime(2025, 6, 1, 9, tzinfo=UTC)
H10, H11, H12 = H9 + HOUR, H9 + 2 * HOUR, H9 + 3 * HOUR


def at(hour: datetime, minutes: float) -> datetime:
    return hour + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("start", "end", "wh", "parts"),
    [
        # inside one hour: all of it there
        (at(H10, 5), at(H10, 50), 77, [(H10, 77)]),
        # a pair ending exactly on the hour was produced before it
        (at(H10, 59), H11, 10, [(H10, 10)]),
        # starting exactly on the hour: that hour only
        (H10, at(H10, 30), 10, [(H10, 10)]),
        # 10:30 -> 11:30, 101 Wh: floor(101/2) = 50 to 10:00, the remainder 51 to the last hour
        (at(H10, 30), at(H11, 30), 101, [(H10, 50), (H11, 51)]),
        # 09:59 -> 11:01: 1 min, 60 min, 1 min of 62
        (at(H9, 59), at(H11, 1), 100, [(H9, 1), (H10, 96), (H11, 3)]),
        # exactly 2 h over three hours, a small amount: floors can be 0, the rest lands last
        (at(H9, 59), at(H11, 59), 1, [(H9, 0), (H10, 0), (H11, 1)]),
        # no energy: every part 0
        (at(H10, 30), at(H11, 30), 0, [(H10, 0), (H11, 0)]),
    ],
)
def test_a_pair_is_split_across_its_hours_in_proportion_to_time_floored_the_rest_in_the_last(
    start: datetime, end: datetime, wh: int, parts: list[tuple[datetime, int]]
) -> None:
    assert list(split_by_time(start, end, wh)) == parts


def test_an_empty_or_negative_interval_cannot_be_split() -> None:
    with pytest.raises(ValueError, match="cannot split"):
        split_by_time(H10, H10, 5)
    with pytest.raises(ValueError, match="cannot split"):
        split_by_time(H10, at(H10, 5), -1)


@pytest.mark.parametrize(
    ("length", "certified"),
    [(timedelta(minutes=61), True), (MAX_SPAN, True), (MAX_SPAN + timedelta(microseconds=1), False)],
)
def test_a_span_is_certified_up_to_two_hours_and_not_beyond(length: timedelta, certified: bool) -> None:
    end = at(H12, 1)
    assert Span("m1", end - length, 0, end, 500).certified is certified


def test_production_moves_a_span_out_of_its_credited_hour_and_leaves_long_spans_uncertified() -> None:
    credited = {("m1", H10): 600, ("m1", H11): 590, ("m2", H12): 1000}
    spans = [
        Span("m1", at(H10, 59), 590, H11 + timedelta(minutes=1), 600),  # 10 Wh: 5 to 10:00, 5 to 11:00
        Span("m2", at(H9, 30), 0, at(H12, 10), 400),  # 2 h 40 min: not certified
    ]
    produced = production(credited, spans)
    assert dict(produced.by_hour) == {("m1", H10): 605, ("m1", H11): 585, ("m2", H12): 600}
    assert [s.device_id for s in produced.uncertified] == ["m2"]
    assert (produced.certified_wh, produced.uncertified_wh) == (1790, 400)


def test_a_span_larger_than_what_its_hour_credits_is_refused() -> None:
    with pytest.raises(ValueError, match="more than"):
        production({("m1", H11): 5}, [Span("m1", at(H10, 59), 0, at(H11, 1), 10)])


moments = st.integers(min_value=0, max_value=10 * 3600 * 1_000_000).map(
    lambda us: H9 + timedelta(microseconds=us)
)


@given(start=moments, length_us=st.integers(1, 3 * 3600 * 1_000_000), wh=st.integers(0, 10**9))
def test_the_parts_add_up_to_the_whole_each_hour_gets_its_floor_and_no_more_than_one_extra_hour(
    start: datetime, length_us: int, wh: int
) -> None:
    end = start + timedelta(microseconds=length_us)
    parts = split_by_time(start, end, wh)
    assert sum(p for _h, p in parts) == wh
    hours = [h for h, _p in parts]
    assert hours == sorted(set(hours)) and hours == [h for h, _o in overlaps(start, end)]
    assert all(h2 - h1 == HOUR for h1, h2 in itertools.pairwise(hours))
    total = length_us
    for (hour, part), (_h, overlap) in zip(parts[:-1], overlaps(start, end)[:-1], strict=True):
        assert part == wh * overlap // total, hour
    assert all(p >= 0 for _h, p in parts)


@given(
    pairs=st.lists(
        st.tuples(st.integers(1, 200), st.integers(0, 5000)), min_size=1, max_size=40
    )  # (minutes to the next reading, Wh of the pair)
)
def test_a_meters_chain_of_pairs_conserves_every_credited_wh_as_certified_or_uncertified(
    pairs: list[tuple[int, int]],
) -> None:
    """Pairs of one meter in a row: GRN's per-hour credit, the spans, and what production makes of them."""
    ts, wh = at(H9, 17), 1000
    credited: dict[tuple[str, datetime], int] = {}
    spans = []
    for minutes, delta in pairs:
        later, later_wh = ts + timedelta(minutes=minutes), wh + delta
        hour = later.replace(minute=0, second=0, microsecond=0)
        credited[("m1", hour)] = credited.get(("m1", hour), 0) + delta
        if ts < hour:
            spans.append(Span("m1", ts, wh, later, later_wh))
        ts, wh = later, later_wh
    produced = production(credited, spans)
    assert produced.certified_wh + produced.uncertified_wh == sum(credited.values())
    assert all(v > 0 for v in produced.by_hour.values())
    assert produced.uncertified_wh == sum(s.wh for s in spans if s.to_ts - s.from_ts > MAX_SPAN)
