"""The SQL that pairs readings in bulk gives exactly the answers of the pure rules (hypothesis).

Pairs, flags (resets, implausible jumps and policy v2's glitches, with their followers),
the hours they settle in, the energy each flag withholds, and the hourly sums.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st
from tests.rewards.rewards_factories import T0, RewardsData

from circulo.rewards import green
from circulo.rewards.engine import open_work_connection
from circulo.rewards.rules import MeterReading, at_stake_wh, credit_readings, hour_of


@st.composite
def meter_history(draw: st.DrawFn) -> tuple[int, int, int, list[MeterReading]]:
    rated_w = draw(st.integers(1, 20_000))
    pct = draw(st.integers(1, 300))
    window_us = draw(st.sampled_from([0, 60_000_000, 900_000_000, 3_600_000_000]))
    ts, energy, values = T0, draw(st.integers(0, 10**9)), []
    for _ in range(draw(st.integers(1, 40))):
        ts += timedelta(microseconds=draw(st.one_of(st.integers(1, 2000), st.integers(1, 1_200_000_000))))
        dip = draw(st.sampled_from(["none", "none", "none", "to_zero", "down", "back"]))
        if dip == "to_zero":  # a glitch or a reset: the register reads 0 for a moment
            values.append(MeterReading(ts, 0))
            continue
        if dip == "down":
            values.append(MeterReading(ts, max(0, energy - draw(st.integers(1, 10**5)))))
            continue
        energy = max(0, energy + draw(st.one_of(st.integers(0, 50), st.integers(-(10**5), 10**5))))
        values.append(MeterReading(ts, energy))
    return rated_w, pct, window_us, values


@settings(max_examples=80)
@given(meter_history())
def test_sql_pairs_flags_followers_and_hourly_sums_equal_the_pure_rules(
    data: RewardsData, db_url: str, history: tuple[int, int, int, list[MeterReading]]
) -> None:
    rated_w, pct, window_us, values = history
    data.conn.execute("DELETE FROM meter_reading")
    data.conn.execute("DELETE FROM device")
    data.meter("m1", rated_power_w=rated_w)
    data.readings("m1", [(r.ts, r.energy_wh) for r in values])
    with open_work_connection(db_url) as conn:
        pending = green.fill_pairs(
            conn,
            "coop1",
            baselines={},
            window_end=green.FAR_FUTURE,
            settled=None,
            plausibility_pct=pct,
            glitch_window_us=window_us,
        )
        rows = conn.execute(
            "SELECT prev_ts, prev_wh, ts, energy_wh, flag, hour, follower_ts, follower_wh, at_stake_wh "
            "FROM pg_temp.reward_green_pairs WHERE prev_ts IS NOT NULL ORDER BY ts"
        ).fetchall()
        meter_hours, _ = green.read_pair_summaries(conn)
    credits = credit_readings(
        "m1", None, values, rated_power_w=rated_w, plausibility_pct=pct, glitch_window_us=window_us
    )
    for c in credits:
        event(f"flag {c.flag}")
    assert pending == {}, "with everything final nothing waits"
    assert rows == [
        (
            c.pair.prev_ts,
            c.pair.prev_wh,
            c.pair.ts,
            c.pair.energy_wh,
            c.flag,
            c.hour,
            c.follower.ts if c.follower else None,
            c.follower.energy_wh if c.follower else None,
            at_stake_wh(c.flag, c.pair, rated_w, pct),
        )
        for c in credits
    ]
    credited: dict[datetime, int] = defaultdict(int)
    for c in credits:
        credited[c.hour] += c.credited_wh
    assert {m.hour: m.credited_wh for m in meter_hours if m.pairs} == dict(credited)
    assert all(m.hour == hour_of(m.hour) for m in meter_hours)
