"""Gap ranges per device and epoch (pure, SPEC §11): opened, split, filled, lost; wrap and reboot."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from circulo.ingest.gaps import (
    LOST,
    NO_EPOCH,
    RECOVERED,
    REORDER_WINDOW,
    SEQ_MODULUS,
    Arrival,
    DeviceGaps,
    Gap,
    ReplayPolicy,
    Unavailable,
    pending_missing,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = ReplayPolicy(replay_after=timedelta(seconds=30), replay_timeout=timedelta(seconds=600))


def at(seq: int, epoch: int | None = 1, second: int = 0) -> Arrival:
    return Arrival(epoch, seq, T0 + timedelta(minutes=seq % 1000), T0 + timedelta(seconds=second))


def run(seqs: list[int], epoch: int | None = 1, gaps: DeviceGaps | None = None) -> DeviceGaps:
    gaps = gaps or DeviceGaps(POLICY)
    for i, seq in enumerate(seqs):
        gaps.arrive(at(seq, epoch, i))
    return gaps


def ranges(gaps: DeviceGaps) -> list[tuple[int, int, int]]:
    return sorted((g.epoch, g.from_seq, g.to_seq) for g in gaps.pending)


def test_an_in_order_stream_opens_no_gap() -> None:
    gaps = run(list(range(100)))
    assert gaps.pending == [] and gaps.missing_delta == 0 and gaps.last_seq == 99


def test_a_jump_forward_opens_one_range_with_the_times_either_side() -> None:
    gaps = run([0, 1, 2, 7])
    (gap,) = gaps.pending
    assert (gap.from_seq, gap.to_seq, gap.missing) == (3, 6, 4)
    assert gap.before_ts == at(2).ts and gap.after_ts == at(7).ts
    assert gap.after_received_at == T0 + timedelta(seconds=3)
    assert gap.next_request_at == gap.after_received_at + timedelta(seconds=30)
    assert gap.give_up_at == gap.after_received_at + timedelta(seconds=600)
    assert gaps.missing_delta == 4 and gaps.tally.opened == 1


def test_a_message_inside_a_range_splits_it_and_the_edges_shrink_it() -> None:
    gaps = run([0, 1, 10, 5])
    assert ranges(gaps) == [(1, 2, 4), (1, 6, 9)]
    run([2, 9], gaps=gaps)
    assert ranges(gaps) == [(1, 3, 4), (1, 6, 8)]
    assert gaps.missing_delta == 8 - 3


def test_a_range_filled_before_any_request_leaves_no_row() -> None:
    gaps = run([0, 1, 4, 3, 2])
    assert gaps.pending == [] and list(gaps.written()) == [] and gaps.missing_delta == 0
    assert gaps.tally.recovered == 0 and gaps.tally.filled == 2


def test_a_requested_range_filled_up_is_closed_as_recovered() -> None:
    stored = Gap(
        1, 3, 5, T0, T0 + timedelta(minutes=10), T0, state="requested", requests=1, stored_key=(1, 3)
    )
    gaps = DeviceGaps(POLICY, epoch=1, last_seq=6, pending=[stored])
    run([4, 3, 5], gaps=gaps)
    assert gaps.pending == [] and gaps.removed == {(1, 3)}
    closed = list(gaps.written())  # 4 split it: each piece closes on its own
    assert sorted((g.from_seq, g.to_seq) for g in closed) == [(3, 3), (5, 5)]
    assert all(g.state == RECOVERED and g.missing == 0 and g.closed_at is not None for g in closed)
    assert gaps.tally.recovered == 3 and gaps.missing_delta == -3


def test_seq_wrapping_at_2_32_is_not_a_gap() -> None:
    top = SEQ_MODULUS - 1
    gaps = run([top - 1, top, 0, 1])
    assert gaps.pending == [] and gaps.last_seq == 1


def test_a_gap_across_the_wrap_is_one_range_that_wraps() -> None:
    top = SEQ_MODULUS - 1
    gaps = run([top - 2, 1])
    (gap,) = gaps.pending
    assert (gap.from_seq, gap.to_seq, gap.missing) == (top - 1, 0, 3)
    run([top], gaps=gaps)
    assert ranges(gaps) == [(1, 0, 0), (1, top - 1, top - 1)]


def test_a_reboot_is_not_a_gap_and_the_old_epoch_stays_requestable() -> None:
    gaps = run([0, 1, 2, 5], epoch=3)
    run([0, 1, 2], epoch=4, gaps=gaps)
    assert ranges(gaps) == [(3, 3, 4)]
    assert (gaps.epoch, gaps.last_seq) == (4, 2)
    run([3, 4], epoch=3, gaps=gaps)  # the old boot's messages, replayed later
    assert gaps.pending == [] and (gaps.epoch, gaps.last_seq) == (4, 2)


def test_a_device_first_heard_late_lacks_its_first_seqs_unless_its_firmware_has_no_epoch() -> None:
    assert ranges(run([5, 6], epoch=0)) == [(0, 0, 4)]
    assert ranges(run([5, 6], epoch=NO_EPOCH)) == []
    assert ranges(run([2**20, 2**20 + 1], epoch=0)) == [], "not a counter that began at 0"
    counted_before_epochs = DeviceGaps(POLICY, epoch=NO_EPOCH, last_seq=90)
    assert ranges(run([5, 6], epoch=3, gaps=counted_before_epochs)) == []


def test_a_new_epoch_starting_late_leaves_its_first_seqs_pending() -> None:
    gaps = run(list(range(9)), epoch=2)
    run([3], epoch=3, gaps=gaps)
    assert ranges(gaps) == [(3, 0, 2)]
    assert gaps.pending[0].before_ts is None


def test_a_long_replay_far_behind_fills_gaps_and_is_no_counter_reset() -> None:
    gaps = run([0, 5000])
    run(list(range(1, 5000)), gaps=gaps)
    assert gaps.pending == [] and gaps.resets == 0 and gaps.last_seq == 5000


def test_without_epoch_a_large_jump_back_is_a_counter_reset() -> None:
    gaps = run([1000, 1001, 1010], epoch=NO_EPOCH)
    assert gaps.epoch == NO_EPOCH and ranges(gaps) == [(NO_EPOCH, 1002, 1009)]
    run([1005, 1010 - REORDER_WINDOW, 3], epoch=NO_EPOCH, gaps=gaps)  # late, late, restarted
    assert gaps.resets == 1 and gaps.last_seq == 3
    assert ranges(gaps) == [(NO_EPOCH, 1002, 1004), (NO_EPOCH, 1006, 1009)]


def test_a_gap_without_epoch_is_given_up_after_replay_after_it_cannot_be_requested() -> None:
    gaps = run([1, 3], epoch=NO_EPOCH)
    (gap,) = gaps.pending
    assert gap.give_up_at == gap.next_request_at == gap.after_received_at + timedelta(seconds=30)


def test_replay_unavailable_makes_exactly_the_covered_missing_part_lost() -> None:
    gaps = run([0, 1, 20, 10])  # pending 2..9 and 11..19
    gaps.unavailable(Unavailable(1, 5, 14, T0))
    assert ranges(gaps) == [(1, 2, 4), (1, 15, 19)]
    lost = sorted((g.from_seq, g.to_seq, g.missing) for g in gaps.written() if g.state == LOST)
    assert lost == [(5, 9, 5), (11, 14, 4)]
    assert all(g.lost_reason == "unavailable" for g in gaps.written() if g.state == LOST)
    assert gaps.tally.lost == {"unavailable": 9}
    assert gaps.missing_delta == 17, "a final loss is still missing"


def test_replay_unavailable_of_another_epoch_or_outside_every_gap_changes_nothing() -> None:
    gaps = run([0, 1, 5])
    gaps.unavailable(Unavailable(2, 2, 4, T0))
    gaps.unavailable(Unavailable(1, 6, 100, T0))
    assert ranges(gaps) == [(1, 2, 4)] and gaps.tally.lost == {}


def test_replay_unavailable_across_the_wrap() -> None:
    top = SEQ_MODULUS - 1
    gaps = run([top - 3, 2])  # pending top-2 .. 1
    gaps.unavailable(Unavailable(1, top, 0, T0))
    assert ranges(gaps) == [(1, 1, 1), (1, top - 2, top - 1)]
    assert gaps.tally.lost == {"unavailable": 2}


def test_the_replay_unavailable_events_own_seq_counts_in_the_current_epoch() -> None:
    gaps = run([0, 1, 2], epoch=4)
    gaps.arrive(Arrival(None, 3, T0, T0))
    assert gaps.pending == [] and (gaps.epoch, gaps.last_seq) == (4, 3)


@given(
    start=st.integers(0, SEQ_MODULUS - 1),
    order=st.permutations(list(range(40))),
    lost=st.sets(st.integers(1, 38)),
)
def test_any_arrival_order_of_a_seq_range_ends_with_no_pending_gap(
    start: int, order: list[int], lost: set[int]
) -> None:
    """Whatever arrives first, the complete range leaves nothing pending; a partial one leaves
    exactly what never came (counted once), and the missing count follows."""
    seqs = [(start + i) % SEQ_MODULUS for i in order]
    gaps = DeviceGaps(POLICY, epoch=7, last_seq=(start - 1) % SEQ_MODULUS)
    first, last = (start, (start + 39) % SEQ_MODULUS)
    for s in [first, last, *seqs]:
        gaps.arrive(Arrival(7, s, T0, T0))
    assert gaps.pending == [] and gaps.missing_delta == 0
    partial = DeviceGaps(POLICY, epoch=7, last_seq=(start - 1) % SEQ_MODULUS)
    for s in [first, last, *(s for i, s in zip(order, seqs, strict=True) if i not in lost)]:
        partial.arrive(Arrival(7, s, T0, T0))
    assert pending_missing(partial.pending) == len(lost) == partial.missing_delta
    still = {(g.from_seq + k) % SEQ_MODULUS for g in partial.pending for k in range(g.missing)}
    assert still == {(start + i) % SEQ_MODULUS for i in lost}


@given(order=st.permutations(list(range(1, 30))), split=st.integers(1, 29))
def test_a_requested_gap_split_by_arrivals_keeps_its_request_on_every_piece(
    order: list[int], split: int
) -> None:
    stored = Gap(1, 1, 29, T0, T0, T0, state="requested", request_id="r1", requests=2, stored_key=(1, 1))
    gaps = DeviceGaps(POLICY, epoch=1, last_seq=30, pending=[stored])
    for s in order[:split]:
        gaps.arrive(Arrival(1, s, T0, T0))
    assert all(g.request_id == "r1" and g.requests == 2 for g in gaps.pending)
    assert gaps.tally.recovered == split
    assert pending_missing(gaps.pending) == 29 - split
    assert replace(stored).stored_key in gaps.removed
