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
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
    with psycopg.connect(pg.url(name)) as conn:
        data.insert_registry(conn)
    yield pg.url(name)
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def reader_role(pg: PostgresCluster) -> str:
    """A login role that is a member of circulo_reader, as Grafana's data source uses."""
    return create_reader_role(pg.url())
