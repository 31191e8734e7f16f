"""The certificate commands run with the circulo_rewards group's privileges; readers see only the view."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from tests.certificates.certificate_data import settle, sunny_coop
from tests.certificates.conftest import Cli
from tests.rewards.conftest import Engine
from tests.rewards.rewards_factories import RewardsData

from circulo.localstack.postgres import PostgresCluster


@pytest.fixture
def login(pg: PostgresCluster, db_url: str) -> Iterator[tuple[str, str]]:
    """Two logins, one only in circulo_rewards, one only in circulo_reader: the test database's URLs."""
    roles = {
        group: f"c{group[8:10]}_{uuid.uuid4().hex[:10]}" for group in ("circulo_rewards", "circulo_reader")
    }
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        for group, role in roles.items():
            conn.execute(f"CREATE ROLE {role} LOGIN IN ROLE {group}")
    urls = [db_url.replace("postgresql://postgres@", f"postgresql://{r}@") for r in roles.values()]
    yield urls[0], urls[1]
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        for role in roles.values():
            conn.execute(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE usename = %s", (role,)
            )
            conn.execute(f"DROP ROLE {role}")


def test_a_rewards_login_acts_on_certificates_and_a_reader_sees_only_the_dashboard_view(
    data: RewardsData, engine: Engine, certs: Cli, login: tuple[str, str]
) -> None:
    rewards_url, reader_url = login
    sunny_coop(data, minutes=60)
    settle(engine)
    as_rewards = Cli({**certs.env, "CIRCULO_DATABASE_URL": rewards_url}, certs.key_path)
    as_rewards.ok(
        "certificates", "transfer", "1", "--holder", "treasury@coop1", "--to", "buyer@grid", "--wh", "5"
    )
    as_rewards.ok("certificates", "cancel", "1", "--holder", "buyer@grid", "--period", "2025")
    as_rewards.ok("certificates", "claim", "1", "--holder", "buyer@grid")
    as_rewards.ok("certificates", "assign", "m1", "--to", "alice")
    with psycopg.connect(reader_url) as conn:
        assert conn.execute("SELECT sum(quantity_wh) FROM dashboards.certificate_bundle").fetchone() == (
            1180,
        )
    for table in ("certificate_bundle", "certificate_claim", "certificate_counter"):
        with psycopg.connect(reader_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT 1 FROM {table}")
