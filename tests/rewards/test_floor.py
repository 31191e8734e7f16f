"""The basic-token floor on the real database: due once the month is complete, paid exactly once."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from tests.rewards.conftest import Engine
from tests.rewards.engine_process import engine_env
from tests.rewards.rewards_factories import MINUTE, RewardsData

from circulo.ledger import audit, journal
from circulo.ledger.entries import NewEntry
from circulo.ledger.keys import load_signer
from circulo.rewards.policy import default_policy_text
from circulo.rewards.settings import RewardsSettings
from circulo.store.db import connect

JUNE_END = datetime(2025, 7, 1, tzinfo=UTC)
FLOOR = "floor:coop1:GRN:2025-06"


def floor_policy(tmp_path: Path, *, floor_micro: int = 1_000_000, floor_from: str = "2025-06") -> Path:
    text = default_policy_text().replace('version = "rewards-v2"', 'version = "rewards-v2-floor"')
    text += f'\n[floor]\nfloor_micro_per_month = {{ GRN = {floor_micro} }}\nfloor_from = "{floor_from}"\n'
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def june_coop(data: RewardsData) -> None:
    """alice (3 shares), bob (1), carol (0); one meter with the last hour of June and July's first minutes."""
    data.member("alice", 3)
    data.member("bob", 1)
    data.member("carol", 0)
    data.meter("m1")
    data.minutely("m1", JUNE_END - timedelta(hours=1), 71)  # 23:00 .. 00:10, +10 Wh a minute


def engine_with(settings: RewardsSettings, policy: Path) -> Engine:
    return Engine(settings.model_copy(update={"policy_path": policy}))


def fund_treasury(settings: RewardsSettings, amount: int) -> None:
    """Tokens in the treasury that are no member's mint (a donation, say)."""
    entry = NewEntry(kind="mint", token="GRN", account="treasury@coop1", amount_micro=amount,
                     reason="green.energy", settlement_id="green:other:2025-05-01T00:00Z",
                     sources=({"type": "test"},), policy="rewards-v1")  # fmt: skip
    with connect(settings.database_url) as conn, conn.transaction():
        journal.append_entries(conn, [entry], load_signer(settings.signing_key_path))


def test_a_complete_month_tops_members_up_to_the_floor_from_the_treasury(
    data: RewardsData, settings: RewardsSettings, tmp_path: Path
) -> None:
    june_coop(data)
    fund_treasury(settings, 5_000_000)
    data.watermark(JUNE_END + 30 * MINUTE)
    engine = engine_with(settings, floor_policy(tmp_path))
    report = engine.cycle()
    assert report.settlements == {"green": 1, "floor": 1}
    # hour 23 credited 590 Wh = 590,000 µGRN: 59,000 to the treasury, 398,250 alice, 132,750 bob
    assert data.entries(FLOOR) == [
        ("treasury@coop1", 2_469_000, [
            {"type": "floor", "coop_id": "coop1", "token": "GRN", "month": "2025-06",
             "floor_micro": 1_000_000, "treasury_micro": 5_059_000, "owed_micro": 2_469_000,
             "paid_micro": 2_469_000}]),
        ("alice", 601_750, [{"type": "floor", "coop_id": "coop1", "token": "GRN", "month": "2025-06",
                             "floor_micro": 1_000_000, "minted_micro": 398_250, "owed_micro": 601_750,
                             "paid_micro": 601_750}]),
        ("bob", 867_250, [{"type": "floor", "coop_id": "coop1", "token": "GRN", "month": "2025-06",
                           "floor_micro": 1_000_000, "minted_micro": 132_750, "owed_micro": 867_250,
                           "paid_micro": 867_250}]),
        ("carol", 1_000_000, [{"type": "floor", "coop_id": "coop1", "token": "GRN", "month": "2025-06",
                               "floor_micro": 1_000_000, "minted_micro": 0, "owed_micro": 1_000_000,
                               "paid_micro": 1_000_000}]),
    ]  # fmt: skip
    assert data.flags() == []
    assert engine.cycle().settlements.get("floor") is None  # exactly once
    with connect(settings.database_url) as conn:
        assert audit.verify_database(conn).ok


