"""`circulo monitor run`: sample the co-ops' message counters and the broker's queue for the alerts."""

from __future__ import annotations

import click

from circulo.cli.common import CliContext, one_line_errors, pass_cli, setup_logging
from circulo.monitor.daemon import run_monitor
from circulo.monitor.settings import MonitorSettings
from circulo.settings import load_settings


@click.group(name="monitor")
def command() -> None:
    """Samples the alert rules need: co-ops' message counters, the broker's queue depth."""


@command.command(name="run")
@click.option("--interval-s", type=float, help="Seconds between samples (default 60).")
@click.option(
    "--once", is_flag=True, help="Write one sample (after the broker's counters arrived), then exit."
)
@pass_cli
@one_line_errors
def run_command(ctx: CliContext, interval_s: float | None, once: bool) -> None:
    """Run the monitor daemon (its broker account needs a role that may read $SYS/broker/#)."""
    settings = load_settings(
        MonitorSettings,
        flags=ctx.flags(interval_s=interval_s),
        config_file=ctx.config_file,
        section="monitor",
    )
    setup_logging(ctx)
    run_monitor(settings, once=once)
