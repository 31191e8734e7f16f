"""`circulo audit list`: the operator audit trail (who ran which registry or ledger command)."""

from __future__ import annotations

from datetime import datetime

import click
import psycopg

from circulo.audit import trail
from circulo.cli.common import CliContext, echo_json, one_line_errors, pass_cli
from circulo.errors import ConfigError, ServiceUnavailable
from circulo.store.db import connect, first_line


@click.group(name="audit")
def command() -> None:
    """The operator audit trail: every registry and ledger command, who ran it, from where."""


@command.command(name="list")
@click.option(
    "--command", "command_name", help="Only this command or group, e.g. 'device retire' or 'device'."
)
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
              help="Only commands started at or after this time (give a UTC offset).")  # fmt: skip
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most this many."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
@one_line_errors
def list_command(
    ctx: CliContext, command_name: str | None, since: datetime | None, limit: int, as_json: bool
) -> None:
    """Recorded commands, newest first, with who ran them, from where, and how they ended."""
    if since is not None and since.tzinfo is None:
        raise ConfigError("--since: give a UTC offset, e.g. 2026-06-01T00:00:00+0000, or a date")
    with connect(ctx.common().database_url, application_name="circulo-audit") as conn:
        try:
            entries = trail.list_entries(conn, command=command_name, since=since, limit=limit)
        except psycopg.Error as e:
            raise ServiceUnavailable(f"database: {first_line(e)}") from e
    if as_json:
        echo_json([entry.as_dict() for entry in entries])
        return
    for entry in entries:
        who = entry.operator or entry.os_user
        if entry.sudo_user:
            who += f" (sudo by {entry.sudo_user})"
        outcome = entry.outcome or "interrupted"
        if entry.detail:
            outcome += f": {entry.detail}"
        click.echo(f"{entry.started_at.isoformat()}  {who}@{entry.host}  db:{entry.db_user}  "
                   f"{entry.command}  {trail.arguments_text(entry.arguments)}  -> {outcome}")  # fmt: skip
