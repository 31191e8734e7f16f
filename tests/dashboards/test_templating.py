"""Variable interpolation and the panel interval behave as Grafana's browser code does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from circulo.dashboards.macros import TimeRange
from circulo.dashboards.templating import ALL, Scope, Variable, interpolate, panel_interval, round_interval_ms

DAY = TimeRange(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC))
COOPS = ("sunny", "o'hare", "windy")


def scope(**variables: Variable) -> Scope:
    return Scope(DAY, variables)


@pytest.mark.parametrize(
    ("variable", "sql", "expected"),
    [
        (Variable("coop", ("sunny",)), "coop_id = '$coop'", "coop_id = 'sunny'"),
        (Variable("coop", ("o'hare",)), "coop_id = '$coop'", "coop_id = 'o''hare'"),
        (Variable("coop", ("sunny",), multi=True), "coop_id IN ($coop)", "coop_id IN ('sunny')"),
        (Variable("coop", ("sunny", "o'hare"), multi=True), "coop_id IN (${coop})",
         "coop_id IN ('sunny','o''hare')"),
        (Variable("coop", (ALL,), multi=True, include_all=True, options=(ALL, *COOPS)), "IN ([[coop]])",
         "IN ('sunny','o''hare','windy')"),
        (Variable("coop", (ALL,), include_all=True, all_value="%", options=(ALL, *COOPS)), "LIKE '$coop'",
         "LIKE '%'"),
        (Variable("coop", ("sunny", "windy"), multi=True), "${coop:csv}", "sunny,windy"),
        (Variable("coop", ("sunny", "o'hare"), multi=True), "${coop:sqlstring}", "'sunny','o''hare'"),
        (Variable("coop", ("sunny",)), "$coopx and $__timeFilter(ts)", "$coopx and $__timeFilter(ts)"),
    ],
)  # fmt: skip
def test_variables_interpolate_like_grafanas_sql_data_sources(
    variable: Variable, sql: str, expected: str
) -> None:
    assert interpolate(sql, scope(coop=variable)) == expected


def test_built_in_range_variables_are_epoch_milliseconds() -> None:
    assert interpolate("$__from $__to", Scope(DAY)) == "1780272000000 1780358400000"


@pytest.mark.parametrize(
    ("raw_ms", "rounded_ms"),
    [(12, 10), (40000, 30000), (86399999, 43200000), (100000, 120000), (10**12, 31536000000)],
)
def test_intervals_round_to_grafanas_tidy_steps(raw_ms: int, rounded_ms: int) -> None:
    assert round_interval_ms(raw_ms) == rounded_ms


def test_the_panel_interval_never_goes_below_the_minimum() -> None:
    assert panel_interval(DAY, max_data_points=1000) == timedelta(minutes=1)
    assert panel_interval(DAY, max_data_points=1000, min_interval="1h") == timedelta(hours=1)
