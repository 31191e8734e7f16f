"""Policy v2's glitch rule on the real database: spans credited, flags, evidence, waiting (SPEC §10)."""

from __future__ import annotations

from datetime import datetime

from tests.rewards.conftest import Engine
from tests.rewards.rewards_factories import MINUTE, T0, RewardsData

H10 = "green:coop1:2025-06-01T10:00Z"
H11 = "green:coop1:2025-06-01T11:00Z"


def at(minute: int) -> datetime:
    return T0 + minute * MINUTE


def meter_with(data: RewardsData, values: list[tuple[int, int]], rated_power_w: int = 5000) -> None:
    data.member("alice")
    data.meter("m1", rated_power_w=rated_power_w)
    data.readings("m1", [(at(m), wh) for m, wh in values])


def glitch_flags(data: RewardsData) -> list[tuple[datetime, int, str]]:
    return [
        (ts, excluded, settlement)
        for ts, excluded, settlement in data.conn.execute(
            "SELECT f.ts, f.excluded_micro, s.settlement_id FROM reward_flag f "
            "JOIN reward_settlement s ON s.id = f.settlement WHERE f.flag = 'glitch' ORDER BY f.ts"
        )
    ]


def test_a_glitch_at_an_hour_boundary_is_flagged_in_its_followers_hour_and_the_span_credited(
    data: RewardsData, engine: Engine
) -> None:
    values = [(m, 10 * m) for m in range(59)] + [(59, 0), (60, 600)] + [(m, 10 * m) for m in range(61, 66)]
    meter_with(data, values)
    engine.cycle(drain=True)
    assert data.settlement_ids() == [H10, H11]
    credited = dict(data.conn.execute("SELECT settlement_id, credited_wh FROM reward_settlement").fetchall())
    assert credited == {H10: 580, H11: 70}  # 10:00 → 10:58, then 10:58 → 11:00 (across the glitch) → 11:05
    assert data.minted("GRN") == 650 * 1000  # exactly the credited energy: last − first register
    assert glitch_flags(data) == [(at(59), 0, H11)]  # nothing withheld: the span is credited
    evidence = [s for _, _, sources in data.entries(H11) for s in sources if s.get("flag") == "glitch"]
    assert evidence == [
        {
            "type": "meter_pair", "device_id": "m1", "hour": "2025-06-01T11:00:00.000000Z",
            "from_ts": "2025-06-01T10:58:00.000000Z", "from_wh": 580,
            "to_ts": "2025-06-01T10:59:00.000000Z", "to_wh": 0, "flag": "glitch",
            "follower_ts": "2025-06-01T11:00:00.000000Z", "follower_wh": 600,
        }
    ]  # fmt: skip
    assert data.scalar("SELECT last_ts FROM reward_meter_progress WHERE device_id = 'm1'") == at(65)


def test_two_glitches_in_a_row_share_their_follower_and_never_become_a_baseline(
    data: RewardsData, engine: Engine
) -> None:
    meter_with(data, [(0, 1000), (10, 1100), (11, 0), (12, 400), (13, 1120), (20, 1190)])
    engine.cycle(drain=True)
    assert data.scalar("SELECT sum(credited_wh) FROM reward_settlement") == 190
    assert [ts for ts, _, _ in glitch_flags(data)] == [at(11), at(12)]
    assert data.minted("GRN") == 190 * 1000


def test_a_glitch_that_never_recovers_is_a_counter_reset_withholding_only_what_is_at_stake(
    data: RewardsData, engine: Engine
) -> None:
    meter_with(data, [(0, 10_000_000), (1, 10_000_010), (2, 3), (3, 13), (4, 23)])
    engine.cycle(drain=True)
    assert data.flags() == [("counter_reset", "m1", at(2), "")]
    assert data.scalar("SELECT excluded_micro FROM reward_flag") == 3 * 1000  # the new register's 3 Wh
    assert data.scalar("SELECT sum(credited_wh) FROM reward_settlement") == 30


def test_a_follower_after_the_glitch_window_is_too_late_and_withholds_the_plausible_limit_not_a_register(
    data: RewardsData, engine: Engine
) -> None:
    meter_with(data, [(0, 10_000_000), (10, 10_000_100), (11, 0), (31, 10_000_300)])
    engine.cycle(drain=True)
    assert data.flags() == [("counter_reset", "m1", at(11), ""), ("implausible", "m1", at(31), "")]
    withheld = dict(data.conn.execute("SELECT flag, excluded_micro FROM reward_flag").fetchall())
    # 5 kW for 20 min at 110 % + 1 Wh = 1834 Wh could have been made: 1.834 GRN, not 10,000 GRN
    assert withheld == {"counter_reset": 0, "implausible": 1834 * 1000}


def test_settlement_waits_for_a_follower_then_credits_the_span(data: RewardsData, engine: Engine) -> None:
    # the register drops to 0 at 10:58 and stays there past 11:00: v1 would settle hour 10 now
    meter_with(data, [(m, 10 * m) for m in range(58)] + [(58, 0), (59, 0), (60, 0), (61, 0)])
    data.watermark(at(62))
    engine.cycle()
    assert data.settlement_ids() == [], "hour 10 waits: the dip may still be a glitch"
    data.readings("m1", [(at(62), 600), (at(63), 610)])  # it comes back: all four were glitches
    data.watermark(at(64))
    engine.cycle()
    assert data.settlement_ids() == [H10]
    assert data.scalar("SELECT credited_wh FROM reward_settlement") == 570  # 10:00 → 10:57
    data.readings("m1", [(at(m), 10 * m) for m in range(64, 121)])
    data.watermark(at(121))
    engine.cycle()
    assert data.settlement_ids() == [H10, H11]
    assert [ts for ts, _, _ in glitch_flags(data)] == [at(58), at(59), at(60), at(61)]
    assert data.minted("GRN") == 1190 * 1000  # 10:00 → 11:59: the last − the first register


def test_settlement_waits_at_most_the_glitch_window_for_a_follower(data: RewardsData, engine: Engine) -> None:
    meter_with(data, [(m, 10 * m) for m in range(58)] + [(58, 0), (59, 0), (60, 0), (61, 0)])
    data.watermark(at(72))  # 14 min after the dip's receipt: still waiting
    engine.cycle()
    assert data.settlement_ids() == []
    data.watermark(at(74))  # 16 min: the dip was a counter reset
    engine.cycle()
    assert data.settlement_ids() == [H10]
    assert data.flags() == [("counter_reset", "m1", at(58), "")]
