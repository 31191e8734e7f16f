"""`circulo repairs export --format ords`: repairs as Open Repair Data Standard v0.3 CSV (SPEC §12)."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import click
import psycopg

from circulo.cli.common import CliContext, one_line_errors, pass_cli
from circulo.errors import ConfigError, ServiceUnavailable
from circulo.opendata.export import ExportRequest, ords_csv, write_atomically
from circulo.store.db import connect, first_line


def parse_date(value: str | None, name: str) -> date | None:
    """A ``YYYY-MM-DD`` option as a date."""
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()  # noqa: DTZ007 (a date, no time or zone)
    except ValueError as e:
        raise ConfigError(f"--{name} {value!r} is not a date YYYY-MM-DD") from e


@click.group(name="repairs")
def command() -> None:
    """Repair events as open data."""


@command.command(name="export")
@click.option("--format", "export_format", type=click.Choice(["ords"]), required=True, help="Output format.")
@click.option("--from", "from_text", metavar="YYYY-MM-DD", help="First event date (UTC), inclusive.")
@click.option("--to", "to_text", metavar="YYYY-MM-DD", help="Last event date (UTC), inclusive.")
@click.option("--coop", "coop_id", help="Only this co-op's repair stations [default: every co-op].")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file [default: stdout]."
)
@pass_cli
@one_line_errors
def export(
    ctx: CliContext,
    export_format: str,
    from_text: str | None,
    to_text: str | None,
    coop_id: str | None,
    out: Path | None,
) -> None:
    """Write ORDS v0.3 CSV: no owner or repairer, the problem only where the co-op opted in."""
    request = ExportRequest(coop_id, parse_date(from_text, "from"), parse_date(to_text, "to"))
    if request.from_date and request.to_date and request.from_date > request.to_date:
        raise ConfigError(f"--from {from_text} is after --to {to_text}")
    try:
        with connect(ctx.common().database_url, application_name="circulo-opendata") as conn:
            text, rows = ords_csv(conn, request)
    except psycopg.Error as e:
        raise ServiceUnavailable(f"database: {first_line(e)}") from e
    if out is None:
        sys.stdout.write(text)
        return
    write_atomically(out, text)
    click.echo(f"{rows} repairs written to {out} (ORDS v0.3, {export_format})", err=True)
