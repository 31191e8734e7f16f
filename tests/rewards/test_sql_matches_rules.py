"""The SQL that pairs readings in bulk gives exactly the answers of the pure rules (hypothesis)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.rewards.rewards_factories import T0, RewardsData

from circulo.rewards import green
from circulo.rewards.engine import open_work_connection
from circulo.rewards.rules import MeterReading, credit_readings, hour_of


@st.composite
def meter_history(draw: st.DrawFn) -> tuple[int, int, list[MeterReading]]:
    rated_w = draw(st.integers(1, 20_000))
    pct = draw(st.integers(1, 300))
    ts, energy, values = T0, draw(st.integers(0, 10**9)), []
    for _ in range(draw(st.integers(1, 40))):
        ts += timedelta(microseconds=draw(st.one_of(st.integers(1, 2000), st.integers(1, 7_200_000_000))))
        energy = max(0, energy + draw(st.one_of(st.integers(0, 50), st.integers(-(10**5), 10**5))))
        values.append(MeterReading(ts, energy))
    return rated_w, pct, values


@settings(max_examples=60)
@given(meter_history())
def test_sql_pairs_flags_and_hourly_sums_equal_the_pure_rules(
    data: RewardsData, db_url: str, history: tuple[int, int, list[MeterReading]]
) -> None:
    rated_w, pct, values = history
    data.conn.execute("DELETE FROM meter_reading")
    data.conn.execute("DELETE FROM device")
    data.meter("m1", rated_power_w=rated_w)
    data.readings("m1", [(r.ts, r.energy_wh) for r in values])
    with open_work_connection(db_url) as conn:
        green.fill_pairs(
            conn, "coop1", baselines={}, window_end=green.FAR_FUTURE, settled=None, plausibility_pct=pct
        )
        rows = conn.execute(
            "SELECT prev_ts, prev_wh, ts, energy_wh, flag FROM pg_temp.reward_green_pairs "
            "WHERE prev_ts IS NOT NULL ORDER BY ts"
        ).fetchall()
        meter_hours, _ = green.read_pair_summaries(conn)
    credits = credit_readings("m1", None, values, rated_power_w=rated_w, plausibility_pct=pct)
    assert rows == [(c.pair.prev_ts, c.pair.prev_wh, c.pair.ts, c.pair.energy_wh, c.flag) for c in credits]
    credited: dict[datetime, int] = defaultdict(int)
    for c in credits:
        credited[hour_of(c.pair.ts)] += c.credited_wh
    assert {m.hour: m.credited_wh for m in meter_hours if m.pairs} == {h: wh for h, wh in credited.items()}
