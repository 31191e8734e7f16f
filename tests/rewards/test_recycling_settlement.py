"""Deposit and repair settlement against the database: timing by W, flags, the daily cap."""

from __future__ import annotations

from datetime import timedelta

from tests.rewards.conftest import Engine
from tests.rewards.rewards_factories import MINUTE, T0, RewardsData

SECOND = timedelta(seconds=1)
C1_AT = T0 + timedelta(hours=1)  # the collection's ts (and receipt)


def bin_with_deposits(data: RewardsData) -> None:
    data.member("alice")
    data.device("bin1", "bin")
    data.deposit("bin1", "d1", T0, 1000, material="aluminium")
    data.deposit("bin1", "d2", T0 + 10 * MINUTE, 500, contaminated=True)
    data.deposit("bin1", "d3", T0 + 20 * MINUTE, 200, account=None)
    data.deposit("bin1", "d4", T0 + 30 * MINUTE, 300, account="stranger")
    data.deposit("bin1", "d5", T0 + 40 * MINUTE, 250, material="organic")
    data.collection("bin1", "c1", C1_AT, 2100, received_at=C1_AT + 5 * SECOND)


def test_deposits_settle_with_the_collection_once_w_passes_its_receipt_plus_grace(
    data: RewardsData, engine: Engine
) -> None:
    bin_with_deposits(data)
    data.watermark(C1_AT + 14 * SECOND)  # receipt + 9 s: within the 10 s grace
    assert engine.cycle().settled == 0
    data.watermark(C1_AT + 16 * SECOND)
    engine.cycle()
    assert data.settlement_ids() == ["deposit:bin1:c1"]
    assert data.balances("RCY") == {("alice", "RCY"): 20_000_000}
    assert [(f, d, a) for f, d, _, a in data.flags()] == [
        ("contaminated", "bin1", "alice"),
        ("anonymous", "bin1", ""),
        ("unknown_account", "bin1", "stranger"),
    ]
    sources = data.entries("deposit:bin1:c1")[0][2]
    assert sources == [
        {"type": "deposit", "device_id": "bin1", "event_id": "d1", "ts": "2025-06-01T10:00:00.000000Z",
         "material": "aluminium", "weight_g": 1000, "rate_rcy_per_kg": "20"},
        {"type": "collection", "coop_id": "coop1", "device_id": "bin1", "event_id": "c1",
         "ts": "2025-06-01T11:00:00.000000Z", "collected_g": 2100, "deposits_g": 2250, "tolerance_pct": 15},
    ]  # fmt: skip


def test_a_collection_waits_while_an_earlier_deposit_is_uncommitted_in_another_worker(
    data: RewardsData, engine: Engine
) -> None:
    bin_with_deposits(data)
    # worker A committed the collection; worker B still holds a deposit received at +4 s
    data.watermark(C1_AT + 60 * SECOND, worker_id="worker-a")
    data.watermark(C1_AT + 3 * SECOND, worker_id="worker-b")
    assert engine.cycle().settled == 0
    data.deposit("bin1", "d6", C1_AT - SECOND, 100, material="pet", received_at=C1_AT + 4 * SECOND)
    data.watermark(C1_AT + 60 * SECOND, worker_id="worker-b")
    engine.cycle()
    assert data.balances("RCY") == {("alice", "RCY"): 21_000_000}


def test_a_deposit_arriving_after_its_collection_settled_is_flagged_late_and_mints_nothing(
    data: RewardsData, engine: Engine
) -> None:
    bin_with_deposits(data)
    engine.cycle(drain=True)
    data.deposit("bin1", "d7", T0 + 50 * MINUTE, 400, material="aluminium")
    engine.cycle(drain=True)
    engine.cycle(drain=True)
    assert data.settlement_ids() == ["deposit:bin1:c1", "deposit-late:bin1:d7"]
    assert data.scalar("SELECT excluded_micro FROM reward_flag WHERE flag = 'late'") == 8_000_000
    assert data.balances("RCY") == {("alice", "RCY"): 20_000_000}


def test_deposits_heavier_than_the_collection_allows_all_fail_the_mass_balance(
    data: RewardsData, engine: Engine
) -> None:
    data.member("alice")
    data.device("bin1", "bin")
    data.deposit("bin1", "d1", T0, 1000, material="aluminium")
    data.deposit("bin1", "d2", T0 + MINUTE, 151)
    data.collection("bin1", "c1", C1_AT, 1000)
    engine.cycle(drain=True)
    assert data.balances("RCY") == {}
    assert [f for f, *_ in data.flags()] == ["mass_balance", "mass_balance"]


def test_each_window_holds_the_deposits_since_the_previous_collection(
    data: RewardsData, engine: Engine
) -> None:
    data.member("alice")
    data.device("bin1", "bin")
    data.deposit("bin1", "d1", T0, 1000)
    data.collection("bin1", "c1", T0 + 30 * MINUTE, 1000)
    data.deposit("bin1", "d2", T0 + 40 * MINUTE, 2000)
    data.collection("bin1", "c2", T0 + 90 * MINUTE, 2000)
    data.deposit("bin1", "d3", T0 + 100 * MINUTE, 5000)  # waits for the next collection
    engine.cycle(drain=True)
    assert data.settlement_ids() == ["deposit:bin1:c1", "deposit:bin1:c2"]
    assert [e[1] for e in data.entries("deposit:bin1:c2")] == [20_000_000]
    assert data.minted("RCY") == 30_000_000


