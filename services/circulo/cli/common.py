"""Shared pieces of the thin command line: connection options, JSON output, one-line errors."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from circulo.errors import CirculoError
from circulo.logs import configure_logging
from circulo.settings import CommonSettings, load_settings
from circulo_sim.errors import SimError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class CliContext:
    """What the root command parsed: the config file and the shared connection flags."""

    config_file: str | None
    database_url: str | None
    mqtt_url: str | None
    log_level: str | None

    def flags(self, **extra: Any) -> dict[str, Any]:
        """The connection flags plus a command's own, for :func:`circulo.settings.load_settings`."""
        return {
            "database_url": self.database_url,
            "mqtt_url": self.mqtt_url,
            "log_level": self.log_level,
            **extra,
        }

    def common(self) -> CommonSettings:
        """The shared connection settings, resolved from flags, environment and config file."""
        return load_settings(CommonSettings, flags=self.flags(), config_file=self.config_file)


pass_cli = click.make_pass_decorator(CliContext)


def json_default(value: Any) -> Any:
    """Encode the types Circulo's read commands return."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def echo_json(value: Any) -> None:
    """Print one JSON document on stdout."""
    click.echo(json.dumps(value, default=json_default, ensure_ascii=False, indent=2))


def one_line_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a CirculoError (or the simulator's SimError) into ``error: message`` and its exit status."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (CirculoError, SimError) as e:
            click.echo(f"error: {e.message}", err=True)
            sys.exit(e.exit_code)

    return wrapper


def setup_logging(ctx: CliContext, *, json_lines: bool | None = None) -> None:
    """Configure structured logging at the level the settings give."""
    configure_logging(level=ctx.common().log_level, json_lines=json_lines)


MICRO = 1_000_000
MAX_SAFE_MICRO = 2**53 - 1


class TokenAmount(click.ParamType[int]):
    """An amount of GRN or RCY in whole units with at most 6 decimals (``1.5``), as integer µ."""

    name = "amount"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """``"1.5"`` → 1500000; refuses zero, negatives, more than 6 decimals and beyond 2^53 − 1 µ."""
        if isinstance(value, int):
            return value
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            self.fail(f"{value!r} is not a number", param, ctx)
        if not amount.is_finite() or amount <= 0:
            self.fail(f"{value!r}: an amount is greater than 0", param, ctx)
        micro = amount.scaleb(6)
        if micro != micro.to_integral_value():
            self.fail(f"{value!r}: at most 6 decimals (1 µ = 0.000001)", param, ctx)
        if micro > MAX_SAFE_MICRO:
            self.fail(f"{value!r}: at most {MAX_SAFE_MICRO} µ", param, ctx)
        return int(micro)


TOKEN_AMOUNT = TokenAmount()


def micro_units(amount: int) -> str:
    """An amount of µ as whole units with six decimals (display only)."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // MICRO}.{abs(amount) % MICRO:06d}"
