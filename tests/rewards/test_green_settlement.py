"""Green settlement against the database: hours settle by W and idle meters, late pairs once."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from tests.rewards.conftest import Engine
from tests.rewards.rewards_factories import MINUTE, T0, RewardsData

from circulo.ledger.entries import canonical_json

H10 = "green:coop1:2025-06-01T10:00Z"
H11 = "green:coop1:2025-06-01T11:00Z"


def two_meter_coop(data: RewardsData) -> None:
    data.member("alice", 3)
    data.member("bob", 1)
    data.meter("m1")
    data.meter("m2")


def test_an_hour_settles_once_every_meter_has_moved_past_it_and_w_has_passed(
    data: RewardsData, engine: Engine
) -> None:
    two_meter_coop(data)
    for meter in ("m1", "m2"):
        data.minutely(meter, T0, 66)  # 10:00 .. 11:05, +10 Wh a minute
    data.watermark(T0 + 66 * MINUTE)
    report = engine.cycle()
    assert data.settlement_ids() == [H10]
    # 59 pairs of 10 Wh per meter end in hour 10 (10:00 is the baseline; 11:00 is hour 11)
    assert data.scalar("SELECT credited_wh FROM reward_settlement") == 1180
    assert data.balances("GRN") == {
        ("treasury@coop1", "GRN"): 118_000,
        ("alice", "GRN"): 796_500,
        ("bob", "GRN"): 265_500,
    }
    assert report.settlements == {"green": 1}
    assert report.minted_micro == {"GRN": 1_180_000}
    # nothing new: a second cycle settles nothing
    assert engine.cycle().settled == 0


def test_each_mint_carries_its_split_and_is_bound_to_the_meter_runs_of_its_settlement(
    data: RewardsData, engine: Engine
) -> None:
    two_meter_coop(data)
    for meter in ("m1", "m2"):
        data.minutely(meter, T0, 66)
    data.watermark(T0 + 66 * MINUTE)
    engine.cycle()
    entries = {account: sources for account, _, sources in data.entries(H10)}
    kinds = data.conn.execute(
        "SELECT kind, reason, account FROM ledger_entry WHERE settlement_id = %s ORDER BY seq", (H10,)
    ).fetchall()
    # the evidence is written once, in the settlement's record of the treasury, ahead of the mints
    assert kinds == [
        ("record", "certificate.issue", "treasury@coop1"),
        ("mint", "green.energy", "alice"), ("mint", "green.energy", "bob"),
        ("mint", "green.energy", "treasury@coop1"),
    ]  # fmt: skip
    record = data.conn.execute(
        "SELECT sources FROM ledger_entry WHERE settlement_id = %s AND kind = 'record'", (H10,)
    ).fetchone()[0]
    hours = [s for s in record if s["type"] == "meter_hour"]
    assert hours[0] == {
        "type": "meter_hour", "device_id": "m1", "hour": "2025-06-01T10:00:00.000000Z",
        "from_ts": "2025-06-01T10:00:00.000000Z", "from_wh": 0,
        "to_ts": "2025-06-01T10:59:00.000000Z", "to_wh": 590, "pairs": 59, "excluded_wh": 0,
    }  # fmt: skip
    evidence = record[1 : 1 + record[0]["sources"]]  # the certificates issued follow the evidence
    assert [s["type"] for s in record[1 + record[0]["sources"] :]] == ["certificates"]
    digest = hashlib.sha256(canonical_json(evidence)).hexdigest()
    assert (record[0]["type"], record[0]["sha256"], record[0]["credited_wh"]) == ("production", digest, 1180)
    for account in ("alice", "bob"):  # a member's mint shows no meter's production: only its split
        assert [s["type"] for s in entries[account]] == ["split", "evidence"], account
    for account, sources in entries.items():
        split = next(s for s in sources if s["type"] == "split")
        bound = next(s for s in sources if s["type"] == "evidence")
        assert (bound["sha256"], bound["credited_wh"], bound["sources"]) == (digest, 1180, 2), account
        assert split["amount_micro"] == 1_180_000
    split = next(s for s in entries["alice"] if s["type"] == "split")
    assert (split["account_shares"], split["total_shares"]) == (3, 4)
    assert sum(h["to_wh"] - h["from_wh"] - h["excluded_wh"] for h in hours) * 1000 == split["amount_micro"]
    assert data.scalar("SELECT DISTINCT policy FROM ledger_entry") == "rewards-v2"


def test_an_hour_does_not_settle_while_a_meter_has_not_moved_past_it_until_its_idle_timeout(
    data: RewardsData, engine: Engine
) -> None:
    two_meter_coop(data)
    data.minutely("m1", T0, 66)  # to 11:05
    data.minutely("m2", T0, 56)  # to 10:55, then silent
    data.watermark(T0 + 66 * MINUTE)  # 11:06: m2 last heard 11 min ago
    engine.cycle()
    assert data.settlement_ids() == []
    data.watermark(T0 + 71 * MINUTE)  # 11:11: m2 silent for 16 min, idle
    engine.cycle()
    assert data.settlement_ids() == [H10]
    assert data.scalar("SELECT credited_wh FROM reward_settlement") == 590 + 550


def test_a_backlog_after_its_hour_settled_is_credited_once_as_late_with_its_original_hour(
    data: RewardsData, engine: Engine
) -> None:
    two_meter_coop(data)
    data.minutely("m1", T0, 66)
    data.minutely("m2", T0, 56)
    data.watermark(T0 + 71 * MINUTE)
    engine.cycle()
    assert data.settlement_ids() == [H10]
    # m2's buffered readings 10:56 .. 11:10 arrive at 11:12
    arrival = T0 + 72 * MINUTE
    data.readings("m2", [(T0 + i * MINUTE, i * 10) for i in range(56, 71)], received_at=arrival)
    data.watermark(T0 + 73 * MINUTE)
    engine.cycle()
    late_id = "green-late:coop1:m2:2025-06-01T10:56:00.000000Z"
    assert data.settlement_ids() == [H10, late_id]
    sources = data.entries(late_id)[0][2]
    hours = [s for s in sources if s["type"] == "meter_hour"]
    assert hours == [{
        "type": "meter_hour", "device_id": "m2", "hour": "2025-06-01T10:00:00.000000Z",
        "from_ts": "2025-06-01T10:55:00.000000Z", "from_wh": 550,
        "to_ts": "2025-06-01T10:59:00.000000Z", "to_wh": 590, "pairs": 4, "excluded_wh": 0,
    }]  # fmt: skip
    assert data.scalar("SELECT credited_wh FROM reward_settlement WHERE settlement_id = %s", (late_id,)) == 40
    engine.cycle()
    assert data.settlement_ids() == [H10, late_id]
    # once everything is drained, each meter was credited last − first register exactly once
    engine.cycle(drain=True)
    assert data.minted("GRN") == (650 + 700) * 1000


def test_counter_resets_and_implausible_jumps_credit_nothing_and_are_flagged(
    data: RewardsData, engine: Engine
) -> None:
    data.member("alice")
    data.meter("m1", rated_power_w=1000)
    data.readings(
        "m1",
        [(T0, 5000), (T0 + MINUTE, 5010), (T0 + 2 * MINUTE, 4), (T0 + 3 * MINUTE, 14),
         (T0 + 4 * MINUTE, 900), (T0 + 5 * MINUTE, 910)],
    )  # fmt: skip
    engine.cycle(drain=True)
    assert data.scalar("SELECT credited_wh FROM reward_settlement") == 30
    assert data.flags() == [
        ("counter_reset", "m1", T0 + 2 * MINUTE, ""),
        ("implausible", "m1", T0 + 4 * MINUTE, ""),
    ]
    # withheld is what the meter can have made over each excluded minute, never a register:
    # 1000 W × 60 s × 110 % + 1 Wh = 19 Wh for the jump; the 4 Wh the new register counted
    withheld = dict(data.conn.execute("SELECT flag, excluded_micro FROM reward_flag").fetchall())
    assert withheld == {"implausible": 19 * 1000, "counter_reset": 4 * 1000}


def test_a_coop_without_members_credits_its_treasury(data: RewardsData, engine: Engine) -> None:
    data.meter("m1")
    data.minutely("m1", T0, 11)
    engine.cycle(drain=True)
    assert data.balances("GRN") == {("treasury@coop1", "GRN"): 100_000}


def test_a_reading_older_than_the_last_settled_one_changes_no_amount(
    data: RewardsData, engine: Engine
) -> None:
    data.member("alice")
    data.meter("m1")
    data.minutely("m1", T0, 61)
    engine.cycle(drain=True)
    before = data.minted("GRN")
    data.readings("m1", [(T0 + timedelta(minutes=30, seconds=30), 305)])
    report = engine.cycle(drain=True)
    assert report.settled == 0
    assert data.minted("GRN") == before == 600_000


def test_without_a_watermark_nothing_settles_but_drain_settles_everything(
    data: RewardsData, engine: Engine
) -> None:
    data.member("alice")
    data.meter("m1")
    data.minutely("m1", T0, 130)
    assert engine.cycle().settled == 0
    engine.cycle(drain=True)
    assert data.settlement_ids() == [H10, H11, "green:coop1:2025-06-01T12:00Z"]
    assert data.minted("GRN") == 1290 * 1000
