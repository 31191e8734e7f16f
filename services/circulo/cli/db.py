"""`circulo db`: schema migrations."""

from __future__ import annotations

import click

from circulo.cli.common import CliContext, echo_json, one_line_errors, pass_cli
from circulo.store import migrate


@click.group(name="db")
def command() -> None:
    """Database schema: upgrade, status."""


@command.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_cli
@one_line_errors
def upgrade(ctx: CliContext, revision: str) -> None:
    """Apply schema migrations (forward-only; a no-op when already current)."""
    before, after = migrate.upgrade(ctx.common().database_url, revision)
    if before == after:
        click.echo(f"database already at revision {after}")
    else:
        click.echo(f"database upgraded: {before or 'empty'} -> {after}")


@command.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
@one_line_errors
def status(ctx: CliContext, as_json: bool) -> None:
    """Show the database's revision and the newest this Circulo knows."""
    current = migrate.current_revision(ctx.common().database_url)
    head = migrate.head_revision()
    if as_json:
        echo_json({"current": current, "head": head, "up_to_date": current == head})
    else:
        click.echo(f"current: {current or 'empty'}  head: {head}")
