"""Statement test fixtures: a co-op day settled by the real engine, then more received, then a checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from tests.rewards import conftest as rewards_fixtures
from tests.rewards.rewards_factories import MINUTE, T0, RewardsData

from circulo.ledger import log
from circulo.ledger.keys import Signer, load_signer
from circulo.rewards.engine import run_cycle
from circulo.rewards.policy import load_policy
from circulo.rewards.records import PlanContext
from circulo.rewards.settings import RewardsSettings
from circulo.statements import links
from circulo.statements.model import PinnedKey
from circulo.statements.pending import plan_context

HOUR = timedelta(hours=1)
# The rewards tests' fixtures: a signing key, engine settings, the test-data writer.
key_path = rewards_fixtures.key_path
settings = rewards_fixtures.settings
data = rewards_fixtures.data


@dataclass(frozen=True)
class Coop:
    """The scenario's database and the key that signed its ledger."""

    db_url: str
    signer: Signer
    settings: RewardsSettings

    @property
    def pinned(self) -> PinnedKey:
        return PinnedKey(self.signer.public_key_hex)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.db_url, autocommit=True)

    def context(self, conn: psycopg.Connection) -> PlanContext:
        policy = load_policy(None)
        return plan_context(conn, policy, grace_s=10.0, idle_timeout_s=900.0)

    def checkpoint(self) -> None:
        with self.connect() as conn, conn.transaction():
            log.create_checkpoint(conn, self.signer)


def settled_day(data: RewardsData) -> None:
    """Two members and a neighbour: two meters' three hours, a bin's deposits and collection, a repair."""
    for account, shares in (("alice@riverside", 3), ("bob@riverside", 1), ("carol@riverside", 2)):
        data.member(account, shares, "riverside")
    data.meter("m-alice-roof", "riverside", rated_power_w=5000)
    data.meter("m-school", "riverside", rated_power_w=20_000)
    data.minutely("m-alice-roof", T0, 181, wh_per_minute=40)
    data.minutely("m-school", T0, 181, wh_per_minute=150)
    data.device("bin-1", "bin", "riverside")
    data.deposit("bin-1", "d-1", T0 + 5 * MINUTE, 400, material="aluminium", account="alice@riverside")
    data.deposit("bin-1", "d-2", T0 + 9 * MINUTE, 900, material="pet", account="carol@riverside")
    data.deposit("bin-1", "d-3", T0 + 20 * MINUTE, 250, material="glass", account="alice@riverside")
    data.collection("bin-1", "c-1", T0 + HOUR, 1600)
    data.device("rc-1", "repair", "riverside")
    data.repair("rc-1", "r-1", T0 + 30 * MINUTE, 1200, category="Kettle", owner="alice@riverside",
                repairer="bob@riverside")  # fmt: skip


def still_pending(data: RewardsData) -> None:
    """What arrives after the settled day: alice's new deposits, a collection W has not passed, a repair."""
    late = T0 + 4 * HOUR
    data.deposit("bin-1", "d-4", late, 300, material="aluminium", account="alice@riverside")
    data.device("bin-2", "bin", "riverside")
    data.deposit("bin-2", "d-5", late + MINUTE, 500, material="steel", account="alice@riverside")
    data.collection("bin-2", "c-2", late + 10 * MINUTE, 520)
    data.repair(
        "rc-1", "r-2", late + 5 * MINUTE, 800, category="Lamp", owner="alice@riverside", repairer=None
    )
    data.readings("m-school", [(T0 + 3 * HOUR + k * MINUTE, 180 * 150 + k * 150) for k in range(1, 90)])
    data.watermark(late + 2 * MINUTE)


def scenario(db_url: str, data: RewardsData, key_path: Path, settings: RewardsSettings) -> Coop:
    """The settled day (drain), then what is still pending; no checkpoint yet."""
    settled_day(data)
    run_cycle(settings, drain=True)
    still_pending(data)
    return Coop(db_url, load_signer(key_path), settings)


@pytest.fixture
def riverside(db_url: str, data: RewardsData, key_path: Path, settings: RewardsSettings) -> Iterator[Coop]:
    """A co-op whose day settled (drain), then more received (pending), then a signed checkpoint."""
    coop = scenario(db_url, data, key_path, settings)
    coop.checkpoint()
    yield coop


@pytest.fixture
def unsigned(db_url: str, data: RewardsData, key_path: Path, settings: RewardsSettings) -> Coop:
    """The same co-op before anyone signed a checkpoint."""
    return scenario(db_url, data, key_path, settings)


@pytest.fixture
def secret() -> bytes:
    return bytes(range(32))


__all__ = ["HOUR", "Coop", "links"]
