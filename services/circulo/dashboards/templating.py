"""A Python port of what Grafana's browser does to a SQL panel's text before sending it.

``templateSrv.replace`` finds ``$var``, ``${var}``, ``${var:format}`` and ``[[var]]``
(``variableRegex`` in ``public/app/features/variables/utils.ts``) and formats each value
with the SQL data sources' ``interpolateVariable`` (``packages/grafana-sql``
``SqlDatasource.ts``): a single-value variable is inserted as is (single quotes doubled),
a multi-value or include-All variable's values are each quoted as a literal and joined
with commas. "All" is the variable's ``allValue`` verbatim when it has one, otherwise
every option's value. Unknown names are left alone, so ``$__timeFilter(...)`` reaches
the macro engine (:mod:`circulo.dashboards.macros`). The panel interval is
``rangeutil.calculateInterval``: the range over the data points, rounded with
``roundInterval``, never below the panel's minimum interval.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from circulo.dashboards.macros import MacroError, TimeRange, parse_interval, unix_seconds

VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
ALL = "$__all"

# roundInterval (@grafana/data rangeutil): (upper bound exclusive, rounded), milliseconds.
ROUNDING_MS = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
    (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000),
    (45000, 30000), (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000),
    (1050000, 900000), (1500000, 1200000), (2700000, 1800000), (5400000, 3600000),
    (9000000, 7200000), (16200000, 10800000), (32400000, 21600000), (86400000, 43200000),
    (604800000, 86400000), (1814400000, 604800000), (3628800000, 2592000000),
)  # fmt: skip
ONE_YEAR_MS = 31536000000


@dataclass(frozen=True)
class Variable:
    """A dashboard variable with its current selection, as the browser holds it."""

    name: str
    selected: tuple[str, ...]
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    options: tuple[str, ...] = ()

    @property
    def all_selected(self) -> bool:
        return ALL in self.selected

    def values(self) -> tuple[str, ...]:
        """The selection with "All" resolved to every option's value."""
        if self.all_selected:
            return tuple(v for v in self.options if v != ALL)
        return self.selected


@dataclass(frozen=True)
class Scope:
    """Everything a panel's SQL is interpolated with: variables, time range and interval."""

    time_range: TimeRange
    variables: Mapping[str, Variable] = field(default_factory=dict)
    interval: timedelta = timedelta(minutes=1)


def quote_literal(value: str) -> str:
    """``quoteLiteral`` of the PostgreSQL query model: single quotes, doubled inside."""
    return "'" + value.replace("'", "''") + "'"


def sql_value(variable: Variable) -> str:
    """``interpolateVariable`` of Grafana's SQL data sources."""
    if variable.all_selected and variable.all_value is not None:
        return variable.all_value
    values = variable.values()
    if variable.multi or variable.include_all:
        return ",".join(quote_literal(v) for v in values)
    return values[0].replace("'", "''") if values else ""


def formatted_value(variable: Variable, fmt: str) -> str:
    """An explicit ``${var:format}`` (the formats a SQL panel uses)."""
    if variable.all_selected and variable.all_value is not None and fmt not in {"text", "percentencode"}:
        return variable.all_value
    values = variable.values()
    formats = {
        "raw": ",".join(values),
        "csv": ",".join(values),
        "text": " + ".join(values),
        "sqlstring": ",".join(quote_literal(v) for v in values),
        "singlequote": ",".join("'" + v.replace("'", "\\'") + "'" for v in values),
        "doublequote": ",".join('"' + v.replace('"', '\\"') + '"' for v in values),
        "pipe": "|".join(values),
    }
    if fmt not in formats:
        raise MacroError(f"unsupported variable format {fmt!r}")
    return formats[fmt]


def builtin_values(scope: Scope) -> dict[str, str]:
    """Grafana's built-in variables a SQL panel may use."""
    interval_ms = scope.interval // timedelta(milliseconds=1)
    return {
        "__from": str(
            unix_seconds(scope.time_range.start) * 1000 + scope.time_range.start.microsecond // 1000
        ),
        "__to": str(unix_seconds(scope.time_range.end) * 1000 + scope.time_range.end.microsecond // 1000),
        "__interval_ms": str(interval_ms),
    }


def interpolate(sql: str, scope: Scope) -> str:
    """``templateSrv.replace(rawSql, scopedVars, interpolateVariable)`` for one panel query."""
    builtins = builtin_values(scope)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name in builtins and not fmt:
            return builtins[name]
        variable = scope.variables.get(name)
        if variable is None:
            return match.group(0)
        return formatted_value(variable, fmt) if fmt else sql_value(variable)

    return VARIABLE.sub(replace, sql)


def round_interval_ms(interval_ms: float) -> int:
    """``roundInterval``: the nearest of Grafana's tidy intervals."""
    return next((rounded for bound, rounded in ROUNDING_MS if interval_ms < bound), ONE_YEAR_MS)


def panel_interval(
    time_range: TimeRange, *, max_data_points: int, min_interval: str | None = None
) -> timedelta:
    """``calculateInterval``: range / data points, rounded, not below the minimum interval."""
    span_ms = (time_range.end - time_range.start) / timedelta(milliseconds=1)
    interval_ms = round_interval_ms(span_ms / max_data_points)
    if min_interval:
        interval_ms = max(interval_ms, parse_interval(min_interval) // timedelta(milliseconds=1))
    return timedelta(milliseconds=interval_ms)
