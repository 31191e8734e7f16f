"""The macro port gives the strings Grafana's own macro tests expect.

Expected strings are copied from grafana/grafana
``pkg/tsdb/grafana-postgresql-datasource/macros_test.go`` (TestMacroEngine); the
``fmt.Sprintf`` expectations there are written out for the fixed times. Global
substitutions (``$__interval``, ``$__unixEpochFrom()``) follow ``sqleng.Interpolate``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circulo.dashboards.macros import (
    MacroEngine,
    MacroError,
    TimeRange,
    expand,
    format_interval,
    go_float,
    interpolate_globals,
    rfc3339_nano,
)

APRIL = TimeRange(datetime(2018, 4, 12, 18, 0, tzinfo=UTC), datetime(2018, 4, 12, 18, 5, tzinfo=UTC))
SIXTIES = TimeRange(datetime(1960, 2, 1, 7, 0, tzinfo=UTC), datetime(1965, 2, 3, 8, 0, tzinfo=UTC))
EIGHTIES = TimeRange(datetime(1960, 2, 1, 7, 0, tzinfo=UTC), datetime(1980, 2, 3, 8, 0, tzinfo=UTC))
HALF_SECONDS = TimeRange(
    datetime(1960, 2, 1, 7, 0, 0, 500000, tzinfo=UTC), datetime(1980, 2, 3, 8, 0, 0, 500000, tzinfo=UTC)
)

PLAIN = MacroEngine(timescaledb=False)
TIMESCALE = MacroEngine(timescaledb=True)

# (engine, time range, input, expected) — TestMacroEngine, in its order.
GRAFANA_CASES = [
    (PLAIN, APRIL, "select $__time(time_column)", 'select time_column AS "time"'),
    (PLAIN, APRIL, "select min($__time(time_column))", 'select min(time_column AS "time")'),
    (PLAIN, APRIL, "WHERE $__timeFilter(time_column)",
     "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"),
    (PLAIN, APRIL, "select $__timeFrom()", "select '2018-04-12T18:00:00Z'"),
    (PLAIN, APRIL, "select $__timeTo()", "select '2018-04-12T18:05:00Z'"),
    (PLAIN, APRIL, "SELECT $__timeGroup(time_column,'5m'), value",
     'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value'),
    (PLAIN, APRIL, "SELECT $__timeGroup(time_column,'5m') as time, value",
     "SELECT floor(extract(epoch from time_column)/300)*300 as time, value"),
    (PLAIN, APRIL, "SELECT $__timeGroup(time_column,'5m')",
     "SELECT floor(extract(epoch from time_column)/300)*300"),
    (PLAIN, APRIL, "SELECT $__timeGroupAlias(time_column,'5m')",
     'SELECT floor(extract(epoch from time_column)/300)*300 AS "time"'),
    (PLAIN, APRIL, "$__timeGroup(time_column , '5m')", "floor(extract(epoch from time_column)/300)*300"),
    (PLAIN, APRIL, "$__timeGroupAlias(time_column , '5m')",
     'floor(extract(epoch from time_column)/300)*300 AS "time"'),
    (TIMESCALE, APRIL, "GROUP BY $__timeGroup(time_column,'5m')",
     "GROUP BY time_bucket('300.000s',time_column)"),
    (TIMESCALE, APRIL, "GROUP BY $__timeGroup(time_column , '5m')",
     "GROUP BY time_bucket('300.000s',time_column)"),
    (TIMESCALE, APRIL, "GROUP BY $__timeGroup(time_column , '12d')",
     "GROUP BY time_bucket('1036800.000s',time_column)"),
    (TIMESCALE, APRIL, "GROUP BY $__timeGroup(time_column , '20ms')",
     "GROUP BY time_bucket('0.020s',time_column)"),
    (PLAIN, APRIL, "select $__unixEpochFilter(time)", "select time >= 1523556000 AND time <= 1523556300"),
    (PLAIN, APRIL, "select $__unixEpochNanoFilter(time)",
     "select time >= 1523556000000000000 AND time <= 1523556300000000000"),
    (PLAIN, APRIL, "select $__unixEpochNanoFrom()", "select 1523556000000000000"),
    (PLAIN, APRIL, "select $__unixEpochNanoTo()", "select 1523556300000000000"),
    (PLAIN, APRIL, "SELECT $__unixEpochGroup(time_column+time_adjustment,'5m')",
     "SELECT floor((time_column+time_adjustment)/300)*300"),
    (PLAIN, APRIL, "SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')",
     'SELECT floor((time_column+time_adjustment)/300)*300 AS "time"'),
    (PLAIN, SIXTIES, "WHERE $__timeFilter(time_column)",
     "WHERE time_column BETWEEN '1960-02-01T07:00:00Z' AND '1965-02-03T08:00:00Z'"),
    (PLAIN, SIXTIES, "select $__unixEpochFilter(time)", "select time >= -312915600 AND time <= -154886400"),
    (PLAIN, SIXTIES, "select $__unixEpochNanoFilter(time)",
     "select time >= -312915600000000000 AND time <= -154886400000000000"),
    (PLAIN, EIGHTIES, "WHERE $__timeFilter(time_column)",
     "WHERE time_column BETWEEN '1960-02-01T07:00:00Z' AND '1980-02-03T08:00:00Z'"),
    (PLAIN, EIGHTIES, "select $__unixEpochFilter(time)", "select time >= -312915600 AND time <= 318412800"),
    (PLAIN, EIGHTIES, "select $__unixEpochNanoFilter(time)",
     "select time >= -312915600000000000 AND time <= 318412800000000000"),
    (PLAIN, HALF_SECONDS, "WHERE $__timeFilter(time_column)",
     "WHERE time_column BETWEEN '1960-02-01T07:00:00.5Z' AND '1980-02-03T08:00:00.5Z'"),
]  # fmt: skip


@pytest.mark.parametrize(("engine", "time_range", "sql", "expected"), GRAFANA_CASES)
def test_the_macro_engine_gives_grafanas_expected_strings(
    engine: MacroEngine, time_range: TimeRange, sql: str, expected: str
) -> None:
    assert engine.interpolate(sql, time_range) == expected


def test_half_second_bounds_format_like_gos_rfc3339_nano() -> None:
    assert rfc3339_nano(HALF_SECONDS.start) == "1960-02-01T07:00:00.5Z"
    assert rfc3339_nano(HALF_SECONDS.end) == "1980-02-03T08:00:00.5Z"


def test_the_interval_and_epoch_globals_are_replaced_before_the_macros() -> None:
    sql = "SELECT $__interval, $__interval_ms, $__unixEpochFrom(), $__unixEpochTo()"
    assert (
        interpolate_globals(sql, APRIL, timedelta(minutes=10)) == "SELECT 10m, 600000, 1523556000, 1523556300"
    )


def test_expand_runs_globals_then_macros_in_timescaledb_mode() -> None:
    sql = "SELECT $__timeGroupAlias(ts, $__interval) FROM t WHERE $__timeFilter(ts)"
    assert expand(sql, APRIL, interval=timedelta(hours=1)) == (
        "SELECT time_bucket('3600.000s',ts) AS \"time\" FROM t "
        "WHERE ts BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("$__time()", "missing time column argument for macro __time"),
        ("$__timeGroup(ts)", "macro __timeGroup needs time column and interval and optional fill value"),
        ("$__timeGroup(ts, 'soon')", "error parsing interval 'soon'"),
        ("$__nope(ts)", 'unknown macro "__nope"'),
    ],
)
def test_a_macro_grafana_refuses_raises_its_message(sql: str, message: str) -> None:
    with pytest.raises(MacroError, match=message):
        PLAIN.interpolate(sql, APRIL)


@pytest.mark.parametrize(
    ("interval", "text"),
    [(timedelta(milliseconds=20), "20ms"), (timedelta(seconds=90), "1m"), (timedelta(hours=25), "1d"),
     (timedelta(days=400), "1y"), (timedelta(0), "1ms")],
)  # fmt: skip
def test_intervals_format_in_their_largest_whole_unit(interval: timedelta, text: str) -> None:
    assert format_interval(interval) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(300.0, "300"), (0.02, "0.02"), (86400.0, "86400"), (604800.0, "604800"), (1036800.0, "1.0368e+06"),
     (0.0001, "0.0001"), (0.00001, "1e-05"), (1000000.0, "1e+06")],
)  # fmt: skip
def test_floats_print_as_gos_percent_v(value: float, text: str) -> None:
    assert go_float(value) == text


@given(st.integers(min_value=1, max_value=10**7))
def test_go_floats_of_whole_seconds_parse_back_to_the_same_number(seconds: int) -> None:
    assert float(go_float(float(seconds))) == seconds
