"""Rewards policy v2's glitch rule (SPEC §10) from tables (pure): what each reading credits.

A reading below its predecessor, followed within the glitch window by a reading at or
above the predecessor that is plausible over the whole span, is a glitch: it credits
nothing, is never a baseline, and the span predecessor → follower is credited. Anything
else below its predecessor is a counter reset, as in v1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from circulo.rewards.rules import MeterPair, MeterReading, at_stake_wh, credit_readings, plausible_limit_wh

T0 = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
WINDOW_US = 15 * 60 * 1_000_000


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def judged(
    *values: tuple[float, int], rated_w: int = 5000, window_us: int = WINDOW_US
) -> list[tuple[object, ...]]:
    """(minute, register) in; (prev Wh, Wh, credited Wh, flag, follower Wh, hour) per reading out."""
    chain = [MeterReading(at(m), wh) for m, wh in values]
    credits = credit_readings(
        "m1", None, chain, rated_power_w=rated_w, plausibility_pct=110, glitch_window_us=window_us
    )
    return [
        (
            c.pair.prev_wh,
            c.pair.energy_wh,
            c.credited_wh,
            c.flag,
            c.follower.energy_wh if c.follower else None,
            c.hour.hour,
        )
        for c in credits
    ]


CASES = {
    "a one-reading drop to 0 that comes back is a glitch; its span is credited": (
        [(0, 10_000_000), (1, 0), (2, 10_000_010)],
        [(10_000_000, 0, 0, "glitch", 10_000_010, 10), (10_000_000, 10_000_010, 10, None, None, 10)],
    ),
    "coming back to exactly the predecessor is a glitch too": (
        [(0, 500), (1, 499), (2, 500)],
        [(500, 499, 0, "glitch", 500, 10), (500, 500, 0, None, None, 10)],
    ),
    "a glitch at an hour boundary settles in its follower's hour": (
        [(58, 1000), (59.5, 0), (60.5, 1012)],
        [(1000, 0, 0, "glitch", 1012, 11), (1000, 1012, 12, None, None, 11)],
    ),
    "two glitches in a row pair with the last good reading and share the follower": (
        [(0, 1000), (1, 0), (2, 400), (3, 1020)],
        [
            (1000, 0, 0, "glitch", 1020, 10), (1000, 400, 0, "glitch", 1020, 10),
            (1000, 1020, 20, None, None, 10),
        ],
    ),
    "a glitch that never recovers is a counter reset, and the new register counts on": (
        [(0, 1000), (1, 0), (2, 5), (3, 10)],
        [(1000, 0, 0, "counter_reset", None, 10), (0, 5, 5, None, None, 10), (5, 10, 5, None, None, 10)],
    ),
    "a follower after the glitch window is too late: the dip was a counter reset": (
        [(0, 1000), (1, 0), (17, 1010)],
        [(1000, 0, 0, "counter_reset", None, 10), (0, 1010, 1010, None, None, 10)],
    ),
    "a follower exactly at the end of the window still counts": (
        [(0, 1000), (1, 0), (16, 1010)],
        [(1000, 0, 0, "glitch", 1010, 10), (1000, 1010, 10, None, None, 10)],
    ),
    "a comeback the panels cannot have made over the span is no glitch": (
        [(0, 1000), (1, 0), (2, 1200)],  # 200 Wh in 2 min at 1000 W rated: more than 110 %
        [(1000, 0, 0, "counter_reset", None, 10), (0, 1200, 0, "implausible", None, 10)],
    ),
    "a dip inside a dip is covered by the outer one": (
        [(0, 1000), (1, 0), (2, 600), (3, 300), (4, 700), (5, 1005)],
        [
            (1000, 0, 0, "glitch", 1005, 10), (1000, 600, 0, "glitch", 1005, 10),
            (1000, 300, 0, "glitch", 1005, 10), (1000, 700, 0, "glitch", 1005, 10),
            (1000, 1005, 5, None, None, 10),
        ],
    ),
    "the worked example of docs/rewards.md": (
        [(57, 10_000_000), (58, 10_000_020), (59, 0), (60, 10_000_041), (61, 10_000_062)],
        [
            (10_000_000, 10_000_020, 20, None, None, 10), (10_000_020, 0, 0, "glitch", 10_000_041, 11),
            (10_000_020, 10_000_041, 21, None, None, 11), (10_000_041, 10_000_062, 21, None, None, 11),
        ],
    ),
    "without a glitch window (policy v1) every dip is a counter reset": (
        [(0, 1000), (1, 0), (2, 1010)],
        [(1000, 0, 0, "counter_reset", None, 10), (0, 1010, 0, "implausible", None, 10)],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_a_dip_is_a_glitch_or_a_counter_reset_by_the_table(name: str) -> None:
    values, expected = CASES[name]
    rated = 1000 if "cannot have made" in name else 5000
    window = 0 if "policy v1" in name else WINDOW_US
    assert judged(*values, rated_w=rated, window_us=window) == expected


def test_a_glitch_is_never_a_baseline_the_next_reading_pairs_with_the_reading_before_it() -> None:
    credits = credit_readings(
        "m1",
        None,
        [
            MeterReading(at(0), 100),
            MeterReading(at(1), 3),
            MeterReading(at(2), 130),
            MeterReading(at(3), 140),
        ],
        rated_power_w=5000,
        plausibility_pct=110,
        glitch_window_us=WINDOW_US,
    )
    assert [(c.pair.prev_ts, c.pair.ts, c.flag) for c in credits] == [
        (at(0), at(1), "glitch"),
        (at(0), at(2), None),
        (at(2), at(3), None),
    ]


def test_a_settled_baseline_starts_the_chain_so_a_dip_right_after_it_can_be_a_glitch() -> None:
    baseline = MeterReading(at(0), 2000)
    credits = credit_readings(
        "m1", baseline, [MeterReading(at(1), 0), MeterReading(at(2), 2010)], rated_power_w=5000,
        plausibility_pct=110, glitch_window_us=WINDOW_US,
    )  # fmt: skip
    assert [(c.flag, c.credited_wh) for c in credits] == [("glitch", 0), (None, 10)]


@pytest.mark.parametrize(
    ("flag", "prev_wh", "wh", "seconds", "rated_w", "stake"),
    [
        # 10 MWh register read 0 then 10 MWh again: a reset withholds what the new register counted
        ("counter_reset", 10_000_000, 0, 60, 5000, 0),
        ("counter_reset", 10_000_000, 40, 60, 5000, 40),
        # …and no more than the meter can make over the interval (5 kW × 60 s × 110 % + 1 Wh = 92 Wh)
        ("counter_reset", 10_000_000, 5000, 60, 5000, 92),
        # an implausible jump back to a 10 MWh register withholds the plausible limit, not 10 MWh
        ("implausible", 0, 10_000_000, 60, 5000, 92),
        ("glitch", 10_000_000, 0, 60, 5000, 0),
        (None, 0, 50, 60, 5000, 0),
    ],
)
def test_what_a_flag_withholds_is_the_energy_at_stake_over_its_interval_never_a_register(
    flag: str | None, prev_wh: int, wh: int, seconds: int, rated_w: int, stake: int
) -> None:
    pair = MeterPair("m1", at(0), prev_wh, at(0) + timedelta(seconds=seconds), wh)
    assert at_stake_wh(flag, pair, rated_w, 110) == stake  # type: ignore[arg-type]
    assert plausible_limit_wh(60_000_000, 5000, 110) == 92
