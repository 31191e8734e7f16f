"""Run the built dashboards' SQL as Grafana would: interpolate, expand macros, execute as the reader."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
from tests.dashboards import dashboard_data as data

from circulo.dashboards import lint
from circulo.dashboards.build import render_all
from circulo.dashboards.macros import TimeRange, expand
from circulo.dashboards.templating import ALL, Scope, Variable, interpolate, panel_interval

READER_LOGIN = "grafana_test_reader"
DAY_RANGE = TimeRange(data.DAY, data.DAY + timedelta(days=1) - timedelta(milliseconds=1))
MODELS = render_all()


def create_reader_role(admin_url: str) -> str:
    """A login role in circulo_reader (roles are cluster-wide; created once)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            f"DO $$ BEGIN CREATE ROLE {READER_LOGIN} LOGIN IN ROLE circulo_reader; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    return READER_LOGIN


def as_reader(db_url: str, role: str) -> psycopg.Connection:
    """A connection whose privileges are those of ``role`` (SET ROLE)."""
    conn = psycopg.connect(db_url, autocommit=True)
    conn.execute(f"SET ROLE {role}")
    return conn


def coop_variable(selected: tuple[str, ...] = (ALL,), coops: tuple[str, ...] = tuple(data.COOPS)) -> Variable:
    return Variable("coop", selected, multi=True, include_all=True, options=(ALL, *coops))


def scope(
    resolution: str,
    coops: tuple[str, ...] = (ALL,),
    time_range: TimeRange = DAY_RANGE,
    options: tuple[str, ...] = tuple(data.COOPS),
) -> Scope:
    """Variables and interval as the browser would send them for this range."""
    interval = panel_interval(time_range, max_data_points=1000, min_interval="1m")
    variables = {"coop": coop_variable(coops, options), "resolution": Variable("resolution", (resolution,))}
    return Scope(time_range, variables, interval)


def grafana_sql(raw_sql: str, at: Scope) -> str:
    """What PostgreSQL receives: browser interpolation, then the server's macros."""
    return expand(interpolate(raw_sql, at), at.time_range, interval=at.interval, timescaledb=True)


def resolutions(model: dict[str, Any]) -> tuple[str, ...]:
    (variable,) = [v for v in model["templating"]["list"] if v["name"] == "resolution"]
    return tuple(str(variable["query"]).split(","))


def all_targets() -> Iterator[tuple[str, str, str, str]]:
    """(dashboard uid, panel title, format, rawSql) of every panel target."""
    for uid, model in MODELS.items():
        for panel in lint.panels(model):
            for target in panel.get("targets", []):
                yield uid, panel["title"], target["format"], target["rawSql"]


TARGETS = list(all_targets())


def panel_sql(uid: str, title: str) -> str:
    return next(sql for u, t, _fmt, sql in TARGETS if u == uid and t == title)


def run(conn: psycopg.Connection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    cursor = conn.execute(sql)  # type: ignore[call-overload]  # expanded panel SQL, as Grafana sends it
    names = [column.name for column in cursor.description or []]
    return names, cursor.fetchall()


def single_value(conn: psycopg.Connection, uid: str, title: str, at: Scope) -> Any:
    _names, rows = run(conn, grafana_sql(panel_sql(uid, title), at))
    assert len(rows) == 1
    return rows[0][0]