def test_a_treasury_that_cannot_pay_all_shares_the_shortfall_pro_rata_and_flags_it(
    data: RewardsData, settings: RewardsSettings, tmp_path: Path
) -> None:
    june_coop(data)
    data.watermark(JUNE_END + 30 * MINUTE)
    engine_with(settings, floor_policy(tmp_path)).cycle()
    paid = {account: amount for account, amount, _ in data.entries(FLOOR)}
    # owed 601,750 + 867,250 + 1,000,000 = 2,469,000; the treasury holds 59,000
    # 59,000 × 601,750 / 2,469,000 = 14,380.6; × 867,250 / … = 20,724.2; × 1,000,000 / … = 23,896.3
    assert paid == {"treasury@coop1": 59_000, "alice": 14_380, "bob": 20_724, "carol": 23_896}
    assert data.scalar("SELECT amount_micro FROM ledger_balance WHERE account = 'treasury@coop1'") == 0
    shortfalls = data.conn.execute(
        "SELECT account, excluded_micro, device_id, ts FROM reward_flag WHERE flag = 'floor_shortfall' "
        "ORDER BY account"
    ).fetchall()
    assert shortfalls == [
        ("alice", 601_750 - 14_380, None, datetime(2025, 6, 1, tzinfo=UTC)),
        ("bob", 867_250 - 20_724, None, datetime(2025, 6, 1, tzinfo=UTC)),
        ("carol", 1_000_000 - 23_896, None, datetime(2025, 6, 1, tzinfo=UTC)),
    ]


def test_no_floor_is_due_before_the_month_is_complete_or_before_floor_from(
    data: RewardsData, settings: RewardsSettings, tmp_path: Path
) -> None:
    june_coop(data)
    data.watermark(JUNE_END - 5 * MINUTE)  # W still in June
    assert "floor" not in engine_with(settings, floor_policy(tmp_path)).cycle().settlements
    data.watermark(JUNE_END + 30 * MINUTE)
    later = engine_with(settings, floor_policy(tmp_path, floor_from="2025-07"))
    assert "floor" not in later.cycle().settlements  # June is before floor_from
    assert data.settlement_ids() == ["green:coop1:2025-06-30T23:00Z"]


def test_an_unsettled_collection_keeps_the_months_rcy_floor_waiting(
    data: RewardsData, settings: RewardsSettings, tmp_path: Path
) -> None:
    data.member("alice", 1)
    data.device("b1", "bin")
    data.deposit("b1", "d1", JUNE_END - timedelta(hours=2), 1000, account="alice")
    data.collection("b1", "c1", JUNE_END - timedelta(hours=1), 1000, received_at=JUNE_END + 29 * MINUTE)
    data.watermark(JUNE_END + 29 * MINUTE)  # W has not passed the collection's receipt + grace
    text = floor_policy(tmp_path).read_text().replace("{ GRN = 1000000 }", "{ RCY = 20000000 }")
    policy = tmp_path / "rcy.toml"
    policy.write_text(text)
    engine = engine_with(settings, policy)
    assert "floor" not in engine.cycle().settlements
    data.watermark(JUNE_END + 31 * MINUTE)
    assert engine.cycle().settlements == {"deposit": 1, "floor": 1}
    # alice minted 1 kg of PET = 10 RCY; owed 10 more; deposits give the treasury nothing, so it
    # pays nothing: the floor settlement has no entries and flags the whole shortfall
    assert data.entries("floor:coop1:RCY:2025-06") == []
    assert data.conn.execute(
        "SELECT account, token, excluded_micro FROM reward_flag WHERE flag = 'floor_shortfall'"
    ).fetchall() == [("alice", "RCY", 10_000_000)]
    assert "floor" not in engine.cycle().settlements


@pytest.mark.slow
def test_a_floor_run_killed_at_any_moment_pays_exactly_once(
    data: RewardsData, settings: RewardsSettings, tmp_path: Path
) -> None:
    june_coop(data)
    fund_treasury(settings, 5_000_000)
    data.watermark(JUNE_END + 30 * MINUTE)
    env = {**engine_env(settings.database_url, settings.signing_key_path),
           "CIRCULO_POLICY_PATH": str(floor_policy(tmp_path))}  # fmt: skip
    command = [sys.executable, "-m", "circulo", "rewards", "run", "--once"]
    rng = random.Random(11)
    for _ in range(10):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.5))
        proc.kill()
        proc.wait(timeout=30)
        count = data.scalar("SELECT count(*) FROM ledger_entry WHERE settlement_id = %s", (FLOOR,))
        assert count in (0, 4)
    assert subprocess.run(command, env=env, capture_output=True, check=False, timeout=300).returncode == 0
    assert [a for a, _, _ in data.entries(FLOOR)] == ["treasury@coop1", "alice", "bob", "carol"]
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM reward_settlement WHERE kind = 'floor'").fetchone() == (1,)
    with connect(settings.database_url) as conn:
        assert audit.verify_database(conn).ok
