"""`circulo dashboards`: Grafana dashboards as code: build, push, refresh rollups, retention."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import click
from pydantic import ConfigDict

from circulo.cli.common import CliContext, echo_json, one_line_errors, pass_cli, setup_logging
from circulo.dashboards import build as builder
from circulo.dashboards.push import DatabaseAccess, push
from circulo.dashboards.retention import apply_retention, parse_older_than
from circulo.dashboards.rollups import refresh_rollups
from circulo.errors import CirculoError, ConfigError
from circulo.settings import CommonSettings, load_settings
from circulo.store.db import connect


class DashboardsSettings(CommonSettings):
    """Where Grafana is and how its data source reaches the database (``[dashboards]``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grafana_url: str = "http://localhost:3000"
    grafana_token: str | None = None
    grafana_db_host: str = "timescaledb:5432"
    grafana_db_name: str = "circulo"
    grafana_db_user: str = "grafana_reader"
    grafana_db_password: str | None = None
    grafana_db_sslmode: str = "disable"


def settings_from(ctx: CliContext, **flags: object) -> DashboardsSettings:
    """Flags > environment (CIRCULO_GRAFANA_URL, …) > config file ``[dashboards]`` > defaults."""
    return load_settings(
        DashboardsSettings, flags=ctx.flags(**flags), config_file=ctx.config_file, section="dashboards"
    )


@click.group(name="dashboards")
def command() -> None:
    """Grafana dashboards as code: build, push, refresh rollups, retention."""


@command.command(name="build")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=builder.DEFAULT_OUT_DIR,
    show_default=True,
    help="Where the JSON files go.",
)
@click.option(
    "--alerts-out",
    "alerts_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=builder.DEFAULT_ALERTS_DIR,
    show_default=True,
    help="Where the alerting provisioning files go.",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a file is stale.")
@one_line_errors
def build_command(out_dir: Path, alerts_dir: Path, check: bool) -> None:
    """Write every dashboard's JSON and the alert rules, contact points and policies."""
    if check:
        stale = builder.stale_files(out_dir, alerts_dir)
        if stale:
            raise CirculoError(f"stale files: {', '.join(stale)} (run circulo dashboards build)")
        click.echo(f"{len(builder.BOARDS)} dashboards up to date in {out_dir}, alerting in {alerts_dir}")
        return
    written = builder.write_all(out_dir, alerts_dir)
    click.echo(f"{len(written)} files written to {out_dir} and {alerts_dir}")


@command.command(name="refresh")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
    help="Recompute from this receipt time instead of the last refresh.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
@one_line_errors
def refresh_command(ctx: CliContext, since: datetime | None, as_json: bool) -> None:
    """Bring the rollup tables up to date (incremental; safe to repeat)."""
    if since is not None and since.tzinfo is None:
        raise ConfigError("--since: give a UTC offset, e.g. 2026-06-01T00:00:00+0000")
    setup_logging(ctx)
    with connect(ctx.common().database_url, application_name="circulo-dashboards") as conn:
        report = refresh_rollups(conn, since=since)
    if as_json:
        echo_json(asdict(report))
    else:
        click.echo(f"rollups refreshed up to {report.until.isoformat()}: {report.meters} meters, "
                   f"{report.meter_hours} meter hours, {report.bin_hours} bin hours, "
                   f"{report.ingest_minutes} ingest minutes ({report.edition} edition)")  # fmt: skip


@command.command(name="retention")
@click.option("--older-than", "older_than", required=True, help="Horizon, e.g. 90d (at least 31d).")
@click.option("--dry-run", is_flag=True, help="List the chunks that would go; drop nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
@one_line_errors
def retention_command(ctx: CliContext, older_than: str, dry_run: bool, as_json: bool) -> None:
    """Drop raw chunks past the horizon, never data unsettled or not yet rolled up."""
    horizon = parse_older_than(older_than)
    setup_logging(ctx)
    with connect(ctx.common().database_url, application_name="circulo-retention") as conn:
        report = apply_retention(conn, horizon, dry_run=dry_run)
    if as_json:
        echo_json(asdict(report))
        return
    verb = "would drop" if dry_run else "dropped"
    for table in report.tables:
        click.echo(f"{table.table}: {verb} {len(table.chunks)} chunks before {table.cutoff.isoformat()} "
                   f"(held by {table.held_by})")  # fmt: skip


@command.command(name="push")
@click.option("--url", help="Grafana URL [env CIRCULO_GRAFANA_URL].")
@click.option("--token", help="Service-account token [env CIRCULO_GRAFANA_TOKEN].")
@click.option("--rotate-password", is_flag=True, help="Also send the data source password again.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_cli
@one_line_errors
def push_command(
    ctx: CliContext, url: str | None, token: str | None, rotate_password: bool, as_json: bool
) -> None:
    """Create or update the Circulo folder, data source and dashboards (a second push changes nothing)."""
    settings = settings_from(ctx, grafana_url=url, grafana_token=token)
    if not settings.grafana_token:
        raise ConfigError("grafana_token: give --token or CIRCULO_GRAFANA_TOKEN (a service-account token)")
    if not settings.grafana_db_password:
        raise ConfigError("grafana_db_password: set CIRCULO_GRAFANA_DB_PASSWORD (the read-only role's)")
    access = DatabaseAccess(settings.grafana_db_host, settings.grafana_db_name, settings.grafana_db_user,
                            settings.grafana_db_password, settings.grafana_db_sslmode)  # fmt: skip
    report = push(settings.grafana_url, settings.grafana_token, access, rotate_password=rotate_password)
    if as_json:
        echo_json(asdict(report))
    else:
        click.echo(f"created {len(report.created)}, updated {len(report.updated)}, "
                   f"unchanged {len(report.unchanged)}")  # fmt: skip
