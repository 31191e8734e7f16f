"""The engine daemon: SIGTERM finishes the cycle and exits 0, metrics and health, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
from tests.rewards.engine_process import engine_env, run_engine_once, start_engine
from tests.rewards.rewards_factories import MINUTE, T0, RewardsData
from tests.support import http_get, wait_for

from circulo.ledger.keys import generate_key
from circulo.localstack.procs import free_port
from circulo.rewards.daemon import RewardsDaemon
from circulo.rewards.engine import EngineHooks, run_cycle
from circulo.rewards.records import Settlement
from circulo.rewards.settings import RewardsSettings


def circulo(db_url: str, key_path: Path, cwd: Path, *args: str) -> str:
    """Run a ``circulo`` command against the test database; its stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "circulo", *args],
        env=engine_env(db_url, key_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=cwd,
    )
    return result.stdout


def some_history(data: RewardsData) -> None:
    data.member("alice")
    data.meter("m1")
    data.minutely("m1", T0, 75)
    data.device("bin1", "bin")
    data.deposit("bin1", "d1", T0, 1000, material="aluminium", contaminated=True)
    data.deposit("bin1", "d2", T0 + MINUTE, 1000, material="aluminium")
    data.collection("bin1", "c1", T0 + 5 * MINUTE, 2000)
    data.watermark(T0 + 80 * MINUTE)


def test_the_daemon_settles_serves_metrics_and_exits_0_on_sigterm(
    data: RewardsData, db_url: str, key_path: Path, tmp_path: Path
) -> None:
    some_history(data)
    port = free_port()
    engine = start_engine(db_url, key_path, tmp_path, interval_s=0.1, metrics_port=port)
    wait_for(lambda: http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200, timeout=60, what="/healthz")
    wait_for(lambda: len(data.settlement_ids()) == 2, timeout=60, what="two settlements")
    # the cycle's metrics are recorded when the cycle ends, a moment after its commits
    wait_for(
        lambda: (
            "circulo_rewards_last_success_timestamp_seconds 1"
            in http_get(f"http://127.0.0.1:{port}/metrics")[1]
        ),
        timeout=30,
        what="the cycle's metrics",
    )
    status, text = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert 'circulo_rewards_mints_total{token="GRN"} 2.0' in text
    assert 'circulo_rewards_mints_total{token="RCY"} 1.0' in text
    assert 'circulo_rewards_settlements_total{kind="green"} 1.0' in text
    assert 'circulo_rewards_cycles_total{outcome="ok"}' in text
    assert "circulo_rewards_cycle_duration_seconds_bucket" in text
    assert "circulo_rewards_last_success_timestamp_seconds" in text
    assert "circulo_rewards_leader 1.0" in text
    health = json.loads(http_get(f"http://127.0.0.1:{port}/healthz")[1])
    assert (health["status"], health["role"]) == ("ok", "leader")
    assert engine.terminate() == 0
    log = engine.log()
    assert '"event": "stopped"' in log
    assert "Traceback" not in log


def test_the_engine_refuses_to_start_without_a_signing_key(db_url: str, tmp_path: Path) -> None:
    result = run_engine_once(db_url, tmp_path / "missing.key", tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: no signing key at")
    daemon = start_engine(db_url, tmp_path / "missing.key", tmp_path)
    assert daemon.proc.wait(timeout=60) == 2
    assert "Traceback" not in daemon.log()


def test_the_engine_refuses_a_key_that_did_not_sign_the_ledger(
    data: RewardsData, db_url: str, key_path: Path, tmp_path: Path
) -> None:
    some_history(data)
    assert run_engine_once(db_url, key_path, tmp_path, "--drain").returncode == 0
    other = tmp_path / "other" / "ledger-signing.key"
    generate_key(other)
    result = run_engine_once(db_url, other, tmp_path, "--drain")
    assert result.returncode != 0
    assert "is not the key of the ledger's latest entry" in result.stderr
    assert "Traceback" not in result.stderr


def test_rewards_flags_lists_every_excluded_amount_in_the_spec_form(
    data: RewardsData, db_url: str, key_path: Path, tmp_path: Path
) -> None:
    some_history(data)
    data.readings("m1", [(T0 + 76 * MINUTE, 5)])  # a counter reset
    assert run_engine_once(db_url, key_path, tmp_path, "--drain").returncode == 0
    flags = json.loads(circulo(db_url, key_path, tmp_path, "rewards", "flags", "--json"))
    assert [(f["flag"], f["device_id"], f["ts"]) for f in flags] == [
        ("contaminated", "bin1", "2025-06-01T10:00:00.000000Z"),
        ("counter_reset", "m1", "2025-06-01T11:16:00.000000Z"),
    ]
    assert flags[0]["detail"] == "1000 g aluminium marked contaminated"
    assert flags[0]["excluded_micro"] == 20_000_000
    assert flags[0]["settlement_id"] == "deposit:bin1:c1"
    text = circulo(db_url, key_path, tmp_path, "rewards", "flags", "--flag", "counter_reset")
    assert "counter_reset" in text and "contaminated" not in text


def test_run_once_prints_what_the_cycle_did(
    data: RewardsData, db_url: str, key_path: Path, tmp_path: Path
) -> None:
    some_history(data)
    result = run_engine_once(db_url, key_path, tmp_path, "--drain", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["settlements"] == {"green": 2, "deposit": 1}
    assert report["minted_micro"] == {"GRN": 740_000, "RCY": 20_000_000}
    assert report["flags"] == {"contaminated": 1}


def test_a_stop_during_a_cycle_lets_the_cycle_finish_before_the_daemon_returns(
    data: RewardsData, settings: RewardsSettings
) -> None:
    some_history(data)
    data.minutely("m1", T0 + 75 * MINUTE, 120, first_wh=750)  # hours 10, 11, 12 and 13 to settle
    data.watermark(T0 + 4 * 60 * MINUTE)
    seen: list[str] = []

    def stop_at_first(settlement: Settlement) -> None:
        seen.append(settlement.settlement_id)
        daemon.stop()

    daemon = RewardsDaemon(
        settings.model_copy(update={"metrics_port": 0}), hooks=EngineHooks(on_settlement=stop_at_first)
    )
    daemon.run()
    assert len(seen) == 5  # the stop came with the first settlement; the cycle still did all
    assert sorted(data.settlement_ids()) == sorted(seen)
    # Both connections were closed; a backend leaves pg_stat_activity a moment after its
    # client hangs up, so poll rather than read once.
    wait_for(
        lambda: (
            data.scalar(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name LIKE 'circulo-rewards%'"
            )
            == 0
        ),
        timeout=10,
        what="the engine's connections to close",
    )


def test_the_rollup_hook_runs_after_each_cycle_on_the_engine_connection(
    data: RewardsData, settings: RewardsSettings
) -> None:
    some_history(data)
    seen: list[int] = []

    def refresh(conn: psycopg.Connection) -> None:
        seen.append(conn.execute("SELECT count(*) FROM reward_settlement").fetchone()[0])

    run_cycle(settings, drain=True, hooks=EngineHooks(refresh_rollups=refresh))
    assert seen == [3]  # after the cycle's settlements, which it sees committed
