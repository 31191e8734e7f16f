"""Exactly once (SPEC §5): crashes, two engines, a stale leader, re-ingested data.

Each test compares the database against a clean reference run of the same history: every
source settles once, and the balances, settlements, claims and flags are the same.
"""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.rewards.conftest import Engine
from tests.rewards.engine_process import run_engine_once, start_engine
from tests.rewards.rewards_factories import RewardsData
from tests.rewards.scenario import deliver_round
from tests.support import wait_for

from circulo.rewards import green
from circulo.rewards.engine import load_engine, open_work_connection, run_cycle
from circulo.rewards.leader import Leadership
from circulo.rewards.plans.green import plan_green
from circulo.rewards.settings import RewardsSettings
from circulo.rewards.settlement import LostLeadership, SettlementConflict

ROUNDS = 20


def outcome(url: str) -> dict[str, Any]:
    """Everything that must come out the same as a clean run."""
    data = RewardsData(url)
    try:
        return {
            "balances": data.balances(),
            "settlements": sorted(data.settlement_ids()),
            "meter_claims": data.scalar("SELECT count(*) FROM reward_meter_claim"),
            "event_claims": data.scalar("SELECT count(*) FROM reward_event_claim"),
            "flags": data.flags(),
            "entries": data.scalar("SELECT count(*) FROM ledger_entry"),
            "per_settlement": sorted(
                data.conn.execute("SELECT settlement_id, account, amount_micro FROM ledger_entry").fetchall()
            ),
        }
    finally:
        data.close()


def clean_reference(reference_url: str, key_path: Path, rounds: int = ROUNDS) -> dict[str, Any]:
    """The reference: the same rounds settled by one engine, cycle after cycle, then drained."""
    settings = RewardsSettings(database_url=reference_url, signing_key_path=key_path, lock_poll_s=0.05)
    data = RewardsData(reference_url)
    for k in range(rounds):
        deliver_round(data, k)
        run_cycle(settings, drain=False)
    data.close()
    run_cycle(settings, drain=True)
    return outcome(reference_url)


def assert_ledger_verifies(db_url: str, log_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "circulo", "--database-url", db_url, "ledger", "verify"],
        capture_output=True, text=True, timeout=120, check=False, cwd=log_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def leader_lock_pids(data: RewardsData) -> list[int]:
    return [
        row[0]
        for row in data.conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'circulo-rewards-lock'"
        )
    ]


@pytest.mark.slow
def test_killing_the_engine_at_random_points_mints_each_source_once(
    db_url: str, reference_url: str, key_path: Path, data: RewardsData, tmp_path: Path
) -> None:
    expected = clean_reference(reference_url, key_path)
    rng = random.Random(20250601)
    interrupted = 0
    for k in range(ROUNDS):
        deliver_round(data, k)
        engine = start_engine(db_url, key_path, tmp_path, interval_s=0.02)
        # a random point after it took the lead: start-up time varies with machine load
        wait_for(lambda: '"event": "leader"' in engine.log(), timeout=60, what="the engine to lead")  # noqa: B023
        time.sleep(rng.uniform(0.0, 1.5))
        engine.kill()
        interrupted += 1
    finish = run_engine_once(db_url, key_path, tmp_path, "--drain")
    assert finish.returncode == 0, finish.stderr
    assert interrupted >= 5, "too few kills landed after the engine started working"
    assert outcome(db_url) == expected
    assert_ledger_verifies(db_url, tmp_path)


@pytest.mark.slow
def test_two_engines_started_at_once_settle_each_source_once(
    db_url: str, reference_url: str, key_path: Path, data: RewardsData, tmp_path: Path
) -> None:
    expected = clean_reference(reference_url, key_path, rounds=8)
    engines = [start_engine(db_url, key_path, tmp_path, interval_s=0.02) for _ in range(2)]
    for k in range(8):
        deliver_round(data, k)
        time.sleep(0.3)
    wait_for(
        lambda: data.scalar("SELECT count(*) FROM reward_settlement") > 0, timeout=60, what="settlements"
    )
    # both engines are up: one leads, the other waits for the lock (start-up varies with load)
    wait_for(
        lambda: (
            sum('"event": "leader"' in e.log() for e in engines) >= 1
            and sum("waiting_for_leader_lock" in e.log() for e in engines) >= 1
        ),
        timeout=60,
        what="a leader and a follower",
    )
    logs = [e.log() for e in engines]  # before stopping: the follower may lead once the leader left
    assert [e.terminate() for e in engines] == [0, 0]
    assert sum('"event": "leader"' in log for log in logs) == 1, logs
    assert sum("waiting_for_leader_lock" in log for log in logs) == 1, logs
    finish = run_engine_once(db_url, key_path, tmp_path, "--drain")
    assert finish.returncode == 0, finish.stderr
    assert outcome(db_url) == expected


