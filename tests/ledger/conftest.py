"""Ledger test fixtures: signing keys and a signed chain built in memory."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.ledger.ledger_factories import build_chain, new_entry

from circulo.cli import cli
from circulo.ledger import journal
from circulo.ledger.entries import LedgerEntry
from circulo.ledger.keys import Signer, generate_key
from circulo.localstack.postgres import PostgresCluster
from circulo.store import migrate
from circulo.store.db import connect


@pytest.fixture
def signer() -> Signer:
    """A fresh in-memory signing key."""
    return Signer(Ed25519PrivateKey.generate())


@pytest.fixture
def other_signer() -> Signer:
    """A second, unrelated signing key (a forger's, or a rotation's new key)."""
    return Signer(Ed25519PrivateKey.generate())


@pytest.fixture
def key_file(tmp_path: Path) -> tuple[Path, Signer]:
    """A signing key written to disk the way ``circulo ledger keygen`` writes it."""
    path = tmp_path / "keys" / "ledger-signing.key"
    return path, generate_key(path)


@pytest.fixture
def chain(signer: Signer) -> list[LedgerEntry]:
    """A signed chain of eight mints across three accounts."""
    return build_chain([new_entry(i) for i in range(8)], signer)


@dataclass(frozen=True)
class LedgerCli:
    """Runs ``circulo ledger …`` in-process against the test's database, key and files."""

    env: dict[str, str]
    key_path: Path
    checkpoint_file: Path

    def __call__(self, *args: str) -> Result:
        return CliRunner(env=self.env).invoke(cli, ["ledger", *args], catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)


@pytest.fixture
def ledger_cli(db_url: str, tmp_path: Path) -> LedgerCli:
    """The ledger commands with CIRCULO_* pointing at this test's database and state folder."""
    state = tmp_path / "state"
    env = {
        "CIRCULO_DATABASE_URL": db_url,
        "CIRCULO_STATE_DIR": str(state),
        "CIRCULO_MQTT_URL": "mqtt://127.0.0.1:1",
    }
    return LedgerCli(env, state / "ledger-signing.key", state / "ledger-checkpoint.json")


def seed(db_url: str, signer: Signer, count: int, start: int = 0) -> list[LedgerEntry]:
    """Append ``count`` mints (one transaction each, like settlements) and return them."""
    with connect(db_url) as conn:
        sealed = []
        for i in range(start, start + count):
            with conn.transaction():
                sealed += journal.append_entries(conn, [new_entry(i)], signer)
        return sealed


@pytest.fixture
def v1_database(pg: PostgresCluster) -> Iterator[str]:
    """A database at migration 0006 (the last before ledger format 2)."""
    name = f"v1_{uuid.uuid4().hex[:12]}"
    url = pg.fresh_database(name)
    migrate.upgrade(url, "0006")
    yield url
    pg.drop_database(name)
