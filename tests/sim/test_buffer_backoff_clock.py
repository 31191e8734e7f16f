"""Store-and-forward buffer, reconnect backoff and the simulated clock (pure)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.sim.sim_factories import utc

from circulo_sim.backoff import Backoff
from circulo_sim.buffer import StoreAndForward
from circulo_sim.clock import SimClock, plan_window
from circulo_sim.errors import ConfigError

NOW = utc(2026, 11, 23, 19, 45, 30)


# --- store and forward ------------------------------------------------------------------------
def test_buffered_messages_leave_in_the_order_they_were_taken() -> None:
    buffer: StoreAndForward[int] = StoreAndForward(10)
    for n in range(7):
        buffer.push(n, is_telemetry=n % 2 == 0)
    assert list(buffer.drain()) == list(range(7))
    assert len(buffer) == 0 and buffer.dropped == []


def test_a_full_buffer_drops_the_oldest_telemetry_before_any_event() -> None:
    buffer: StoreAndForward[str] = StoreAndForward(3)
    buffer.push("event-1", is_telemetry=False)
    buffer.push("tele-1", is_telemetry=True)
    buffer.push("tele-2", is_telemetry=True)
    assert buffer.push("event-2", is_telemetry=False) == "tele-1"
    assert buffer.push("event-3", is_telemetry=False) == "tele-2"
    assert buffer.push("event-4", is_telemetry=False) == "event-1"  # only events left: the oldest
    assert buffer.dropped == ["tele-1", "tele-2", "event-1"]
    assert list(buffer.drain()) == ["event-2", "event-3", "event-4"]


@given(st.lists(st.booleans(), max_size=200), st.integers(1, 50))
def test_nothing_is_lost_without_being_counted_and_order_is_kept(kinds: list[bool], capacity: int) -> None:
    buffer: StoreAndForward[int] = StoreAndForward(capacity)
    for n, is_telemetry in enumerate(kinds):
        buffer.push(n, is_telemetry=is_telemetry)
        assert len(buffer) <= capacity
    kept = list(buffer.drain())
    assert sorted(kept + buffer.dropped) == list(range(len(kinds)))
    assert kept == sorted(kept)
    kept_events = {n for n in kept if not kinds[n]}
    dropped_events = {n for n in buffer.dropped if not kinds[n]}
    if dropped_events:  # an event is dropped only when nothing but events remained
        assert all(not kinds[n] for n in kept)
        assert max(dropped_events) < min(kept_events, default=len(kinds))


# --- backoff -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("attempt", "bound"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 10.0), (50, 10.0)]
)
def test_the_backoff_bound_doubles_up_to_the_cap(attempt: int, bound: float) -> None:
    assert Backoff(base_s=0.5, cap_s=10.0).bound(attempt) == bound


def test_backoff_waits_are_jittered_within_the_bound() -> None:
    backoff, rng = Backoff(base_s=0.5, cap_s=10.0), random.Random(1)
    waits = [backoff.wait(6, rng) for _ in range(200)]
    assert all(0.25 <= w <= 10.0 for w in waits)
    assert len({round(w, 3) for w in waits}) > 150


# --- the simulated window and clock --------------------------------------------------------------
def test_without_time_flags_the_run_is_real_time_from_now_until_stopped() -> None:
    window = plan_window(NOW)
    assert (window.start, window.end, window.speed, window.mode) == (NOW, None, 1.0, "real-time")


def test_an_accelerated_day_ends_exactly_when_it_catches_up_with_now() -> None:
    window = plan_window(NOW, speed=720)
    assert window.duration == timedelta(days=1)
    wall = window.duration / 720
    assert window.end is not None and NOW + wall - timedelta(seconds=1) <= window.end <= NOW + wall
    assert window.mode == "accelerated"


def test_an_accelerated_replay_of_a_chosen_past_period_is_accepted_when_it_ends_by_now() -> None:
    window = plan_window(NOW, start=utc(2026, 11, 20), end=utc(2026, 11, 21), speed=720)
    assert (window.start, window.end) == (utc(2026, 11, 20), utc(2026, 11, 21))


def test_a_backfill_runs_as_fast_as_possible_and_defaults_to_now() -> None:
    window = plan_window(NOW, start=utc(2026, 11, 1), end=utc(2026, 11, 8))
    assert window.speed is None and window.mode == "backfill"
    assert plan_window(NOW, start=utc(2026, 11, 1)).end == NOW


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"start": utc(2026, 11, 23, 12), "duration": timedelta(days=1), "speed": 720}, "ahead of the clock"),
        ({"start": utc(2026, 11, 1), "end": utc(2026, 11, 30)}, "ahead of the clock"),
        ({"start": utc(2026, 11, 24)}, "starts in the future"),
        ({"start": utc(2026, 9, 1), "end": utc(2026, 9, 2)}, "30 days"),
        ({"start": utc(2026, 11, 2), "end": utc(2026, 11, 1)}, "empty"),
        ({"end": utc(2026, 11, 2)}, "--to needs --from"),
        ({"speed": 0}, "positive"),
    ],
)
def test_windows_that_would_be_quarantined_or_make_no_sense_are_refused(flags: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_window(NOW, **flags)


def test_old_periods_can_be_sent_on_purpose() -> None:
    assert plan_window(NOW, start=utc(2026, 9, 1), end=utc(2026, 9, 2), allow_old=True).speed is None


def test_the_clock_advances_speed_times_as_fast_as_the_wall() -> None:
    wall = [100.0]
    clock = SimClock(utc(2026, 11, 22), 720, monotonic=lambda: wall[0])
    clock.begin()
    wall[0] += 10
    assert clock.now() == utc(2026, 11, 22, 2)
    assert clock.wall_seconds_until(utc(2026, 11, 22, 4)) == pytest.approx(10.0)
    assert clock.wall_seconds_until(utc(2026, 11, 22, 1)) == 0.0


def test_a_backfill_clock_never_waits() -> None:
    assert SimClock(utc(2026, 11, 1), None).wall_seconds_until(utc(2027, 1, 1)) == 0.0
