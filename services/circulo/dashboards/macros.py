"""A Python port of Grafana's PostgreSQL macro expansion (Grafana 11.6 back end).

Grafana expands the macros of a SQL panel on the server, after the browser has
interpolated the dashboard variables (:mod:`circulo.dashboards.templating`):

1. ``sqleng.Interpolate``: ``$__interval_ms``, ``$__interval``, ``$__unixEpochFrom()``,
   ``$__unixEpochTo()`` by plain string replacement, in that order;
2. ``postgresMacroEngine.Interpolate`` (``pkg/tsdb/grafana-postgresql-datasource/
   macros.go``): every ``$name(args)`` through one regular expression, ``$__timeGroup``
   becoming ``time_bucket`` when the data source has TimescaleDB mode on.

Formats follow Go's: times in ``time.RFC3339Nano`` (UTC, trailing zeros of the fraction
dropped), interval seconds with ``%v`` (shortest form, exponent from 1e6 on) or
``%.3f`` for ``time_bucket``. The expected strings of Grafana's own ``macros_test.go``
are the table test in ``tests/dashboards/test_macros.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from circulo.errors import CirculoError

MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
GO_DURATION_PART = re.compile(r"(\d*\.?\d*)(ns|us|µs|ms|s|m|h)")
DATE_UNIT = re.compile(r"^(\d+)([dwMy])$")
GO_UNITS = {
    "ns": timedelta(microseconds=0.001),
    "us": timedelta(microseconds=1),
    "µs": timedelta(microseconds=1),
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
}
# gtime.FormatInterval: the largest unit that fits, truncated.
FORMAT_UNITS = (
    ("y", timedelta(days=365)),
    ("d", timedelta(days=1)),
    ("h", timedelta(hours=1)),
    ("m", timedelta(minutes=1)),
    ("s", timedelta(seconds=1)),
    ("ms", timedelta(milliseconds=1)),
)


class MacroError(CirculoError):
    """A macro Grafana would refuse (unknown name, missing argument, bad interval)."""


@dataclass(frozen=True)
class TimeRange:
    """The dashboard's time range, as Grafana hands it to the data source."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise MacroError("time range bounds must be timezone-aware")


def rfc3339_nano(moment: datetime) -> str:
    """Go's ``time.RFC3339Nano`` of the UTC time: fraction without trailing zeros, ``Z``."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def unix_seconds(moment: datetime) -> int:
    """Go's ``Time.Unix()``: whole seconds, rounded toward minus infinity."""
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1))


def unix_nanos(moment: datetime) -> int:
    """Go's ``Time.UnixNano()`` (Python times carry microseconds)."""
    return ((moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)) * 1000


def go_float(value: float) -> str:
    """Go's ``%v`` of a float64: shortest digits, ``e+06`` notation from exponent 6 or below -4."""
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    if not isinstance(exponent, int):  # NaN or infinity: never an interval
        raise MacroError(f"not a finite interval: {value}")
    text = "".join(str(d) for d in digits)
    point = len(text) + exponent  # position of the decimal point in the digit string
    exp10 = point - 1
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


def parse_go_duration(text: str) -> timedelta:
    """Go's ``time.ParseDuration`` for the non-negative values Grafana accepts."""
    position, total = 0, timedelta()
    if not text:
        raise MacroError("error parsing interval ''")
    while position < len(text):
        part = GO_DURATION_PART.match(text, position)
        if part is None or part.group(1) in {"", "."}:
            raise MacroError(f"error parsing interval {text}")
        total += GO_UNITS[part.group(2)] * float(part.group(1))
        position = part.end()
    return total


def parse_interval(text: str, *, now: datetime | None = None) -> timedelta:
    """``gtime.ParseInterval``: ``5m``, ``20ms``, ``12d``, ``1w``; months and years from now (UTC)."""
    unit = DATE_UNIT.match(text)
    if unit is None:
        return parse_go_duration(text)
    count, period = int(unit.group(1)), unit.group(2)
    if period in {"d", "w"}:
        return timedelta(days=count * (7 if period == "w" else 1))
    start = (now or datetime.now(UTC)).astimezone(UTC)
    months = count * (12 if period == "y" else 1)
    year, month = divmod(start.month - 1 + months, 12)
    try:
        later = start.replace(year=start.year + year, month=month + 1)
    except ValueError:  # Go normalises 31 Feb to 3 Mar; rare enough to clamp to the 28th
        later = start.replace(year=start.year + year, month=month + 1, day=28)
    return later - start