@pytest.mark.slow
def test_a_leader_whose_lock_connection_was_cut_does_not_mint_twice(
    db_url: str, reference_url: str, key_path: Path, data: RewardsData, tmp_path: Path
) -> None:
    expected = clean_reference(reference_url, key_path, rounds=10)
    first = start_engine(db_url, key_path, tmp_path, interval_s=0.02)
    for k in range(4):
        deliver_round(data, k)
        time.sleep(0.2)
    # the lock connection exists while the engine still waits for the lock: wait until it leads
    wait_for(lambda: '"event": "leader"' in first.log(), timeout=60, what="the first engine to lead")
    # cut the leader's lock connection; it keeps running and a second engine takes over
    for pid in leader_lock_pids(data):
        data.scalar("SELECT pg_terminate_backend(%s)", (pid,))
    second = start_engine(db_url, key_path, tmp_path, interval_s=0.02)
    for k in range(4, 10):
        deliver_round(data, k)
        time.sleep(0.3)
    wait_for(lambda: "leader_lock_lost" in first.log(), timeout=60, what="the first engine to notice")
    assert first.alive() and second.alive()
    assert [first.terminate(), second.terminate()] == [0, 0]
    finish = run_engine_once(db_url, key_path, tmp_path, "--drain")
    assert finish.returncode == 0, finish.stderr
    assert outcome(db_url) == expected


def test_a_stale_leader_is_fenced_off_and_its_claims_would_fail_anyway(
    data: RewardsData, settings: RewardsSettings, engine: Engine
) -> None:
    for k in range(4):
        deliver_round(data, k)
    stale_engine = load_engine(settings)
    stale_lock = Leadership(settings.database_url, "stale")
    assert stale_lock.try_acquire()
    stale_epoch = stale_lock.epoch
    assert stale_epoch is not None
    with open_work_connection(settings.database_url) as conn:
        # the stale leader reads and plans before it loses its lock ...
        ctx = stale_engine.context(conn, stale_epoch, drain=True)
        baselines = green.meter_baselines(conn, "coop1")
        green.fill_pairs(conn, "coop1", baselines=baselines, window_end=green.FAR_FUTURE, settled=None,
                         plausibility_pct=110)  # fmt: skip
        meter_hours, flagged = green.read_pair_summaries(conn)
        plans = plan_green("coop1", end=None, baselines=baselines, meter_hours=meter_hours, flagged=flagged)
        # ... its lock connection is cut, and another engine leads and settles
        data.scalar("SELECT pg_terminate_backend(%s)", (leader_lock_pids(data)[0],))
        engine.cycle(drain=True)
        minted = data.minted("GRN")
        assert minted > 0
        with pytest.raises(LostLeadership):
            green.commit_green(conn, plans[0], ctx, None)
        # even with a current epoch (it read the fence before the takeover), the claims stop it
        current = data.scalar("SELECT epoch FROM reward_leader")
        with pytest.raises(SettlementConflict):
            green.commit_green(conn, plans[0], dataclasses.replace(ctx, epoch=current), None)
    assert data.minted("GRN") == minted
    stale_lock.drop()


def test_re_ingested_data_settles_nothing_twice(
    data: RewardsData, engine: Engine, db_url: str, reference_url: str, key_path: Path
) -> None:
    expected = clean_reference(reference_url, key_path, rounds=8)
    for k in range(8):
        deliver_round(data, k)
        engine.cycle()
    engine.cycle(drain=True)
    before = outcome(db_url)
    assert before == expected
    # the same messages again, after the raw rows were gone (a replay after retention or
    # a restore): the claims and progress marks keep every source from settling twice
    for table in ("meter_reading", "bin_event", "repair_event"):
        data.conn.execute(f"DELETE FROM {table}")
    for k in range(8):
        deliver_round(data, k, with_registry=False)
        engine.cycle()
    engine.cycle(drain=True)
    assert outcome(db_url) == before
