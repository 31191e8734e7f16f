"""SPEC §6: the engine runs with the circulo_rewards group's privileges and nothing more."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from tests.rewards.rewards_factories import MINUTE, T0, RewardsData
from tests.support import scalar, wait_for

from circulo.localstack.postgres import PostgresCluster
from circulo.rewards.engine import run_cycle
from circulo.rewards.settings import RewardsSettings


@pytest.fixture
def rewards_login(pg: PostgresCluster, db_url: str) -> Iterator[str]:
    """A login that is only a member of circulo_rewards; the test database's URL for it."""
    role = f"rw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN IN ROLE circulo_rewards")
    yield db_url.replace("postgresql://postgres@", f"postgresql://{role}@")
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        # the engine's backends end asynchronously (one holds its temporary tables): wait
        # for them before dropping the role that owns those
        conn.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE usename = %s", (role,)
        )
        wait_for(
            lambda: (
                scalar(pg.url(), "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)) == 0
            ),
            timeout=30,
            what="the test role's sessions to end",
        )
        conn.execute(f"DROP ROLE {role}")


def test_a_login_in_the_rewards_group_can_settle_everything(
    data: RewardsData, rewards_login: str, key_path: Path
) -> None:
    data.member("alice")
    data.member("bob")
    data.meter("m1")
    data.minutely("m1", T0, 70)
    data.readings("m1", [(T0 + 70 * MINUTE, 0)])  # a counter reset: a flag
    data.device("bin1", "bin")
    data.deposit("bin1", "d1", T0, 1000, material="aluminium")
    data.deposit("bin1", "d2", T0 + MINUTE, 1000, account=None)
    data.collection("bin1", "c1", T0 + 5 * MINUTE, 2000)
    data.device("rs1", "repair")
    data.repair("rs1", "r1", T0, 1500, owner="alice", repairer="bob")
    data.watermark(T0 + 80 * MINUTE)
    settings = RewardsSettings(database_url=rewards_login, signing_key_path=key_path, lock_poll_s=0.05)
    run_cycle(settings, drain=False)
    data.deposit("bin1", "d3", T0 + 2 * MINUTE, 100)  # arrives after c1 settled: late
    run_cycle(settings, drain=True)
    assert {f for f, *_ in data.flags()} == {"counter_reset", "anonymous", "late"}
    assert data.minted("GRN") == 690_000
    assert data.minted("RCY") == 20_000_000 + 7_500_000
    assert data.scalar("SELECT count(*) FROM reward_repair_report") == 1
    assert data.scalar("SELECT count(*) FROM reward_cap_usage") == 2  # alice and bob, one day
