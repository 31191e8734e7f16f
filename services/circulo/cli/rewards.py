"""`circulo rewards`: the rewards engine (run, flags, policy)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import psycopg

from circulo.cli.common import CliContext, echo_json, micro_units, one_line_errors, pass_cli, setup_logging
from circulo.dashboards.rollups import refresh_rollups
from circulo.errors import ConfigError, ServiceUnavailable
from circulo.ledger.entries import format_ts
from circulo.rewards.daemon import run_daemon
from circulo.rewards.engine import CycleReport, EngineHooks, run_cycle
from circulo.rewards.flags import FLAGS, list_flags
from circulo.rewards.policy import load_policy
from circulo.rewards.settings import RewardsSettings
from circulo.settings import load_settings
from circulo.store.db import connect, first_line

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
policy_option = click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Rewards policy TOML [env CIRCULO_POLICY_PATH; default: the packaged rewards-policy-v2].",
)


@click.group(name="rewards")
def command() -> None:
    """The rewards engine: run, flags, policy."""


def rewards_settings(ctx: CliContext, **flags: Any) -> RewardsSettings:
    """The engine's settings from flags, environment and config file (``[rewards]``)."""
    return load_settings(
        RewardsSettings, flags=ctx.flags(**flags), config_file=ctx.config_file, section="rewards"
    )


def engine_hooks() -> EngineHooks:
    """Cross-cutting work wired into every engine this command starts: after each cycle's
    settlements, the dashboards' rollups catch up to the watermark."""
    return EngineHooks(refresh_rollups=refresh_rollups)


@contextlib.contextmanager
def database(settings: RewardsSettings) -> Iterator[psycopg.Connection]:
    """A read connection whose database errors become one-line Circulo errors."""
    with connect(settings.database_url, application_name="circulo-rewards-cli") as conn:
        try:
            yield conn
        except psycopg.Error as e:
            raise ServiceUnavailable(f"database: {first_line(e)}") from e


@command.command()
@click.option("--once", is_flag=True, help="Run one cycle and exit.")
@click.option("--drain", is_flag=True, help="With --once: treat every meter as done; settle all received.")
@click.option("--interval", "interval_s", type=float, help="Seconds between cycles (default 10).")
@click.option(
    "--metrics-port", type=int, help="Port of /metrics and /healthz; 0 turns them off (default 9109)."
)
@policy_option
@click.option(
    "--key",
    "signing_key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ledger signing key [env CIRCULO_SIGNING_KEY_PATH; default as circulo ledger keygen].",
)
@json_option
@pass_cli
@one_line_errors
def run(
    ctx: CliContext,
    once: bool,
    drain: bool,
    interval_s: float | None,
    metrics_port: int | None,
    policy_path: Path | None,
    signing_key_path: Path | None,
    as_json: bool,
) -> None:
    """Run the rewards daemon (SIGTERM finishes the cycle and exits 0), or one cycle with --once."""
    if drain and not once:
        raise ConfigError("--drain needs --once (a daemon never treats every meter as done)")
    settings = rewards_settings(
        ctx,
        interval_s=interval_s,
        metrics_port=metrics_port,
        policy_path=policy_path,
        signing_key_path=signing_key_path,
    )
    setup_logging(ctx, json_lines=None if once else True)
    if not once:
        run_daemon(settings, hooks=engine_hooks())
        return
    report = run_cycle(settings, drain=drain, hooks=engine_hooks())
    if as_json:
        echo_json(report_dict(report))
    else:
        click.echo(report_line(report))


def report_dict(report: CycleReport) -> dict[str, Any]:
    """A cycle report as JSON."""
    return {
        "watermark": format_ts(report.watermark) if report.watermark else None,
        "drain": report.drain,
        "settlements": dict(report.settlements),
        "mints": dict(report.mints),
        "minted_micro": dict(report.minted_micro),
        "flags": dict(report.flags),
        "conflicts": report.conflicts,
        "duration_s": round(report.duration_s, 3),
    }


def report_line(report: CycleReport) -> str:
    """A cycle report as one human line."""
    minted = ", ".join(
        f"{micro / 1_000_000:.6f} {token}" for token, micro in sorted(report.minted_micro.items())
    )
    flags = sum(report.flags.values())
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(report.settlements.items())) or "-"
    return (
        f"settled {report.settled} ({kinds}); "
        f"minted {minted or 'nothing'}; {flags} flagged; {report.conflicts} conflicts; "
        f"{report.duration_s:.2f} s"
    )


@command.command()
@click.option("--flag", type=click.Choice(FLAGS), help="Only this flag.")
@click.option("--device", "device_id", help="Only this device.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), help="UTC.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many.")
@json_option
@pass_cli
@one_line_errors
def flags(
    ctx: CliContext,
    flag: str | None,
    device_id: str | None,
    since: datetime | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """What was excluded from rewards, and why."""
    settings = rewards_settings(ctx)
    since_utc = since.replace(tzinfo=UTC) if since else None
    with database(settings) as conn:
        rows = list_flags(conn, flag=flag, device_id=device_id, since=since_utc, limit=limit)
    if as_json:
        echo_json([row.to_dict() for row in rows])
        return
    if not rows:
        click.echo("no flags")
    for row in rows:
        excluded = f" ({micro_units(row.excluded_micro)} {row.token} withheld)" if row.excluded_micro else ""
        about = row.device_id or row.account
        click.echo(f"{format_ts(row.ts)}  {row.flag:<18} {about:<16} {row.detail}{excluded}")


@command.command()
@policy_option
@json_option
@pass_cli
@one_line_errors
def policy(ctx: CliContext, policy_path: Path | None, as_json: bool) -> None:
    """Show the policy the engine would use (validated)."""
    settings = rewards_settings(ctx, policy_path=policy_path)
    loaded = load_policy(settings.policy_path)
    data = loaded.model_dump(mode="json")
    if as_json:
        echo_json(data)
        return
    click.echo(f"policy {loaded.version} ({settings.policy_path or 'packaged default'})")
    for section in ("green", "recycling", "repair"):
        for key, value in data[section].items():
            click.echo(f"  {section}.{key} = {value}")
