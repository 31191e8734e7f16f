"""`circulo quarantine`: rejected messages — list and replay (SPEC §3, §7)."""

from __future__ import annotations

import click

from circulo.cli.common import CliContext, echo_json, one_line_errors, pass_cli
from circulo.ingest.daemon import limits_of
from circulo.ingest.replay import list_quarantine, replay
from circulo.ingest.settings import IngestSettings
from circulo.settings import load_settings
from circulo.store.db import connect
from circulo_schemas.errors import REASONS

reason_option = click.option("--reason", type=click.Choice(REASONS), help="Only this reason code.")
device_option = click.option("--device", help="Only messages of this device id.")


@click.group(name="quarantine")
def command() -> None:
    """Rejected messages: list and replay."""


@command.command(name="list")
@reason_option
@device_option
@click.option("--pending", is_flag=True, help="Only messages not replayed into the data yet.")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (SPEC §8).")
@pass_cli
@one_line_errors
def list_command(
    ctx: CliContext, reason: str | None, device: str | None, pending: bool, limit: int, as_json: bool
) -> None:
    """List quarantined messages, newest first."""
    with connect(ctx.common().database_url) as conn:
        found = list_quarantine(conn, reason=reason, device=device, pending=pending, limit=limit)
    if as_json:
        echo_json([q.as_json() for q in found])
        return
    if not found:
        click.echo("quarantine is empty" if not (reason or device or pending) else "no matching messages")
    for q in found:
        state = f" [replayed: {q.replay_outcome}]" if q.replayed_at else ""
        click.echo(
            f"{q.id:>8}  {q.received_at:%Y-%m-%d %H:%M:%S}Z  {q.reason:<14} {q.topic}  {q.detail}{state}"
        )


@command.command(name="replay")
@reason_option
@device_option
@click.option("--id", "ids", type=int, multiple=True, help="Only these quarantine ids (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
@one_line_errors
def replay_command(
    ctx: CliContext, reason: str | None, device: str | None, ids: tuple[int, ...], as_json: bool
) -> None:
    """Re-run pending quarantined messages against the current registry."""
    settings = load_settings(IngestSettings, flags=ctx.flags(), config_file=ctx.config_file, section="ingest")
    with connect(settings.database_url, application_name="circulo-quarantine-replay") as conn:
        report = replay(conn, limits_of(settings), reason=reason, device=device, ids=ids or None)
    if as_json:
        echo_json(report.as_json())
        return
    still = ", ".join(f"{n} {r}" for r, n in report.still_quarantined.most_common()) or "none"
    click.echo(
        f"replayed {report.examined}: {report.stored} stored, {report.duplicate} duplicate, "
        f"{report.ignored} ignored; "
        f"still quarantined: {still}"
    )
