"""The audit hook: ``@audited(section)`` records an operator command in the audit trail.

A concern of its own, kept out of the commands (STYLE: cross-cutting concerns as hooks):
the decorator writes the invocation before the command body runs — a command that cannot
be recorded does not run — and its outcome afterwards. Stack it under ``@one_line_errors``
so it sees the command's own errors::

    @device.command(name="retire")
    ...
    @pass_cli
    @one_line_errors
    @audited("registry")
    def device_retire(ctx: CliContext, device_id: str, as_json: bool) -> None: ...

Ledger moves, treasury dividends and governance commands use it too (section ``ledger``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import click

from circulo.audit import trail
from circulo.cli.common import CliContext
from circulo.errors import CirculoError
from circulo.settings import CommonSettings, load_settings

P = ParamSpec("P")
R = TypeVar("R")
# click context meta key under which a command finds its own invocation (e.g. to name it in an archive)
INVOCATION_META = "circulo.audit.invocation"


class AuditSettings(CommonSettings):
    """The database the command uses (its own section's) and the operator's name (``operator``)."""

    operator: str | None = None


def audit_settings(click_ctx: click.Context, section: str) -> AuditSettings:
    """Settings resolved as the command resolves its own (flags > environment > config section)."""
    cli_ctx = click_ctx.find_object(CliContext)
    flags = cli_ctx.flags() if cli_ctx else {}
    config_file = cli_ctx.config_file if cli_ctx else None
    return load_settings(AuditSettings, flags=flags, config_file=config_file, section=section)


def command_name(click_ctx: click.Context) -> str:
    """``device retire`` from ``circulo device retire`` (whatever the program was called)."""
    return " ".join(click_ctx.command_path.split()[1:]) or click_ctx.command_path


def audited(
    section: str, *, when: Callable[[Mapping[str, Any]], bool] | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Record the decorated command (only when ``when(params)`` holds, if given)."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            click_ctx = click.get_current_context()
            if when is not None and not when(click_ctx.params):
                return func(*args, **kwargs)
            settings = audit_settings(click_ctx, section)
            invocation = trail.Invocation.here(command_name(click_ctx), click_ctx.params, settings.operator)
            trail.record_start(settings.database_url, invocation)
            click_ctx.meta[INVOCATION_META] = invocation
            return run_recorded(func, settings.database_url, invocation, *args, **kwargs)

        return wrapper

    return decorate


def run_recorded(
    func: Callable[P, R], database_url: str, invocation: trail.Invocation, *args: P.args, **kwargs: P.kwargs
) -> R:
    """Run the command and record how it ended; the command's own result or error wins."""
    try:
        result = func(*args, **kwargs)
    except CirculoError as e:
        finish(database_url, invocation, "error", e.message)
        raise
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        finish(database_url, invocation, "ok" if code == 0 else "error", "" if code == 0 else f"exit {code}")
        raise
    except BaseException as e:
        finish(database_url, invocation, "error", f"{type(e).__name__}: {e}")
        raise
    finish(database_url, invocation, "ok")
    return result


def finish(database_url: str, invocation: trail.Invocation, outcome: str, detail: str = "") -> None:
    """Record the outcome; if that fails the command has already acted, so warn rather than fail."""
    try:
        trail.record_outcome(database_url, invocation, outcome, detail)
    except CirculoError as e:
        click.echo(f"warning: {e.message} (invocation {invocation.invocation})", err=True)
