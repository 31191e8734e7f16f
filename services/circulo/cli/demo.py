"""`circulo demo`: the main job on an embedded local stack (SPEC §7).

A simulated co-op for a simulated day (the previous UTC day): the local stack, the
registry's provisioning, the real ingest and rewards daemons and the simulator, a live
progress view, every hour settled, the ledger verified, a summary and an HTML report.
See docs/demo.md.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from circulo.cli.common import one_line_errors
from circulo.demo.options import (
    FULL_DAY_HOURS,
    MAX_FAULT_SCALE,
    MEMBER_NAMES,
    DemoOptions,
    FleetSize,
    scaled_fault_rates,
)
from circulo.demo.paths import DemoPaths, default_state_dir
from circulo.demo.run import Console, run_demo
from circulo.demo.stack import down
from circulo.demo.summary import DemoSummary
from circulo.demo.text import render_summary
from circulo.errors import CirculoError
from circulo.logs import configure_logging

INTERRUPTED = 130


@click.command(name="demo")
@click.option(
    "--dir",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="State folder: cluster, broker, config, logs, report [default: var/demo in the repository].",
)
@click.option(
    "--hours",
    type=click.IntRange(1, FULL_DAY_HOURS),
    default=FULL_DAY_HOURS,
    show_default=True,
    help="Simulate this many hours of the previous UTC day (fewer: centred on midday).",
)
@click.option(
    "--day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The UTC day to simulate [default: yesterday, or the Saturday before when yesterday was a Sunday].",
)
@click.option(
    "--day-minutes",
    type=click.FloatRange(min=0, min_open=True),
    help="Replay the period in this many wall-clock minutes [default: as fast as the broker takes it].",
)
@click.option("--meters", type=click.IntRange(min=0), default=40, show_default=True)
@click.option("--bins", type=click.IntRange(min=0), default=15, show_default=True)
@click.option("--repairs", type=click.IntRange(min=0), default=3, show_default=True)
@click.option(
    "--shelly",
    type=click.IntRange(min=0),
    help="Of the meters, how many run Shelly Gen2+ firmware [default: 3 of 40, 1 of a small fleet].",
)
@click.option(
    "--tasmota",
    type=click.IntRange(min=0),
    help="Of the meters, how many run Tasmota firmware [default: 2 of 40, 1 of a small fleet].",
)
@click.option(
    "--members",
    type=click.IntRange(1, len(MEMBER_NAMES)),
    default=12,
    show_default=True,
    help="Co-op members.",
)
@click.option("--seed", type=int, default=2024, show_default=True, help="Same seed, same day.")
@click.option(
    "--faults",
    "fault_scale",
    type=click.FloatRange(0, MAX_FAULT_SCALE),
    default=1.0,
    show_default=True,
    help="Scale the simulator's default fault rates (0 switches faults off; 10 for a short day).",
)
@click.option("--keep", is_flag=True, help="Leave the stack running afterwards, to explore it.")
@click.option("--down", "stop", is_flag=True, help="Stop a stack left running by --keep, and exit.")
@click.option(
    "--json-summary",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the summary as JSON here (it is always in the state folder as summary.json).",
)
@one_line_errors
def command(
    state_dir: Path | None,
    hours: int,
    day: datetime | None,
    day_minutes: float | None,
    meters: int,
    bins: int,
    repairs: int,
    shelly: int | None,
    tasmota: int | None,
    members: int,
    seed: int,
    fault_scale: float,
    keep: bool,
    stop: bool,
    json_summary: Path | None,
) -> None:
    """Run a simulated co-op day end to end on a local stack, with a summary and a report."""
    configure_logging(level="WARNING")
    root = (state_dir or default_state_dir()).resolve()
    if stop:
        stopped = down(DemoPaths(root))
        click.echo(f"stopped {' and '.join(stopped)}" if stopped else f"nothing of {root} was running")
        return
    options = DemoOptions(
        state_dir=root,
        fleet=FleetSize(meters, bins, repairs, members, shelly=shelly, tasmota=tasmota),
        hours=hours,
        day=day.date() if day else None,
        day_minutes=day_minutes,
        seed=seed,
        keep=keep,
        json_summary=json_summary.resolve() if json_summary else None,
        fault_rates=scaled_fault_rates(fault_scale),
    )
    console = Console(sys.stdout)
    try:
        summary = run_demo(options, console)
    except KeyboardInterrupt:
        kept = " (the local stack is left running: --keep)" if keep else ""
        click.echo(f"\ninterrupted: the simulator and the daemons were stopped{kept}", err=True)
        sys.exit(INTERRUPTED)
    show(summary, console, options)
    if not summary.ok:
        failed = [c.name for c in summary.checks if not c.ok]
        raise CirculoError(f"{len(failed)} check(s) failed: {'; '.join(failed)}")


def show(summary: DemoSummary, console: Console, options: DemoOptions) -> None:
    """The summary, where the files are, and (with --keep) how to explore the stack."""
    console.line()
    for line in render_summary(summary):
        console.line(line)
    console.line()
    console.line(f"report:     {summary.files['report']}")
    console.line(f"summary:    {summary.files['summary']}")
    console.line(f"dashboards: {summary.files['dashboards']}")
    console.line(f"wall time:  {summary.wall_s:.0f} s")
    if options.keep:
        for line in explore_hints(DemoPaths(options.state_dir), summary):
            console.line(line)


def circulo_command() -> str:
    """How to call ``circulo`` from this shell (the venv's script when it is not on PATH)."""
    script = Path(sys.executable).with_name("circulo")
    return str(script) if script.is_file() else "circulo"


def explore_hints(paths: DemoPaths, summary: DemoSummary) -> list[str]:
    """Commands to explore the running stack (no secret: they read the 0600 files)."""
    circulo = circulo_command()
    database_url = summary.files.get("database_url", "")
    first_meter = f"{summary.coop_id}-meter-001"
    return [
        "",
        "The stack is still running. To explore it:",
        f"  export CIRCULO_CONFIG={paths.config_file}",
        f"  {circulo} ledger balances",
        f"  {circulo} ledger verify",
        f"  {circulo} rewards flags",
        f"  {circulo} quarantine list",
        f"  {circulo} device check {first_meter}",
        f'  psql "{database_url}"',
        f'  mosquitto_sub -v -L "$(cat {paths.operator_url_file})circulo/v1/#" \\',
        f"      --cafile {paths.pki_dir}/broker-ca.pem",
        f"  {circulo} ingest    # and `{circulo} rewards run`, to keep going live",
        f"  {circulo} demo --down{'' if paths.root == default_state_dir() else f' --dir {paths.root}'}",
    ]