def format_interval(interval: timedelta) -> str:
    """``gtime.FormatInterval``: the interval in its largest whole unit (``10m``, ``2h``, ``1ms``)."""
    for suffix, unit in FORMAT_UNITS:
        if interval >= unit:
            return f"{interval // unit}{suffix}"
    return "1ms"


def interpolate_globals(sql: str, time_range: TimeRange, interval: timedelta) -> str:
    """``sqleng.Interpolate``: the interval and unix-epoch bounds, replaced as plain strings."""
    interval_ms = interval // timedelta(milliseconds=1)
    sql = sql.replace("$__interval_ms", str(interval_ms))
    sql = sql.replace("$__interval", format_interval(interval))
    sql = sql.replace("$__unixEpochFrom()", str(unix_seconds(time_range.start)))
    return sql.replace("$__unixEpochTo()", str(unix_seconds(time_range.end)))


@dataclass(frozen=True)
class MacroEngine:
    """The PostgreSQL macro engine; ``timescaledb`` is the data source's TimescaleDB switch."""

    timescaledb: bool

    def interpolate(self, sql: str, time_range: TimeRange) -> str:
        """Expand every ``$__macro(args)`` as Grafana's ``postgresMacroEngine.Interpolate`` does."""

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "__timeGroup":
                # pre-5.3 compatibility: a ',' right after the first occurrence means an alias
                index = sql.find(match.group(0))
                after = index + len(match.group(0))
                if index >= 0 and after < len(sql) and sql[after] == ",":
                    name = "__timeGroupAlias"
            args = [arg.strip(" ") for arg in match.group(2).split(",")]
            return self.evaluate(name, args, time_range)

        return MACRO.sub(replace, sql)

    def evaluate(self, name: str, args: list[str], time_range: TimeRange) -> str:
        """One macro; the error messages are Grafana's."""
        column = args[0] if args and args[0] else ""
        needs_column = {"__time", "__timeEpoch", "__timeFilter", "__unixEpochFilter", "__unixEpochNanoFilter"}
        if name in needs_column and not column:
            raise MacroError(f"missing time column argument for macro {name}")
        simple = self.simple_macros(column, time_range)
        if name in simple:
            return simple[name]
        if name in {"__timeGroup", "__timeGroupAlias", "__unixEpochGroup", "__unixEpochGroupAlias"}:
            return self.group(name, args)
        raise MacroError(f'unknown macro "{name}"')

    @staticmethod
    def simple_macros(column: str, time_range: TimeRange) -> dict[str, str]:
        """The macros that need only the column and the time range."""
        start, end = time_range.start, time_range.end
        return {
            "__time": f'{column} AS "time"',
            "__timeEpoch": f'extract(epoch from {column}) as "time"',
            "__timeFilter": f"{column} BETWEEN '{rfc3339_nano(start)}' AND '{rfc3339_nano(end)}'",
            "__timeFrom": f"'{rfc3339_nano(start)}'",
            "__timeTo": f"'{rfc3339_nano(end)}'",
            "__unixEpochFilter": f"{column} >= {unix_seconds(start)} AND {column} <= {unix_seconds(end)}",
            "__unixEpochNanoFilter": f"{column} >= {unix_nanos(start)} AND {column} <= {unix_nanos(end)}",
            "__unixEpochNanoFrom": str(unix_nanos(start)),
            "__unixEpochNanoTo": str(unix_nanos(end)),
        }

    def group(self, name: str, args: list[str]) -> str:
        """``$__timeGroup`` / ``$__unixEpochGroup`` and their ``Alias`` forms (fill modes are ignored)."""
        if len(args) < 2:
            base = name.removesuffix("Alias")
            raise MacroError(f"macro {base} needs time column and interval and optional fill value")
        try:
            seconds = parse_interval(args[1].strip("'")).total_seconds()
        except MacroError as e:
            raise MacroError(f"error parsing interval {args[1]}") from e
        if name.startswith("__unixEpoch"):
            expression = f"floor(({args[0]})/{go_float(seconds)})*{go_float(seconds)}"
        elif self.timescaledb:
            expression = f"time_bucket('{seconds:.3f}s',{args[0]})"
        else:
            expression = f"floor(extract(epoch from {args[0]})/{go_float(seconds)})*{go_float(seconds)}"
        return expression + (' AS "time"' if name.endswith("Alias") else "")


def expand(sql: str, time_range: TimeRange, *, interval: timedelta, timescaledb: bool = True) -> str:
    """What the data source runs: globals first, then the macro engine (Grafana's order)."""
    return MacroEngine(timescaledb).interpolate(interpolate_globals(sql, time_range, interval), time_range)
