"""Rewards test fixtures: a signing key, engine settings for the test database, test data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import TEMPLATE_DB
from tests.rewards.rewards_factories import RewardsData

from circulo.ledger.keys import generate_key
from circulo.localstack.postgres import PostgresCluster
from circulo.rewards.engine import CycleReport, run_cycle
from circulo.rewards.settings import RewardsSettings


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    """A signing key written the way ``circulo ledger keygen`` writes it."""
    path = tmp_path / "keys" / "ledger-signing.key"
    generate_key(path)
    return path


@pytest.fixture
def settings(db_url: str, key_path: Path) -> RewardsSettings:
    """Engine settings for the test's database and key (fast lock polling)."""
    return RewardsSettings(database_url=db_url, signing_key_path=key_path, lock_poll_s=0.05, interval_s=0.2)


@pytest.fixture
def data(db_url: str) -> Iterator[RewardsData]:
    """A writer of test rows into the test's database."""
    writer = RewardsData(db_url)
    yield writer
    writer.close()


class Engine:
    """Runs one-shot cycles with the test's settings."""

    def __init__(self, settings: RewardsSettings) -> None:
        self.settings = settings

    def cycle(self, *, drain: bool = False) -> CycleReport:
        return run_cycle(self.settings, drain=drain)


@pytest.fixture
def engine(settings: RewardsSettings) -> Engine:
    """One-shot engine cycles against the test database."""
    return Engine(settings)


@pytest.fixture
def reference_url(pg: PostgresCluster) -> Iterator[str]:
    """A second fresh database, for a clean reference run beside the test's own."""
    name = f"r_{uuid.uuid4().hex[:16]}"
    yield pg.fresh_database(name, template=TEMPLATE_DB)
    pg.drop_database(name)
