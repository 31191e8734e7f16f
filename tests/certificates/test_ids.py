"""Certificate id ranges (pure): contiguous allocation and exact partial takes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circulo.certificates.errors import InvalidAction
from circulo.certificates.ids import IdRange, allocate, split, take


@pytest.mark.parametrize(
    ("first", "quantities", "ranges"),
    [
        (1, [5], [(1, 5)]),
        (1, [1, 1, 1], [(1, 1), (2, 2), (3, 3)]),
        (1001, [250, 750], [(1001, 1250), (1251, 2000)]),
        (7, [], []),
    ],
)
def test_allocation_gives_each_bundle_its_contiguous_part_in_order(
    first: int, quantities: list[int], ranges: list[tuple[int, int]]
) -> None:
    assert [(r.start, r.end) for r in allocate(first, quantities)] == ranges


def test_a_bundle_of_no_wh_is_never_allocated() -> None:
    with pytest.raises(ValueError, match="at least 1 Wh"):
        allocate(1, [3, 0])


def test_a_split_keeps_quantity_equal_to_end_minus_start_plus_one_unlike_the_reference() -> None:
    # the reference registry's split of [0, 999] at 250 gives [0, 250] (251 ids, quantity 250)
    taken = split(IdRange(1, 1000), 250)
    assert (taken.taken, taken.rest) == (IdRange(1, 250), IdRange(251, 1000))
    assert taken.taken.quantity == 250 and taken.rest is not None and taken.rest.quantity == 750
    assert split(IdRange(1, 1000), 1000).rest is None


@pytest.mark.parametrize(
    ("wh", "taken", "rest"),
    [
        (None, [(1, 10), (11, 20)], None),
        (10, [(1, 10)], None),
        (15, [(1, 10), (11, 15)], (16, 20)),
        (3, [(1, 3)], (4, 10)),
        (20, [(1, 10), (11, 20)], None),
    ],
)
def test_a_partial_action_takes_the_first_wh_of_the_bundles_in_order_and_splits_the_last(
    wh: int | None, taken: list[tuple[int, int]], rest: tuple[int, int] | None
) -> None:
    takes = take([IdRange(1, 10), IdRange(11, 20)], wh)
    assert [(t.taken.start, t.taken.end) for t in takes] == taken
    rests = [(t.rest.start, t.rest.end) for t in takes if t.rest is not None]
    assert rests == ([rest] if rest else [])


@pytest.mark.parametrize("wh", [0, -5, 21])
def test_asking_for_no_wh_or_more_than_the_bundles_hold_is_refused(wh: int) -> None:
    with pytest.raises(InvalidAction):
        take([IdRange(1, 10), IdRange(11, 20)], wh)


@given(
    first=st.integers(1, 10**12),
    quantities=st.lists(st.integers(1, 10**6), min_size=1, max_size=30),
    data=st.data(),
)
def test_allocated_ranges_are_disjoint_contiguous_and_a_take_conserves_every_wh(
    first: int, quantities: list[int], data: st.DataObject
) -> None:
    ranges = allocate(first, quantities)
    assert ranges[0].start == first
    assert all(a.end + 1 == b.start for a, b in itertools.pairwise(ranges))
    assert [r.quantity for r in ranges] == quantities
    wh = data.draw(st.integers(1, sum(quantities)))
    takes = take(ranges, wh)
    assert sum(t.taken.quantity for t in takes) == wh
    parts = sorted([t.taken for t in takes] + [t.rest for t in takes if t.rest] + list(ranges[len(takes) :]))
    assert sum(p.quantity for p in parts) == sum(quantities)  # nothing made, nothing lost
    assert all(a.end + 1 == b.start for a, b in itertools.pairwise(parts))  # disjoint, no gap
    assert (parts[0].start, parts[-1].end) == (ranges[0].start, ranges[-1].end)
    assert all(t.taken.start == t.bundle.start for t in takes)