def test_the_deposit_that_crosses_the_daily_cap_mints_the_part_below_it_across_coops(
    data: RewardsData, engine: Engine
) -> None:
    data.member("alice", coop_id="coop1")
    data.member("alice", coop_id="coop2")
    data.device("bin1", "bin", "coop1")
    data.device("bin2", "bin", "coop2")
    data.deposit("bin1", "d1", T0, 3000, material="aluminium")  # 60 RCY
    data.collection("bin1", "c1", T0 + 30 * MINUTE, 3000)
    data.deposit("bin2", "d1", T0 + 40 * MINUTE, 3000, material="aluminium")  # 60 RCY: 40 fit
    data.deposit("bin2", "d2", T0 + 41 * MINUTE, 1000, material="aluminium")  # 20 RCY: none fit
    data.collection("bin2", "c1", T0 + 50 * MINUTE, 4000)
    data.deposit("bin1", "d2", T0 + timedelta(days=1), 1000, material="aluminium")  # the next UTC day
    data.collection("bin1", "c2", T0 + timedelta(days=1, minutes=5), 1000)
    engine.cycle(drain=True)
    assert data.balances("RCY") == {("alice", "RCY"): 120_000_000}
    capped = data.conn.execute(
        "SELECT device_id, excluded_micro FROM reward_flag WHERE flag = 'daily_cap' ORDER BY ts"
    ).fetchall()
    assert capped == [("bin2", 20_000_000), ("bin2", 20_000_000)]
    assert data.scalar("SELECT used_micro FROM reward_cap_usage WHERE day = '2025-06-01'") == 100_000_000


def test_a_fixed_repair_mints_split_between_owner_and_repairer_and_reports_co2e(
    data: RewardsData, engine: Engine
) -> None:
    data.member("olga")
    data.member("rita")
    data.device("rs1", "repair")
    data.repair("rs1", "r1", T0, 1500, category="Kettle", received_at=T0 + SECOND)
    data.repair("rs1", "r2", T0 + MINUTE, 1500, status="repairable")
    data.watermark(T0 + SECOND)  # not yet past r1's receipt
    engine.cycle()
    assert data.settlement_ids() == []
    data.watermark(T0 + 2 * MINUTE)
    engine.cycle()
    assert data.settlement_ids() == ["repair:rs1:r1", "repair:rs1:r2"]
    assert data.balances("RCY") == {("olga", "RCY"): 3_750_000, ("rita", "RCY"): 3_750_000}
    assert data.flags() == []
    report = data.conn.execute(
        "SELECT co2e_avoided_g, factor_table_version FROM reward_repair_report"
    ).fetchall()
    assert report == [(22_160, "ords-lca-reference.v1")]
    source = data.entries("repair:rs1:r1")[0][2][0]
    assert (source["co2e_avoided_g"], source["factor_table_version"]) == (22_160, "ords-lca-reference.v1")


def test_repairs_of_implausible_weight_or_without_members_mint_nothing_and_are_flagged(
    data: RewardsData, engine: Engine
) -> None:
    data.member("olga")
    data.device("rs1", "repair")
    data.repair("rs1", "r1", T0, 3751, category="Kettle")  # kettles weigh 1.25 kg: limit 3.75 kg
    data.repair("rs1", "r2", T0 + MINUTE, 50_001, category="Misc")  # reference 0: limit 50 kg
    data.repair("rs1", "r3", T0 + 2 * MINUTE, 50_000, category="Misc", owner=None, repairer="rita")
    data.repair("rs1", "r4", T0 + 3 * MINUTE, 1000, owner=None, repairer=None)
    data.repair("rs1", "r5", T0 + 4 * MINUTE, 1000, owner="olga", repairer="stranger")
    engine.cycle(drain=True)
    assert [f for f, *_ in data.flags()] == [
        "implausible_weight",
        "implausible_weight",
        "unknown_account",
        "anonymous",
    ]
    assert data.balances("RCY") == {("olga", "RCY"): 5_000_000}


def test_repairs_and_deposits_share_the_daily_cap_in_ts_order(data: RewardsData, engine: Engine) -> None:
    data.member("alice")
    data.device("bin1", "bin")
    data.device("rs1", "repair")
    data.repair("rs1", "r1", T0, 10_000, category="Misc", owner="alice", repairer="alice")  # 50 RCY
    data.deposit("bin1", "d1", T0 + MINUTE, 4000, material="aluminium")  # 80 RCY: 50 fit
    data.collection("bin1", "c1", T0 + 2 * MINUTE, 4000)
    engine.cycle(drain=True)
    assert data.balances("RCY") == {("alice", "RCY"): 100_000_000}
    assert data.conn.execute("SELECT device_id, excluded_micro FROM reward_flag").fetchall() == [
        ("bin1", 30_000_000)
    ]
