"""Certificate test fixtures: a co-op with meters settled by the real engine, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from tests.rewards.conftest import Engine
from tests.rewards.rewards_factories import RewardsData

from circulo.cli import cli
from circulo.ledger.keys import Signer, generate_key
from circulo.rewards.settings import RewardsSettings


@dataclass(frozen=True)
class Cli:
    """Runs ``circulo …`` in-process against the test's database and key."""

    env: dict[str, str]
    key_path: Path

    def __call__(self, *args: str) -> Result:
        return CliRunner(env=self.env).invoke(cli, list(args), catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def error(self, *args: str) -> str:
        """The one error line of a command that must fail (and write nothing)."""
        result = self(*args)
        assert result.exit_code != 0, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        return lines[0]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def signer(state_dir: Path) -> Signer:
    """The ledger key the engine and the commands share."""
    return generate_key(state_dir / "ledger-signing.key")


@pytest.fixture
def engine(db_url: str, state_dir: Path, signer: Signer) -> Engine:
    settings = RewardsSettings(
        database_url=db_url,
        signing_key_path=state_dir / "ledger-signing.key",
        lock_poll_s=0.05,
        interval_s=0.2,
    )
    return Engine(settings)


@pytest.fixture
def data(db_url: str) -> Iterator[RewardsData]:
    writer = RewardsData(db_url)
    yield writer
    writer.close()


@pytest.fixture
def certs(db_url: str, state_dir: Path, signer: Signer) -> Cli:
    env = {
        "CIRCULO_DATABASE_URL": db_url,
        "CIRCULO_STATE_DIR": str(state_dir),
        "CIRCULO_MQTT_URL": "mqtt://127.0.0.1:1",
    }
    return Cli(env, state_dir / "ledger-signing.key")
