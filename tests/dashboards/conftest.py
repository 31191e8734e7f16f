"""Fixtures of the dashboards' tests: a database that lives through a hypothesis run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from tests.dashboards import dashboard_data as data
from tests.dashboards.panel_runner import create_reader_role

from circulo.localstack.postgres import PostgresCluster

TEMPLATE_DB = "circulo_template"


@pytest.fixture
def pg_database(pg: PostgresCluster) -> Iterator[str]:
    """A fresh migrated database holding the registry of the fixture day (examples reset the rest)."""
    name = f"d_{uuid.uuid4().hex[:16]}"
    url = pg.fresh_database(name, template=TEMPLATE_DB)
    with psycopg.connect(url) as conn:
        data.insert_registry(conn)
    yield url
    pg.drop_database(name)


@pytest.fixture(scope="session")
def reader_role(pg: PostgresCluster) -> str:
    """A login role that is a member of circulo_reader, as Grafana's data source uses."""
    return create_reader_role(pg.url())
