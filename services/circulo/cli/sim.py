"""`circulo sim`: the firmware simulator (a co-op's meters, bins and repair stations).

``circulo sim run`` plays a fleet from the registry (credentials from the provisioning
bundles) or from a fleet spec, in real time, accelerated or as a backfill, with faults
on demand; ``circulo sim fleet`` writes a made-up fleet spec for bulk runs and benchmarks.
See docs/simulator.md.
"""

from __future__ import annotations

import json
import secrets
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click

from circulo.cli.common import CliContext, echo_json, one_line_errors, pass_cli, setup_logging
from circulo.settings import load_settings
from circulo_sim.clock import SimWindow, parse_duration, parse_moment, plan_window
from circulo_sim.faults import FaultRates
from circulo_sim.fleet import DEFAULT_CENTRE, fleet_to_json, parse_profile_counts, synthetic_fleet
from circulo_sim.progress import ProgressPrinter
from circulo_sim.service import RunRequest, run_simulation
from circulo_sim.settings import SimSettings
from circulo_sim.summary import describe, write_summary

RATE = click.FloatRange(0.0, 1.0)
FAULT_OPTIONS = (
    ("--duplicates", "duplicate", "Send a message twice (ingest: duplicate)."),
    ("--out-of-order", "out_of_order", "Deliver a message after up to 3 later ones (stored)."),
    ("--counter-resets", "counter_reset", "Meters: register restarts at 0 (stored, flag counter_reset)."),
    ("--clock-ahead", "clock_ahead", "Stamp a message a year ahead (quarantined clock_skew)."),
    ("--clock-behind", "clock_behind", "Stamp a message 2 min to 3 h behind (stored)."),
    ("--malformed", "malformed", "Garble a payload (quarantined not_json or schema)."),
    ("--offline", "offline", "Start an outage: will, buffered, then flushed in order (stored)."),
    ("--impersonate", "impersonate", "Also publish on another device's topic (broker refuses, 0x87)."),
    ("--reboots", "reboot", "Reboot after a message: will, a new boot epoch, seq anew (per-device mode)."),
    ("--implausible", "implausible", "Meters: more than the panels can make (stored, flag implausible)."),
    ("--glitches", "glitch", "Meters: the register reads 0 once (stored, flag glitch: span credited)."),
)  # fmt: skip


FAULTS_META = "circulo.sim.fault_rates"


def _keep_rate(ctx: click.Context, param: click.Parameter, value: float) -> float:
    ctx.meta.setdefault(FAULTS_META, {})[param.name] = value
    return value


def fault_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """One ``--fault RATE`` option per fault (probability per message), collected in ``ctx.meta``."""
    for flag, name, help_text in reversed(FAULT_OPTIONS):
        option = click.option(
            flag,
            name,
            type=RATE,
            default=0.0,
            expose_value=False,
            callback=_keep_rate,
            help=f"RATE: {help_text}",
        )
        func = option(func)
    return func


def fault_rates(offline_minutes: float) -> FaultRates:
    """The fault flags of the current command."""
    return FaultRates(
        **click.get_current_context().meta.get(FAULTS_META, {}), offline_minutes=offline_minutes
    )


@click.group(name="sim")
def command() -> None:
    """The firmware simulator: realistic meters, bins and repair stations over MQTT."""


@command.command("run")
@click.option("--coop", "coop_id", help="The co-op whose devices to simulate (from the registry).")
@click.option("--meters", type=click.IntRange(min=0), help="How many meters (default: all the co-op has).")
@click.option(
    "--profiles",
    "profiles_text",
    metavar="PROFILE=N,…",
    help="Meters by firmware, e.g. circulo=3,shelly-gen2=2,tasmota=1 (instead of --meters): from the "
    "registry, the first N meters of each profile; --synthetic makes them. Shelly and Tasmota meters "
    "publish what their firmware publishes.",
)
@click.option("--bins", type=click.IntRange(min=0), help="How many bins (default: all).")
@click.option("--repairs", type=click.IntRange(min=0), help="How many repair stations (default: all).")
@click.option(
    "--bundles",
    "bundles_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Provisioning bundles DIR/{device_id}.json: one connection per device [CIRCULO_BUNDLES_DIR].",
)
@click.option(
    "--passphrases",
    "passphrases_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Mutual TLS: DIR/{device_id}.passphrase decrypts each bundle's key [CIRCULO_PASSPHRASES_DIR].",
)
@click.option(
    "--bulk", is_flag=True, help="Multiplex devices over a few connections of the --mqtt-url service account."
)
@click.option(
    "--connections", type=click.IntRange(1, 1000), help="Bulk mode: how many connections (default 4)."
)
@click.option(
    "--fleet",
    "fleet_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A fleet spec (JSON, see `circulo sim fleet`) instead of the registry.",
)
@click.option(
    "--synthetic", is_flag=True, help="Make the fleet up from --meters/--bins/--repairs (bulk mode)."
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    help="Simulated seconds per wall second (720: a day in two minutes). Default: real time.",
)
@click.option("--from", "start", help="Start of the simulated period (2026-11-01 or RFC 3339, UTC).")
@click.option(
    "--to", "end", help="End of the period; without --speed: a backfill, as fast as the broker takes."
)
@click.option("--duration", help="Length of the period (6h, 1d, 1d12h). Accelerated runs default to 1d.")
@click.option(
    "--allow-old", is_flag=True, help="Allow a period older than 30 days (the ingest says too_old)."
)
@click.option("--seed", type=int, help="Same seed, same messages (default: a random seed, shown).")
@fault_options
@click.option(
    "--offline-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=20.0,
    show_default=True,
    help="Mean length of an --offline outage, simulated minutes.",
)
@click.option(
    "--inflight", type=click.IntRange(1, 65535), help="PUBACKs outstanding per connection (default 100)."
)
@click.option(
    "--buffer-max", type=click.IntRange(min=1), help="Store-and-forward bound per device (default 10000)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--summary-file", type=click.Path(dir_okay=False, path_type=Path), help="Also write the summary (JSON)."
)
@click.option(
    "--message-log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every message and its fate (JSON lines), to reconcile with the ingest.",
)
@click.option("--quiet", is_flag=True, help="No progress line.")
@pass_cli
@one_line_errors
def run(
    ctx: CliContext,
    coop_id: str | None,
    meters: int | None,
    profiles_text: str | None,
    bins: int | None,
    repairs: int | None,
    bundles_dir: Path | None,
    passphrases_dir: Path | None,
    bulk: bool,
    connections: int | None,
    fleet_file: Path | None,
    synthetic: bool,
    speed: float | None,
    start: str | None,
    end: str | None,
    duration: str | None,
    allow_old: bool,
    seed: int | None,
    offline_minutes: float,
    inflight: int | None,
    buffer_max: int | None,
    as_json: bool,
    summary_file: Path | None,
    message_log: Path | None,
    quiet: bool,
) -> None:
    """Simulate a co-op's devices publishing to the broker, then print a summary."""
    settings = load_settings(
        SimSettings,
        flags=ctx.flags(
            inflight=inflight,
            buffer_max=buffer_max,
            connections=connections,
            passphrases_dir=str(passphrases_dir) if passphrases_dir else None,
        ),
        config_file=ctx.config_file,
        section="sim",
    )
    setup_logging(ctx)
    request = RunRequest(
        window=sim_window(start, end, duration, speed, allow_old),
        seed=secrets.randbelow(2**31) if seed is None else seed,
        coop_id=coop_id,
        counts={"meter": meters, "bin": bins, "repair": repairs},
        rates=fault_rates(offline_minutes),
        bulk=bulk or synthetic,
        fleet_file=fleet_file,
        synthetic=synthetic,
        bundles_dir=bundles_dir,
        profiles=parse_profile_counts(profiles_text) if profiles_text else None,
    )
    summary = run_with_signals(request, settings, message_log, quiet=quiet or as_json)
    if summary_file is not None:
        write_summary(summary_file, summary)
    if as_json:
        echo_json(summary)
    else:
        click.echo(describe(summary))


def sim_window(
    start: str | None, end: str | None, duration: str | None, speed: float | None, allow_old: bool
) -> SimWindow:
    """The simulated period from the time flags (see circulo_sim.clock.plan_window)."""
    return plan_window(
        datetime.now(UTC),
        start=parse_moment(start) if start else None,
        end=parse_moment(end) if end else None,
        duration=parse_duration(duration) if duration else None,
        speed=speed,
        allow_old=allow_old,
    )


def run_with_signals(
    request: RunRequest, settings: SimSettings, message_log: Path | None, *, quiet: bool
) -> dict[str, Any]:
    """Run until the window ends; SIGINT/SIGTERM end it early, still flushing and summarising."""
    stop = threading.Event()
    printer = None if quiet else ProgressPrinter()
    log_file: Any = message_log.open("w", encoding="utf-8") if message_log else nullcontext()
    with stop_on_signals(stop), log_file as log:
        try:
            return run_simulation(request, settings, stop=stop, progress=printer, message_log=log)
        finally:
            if printer is not None:
                printer.finish()


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into a graceful stop for the duration of the run."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@command.command("fleet")
@click.option("--coop", "coop_id", required=True, help="The co-op id (devices are named {coop}-{kind}-{n}).")
@click.option("--meters", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--bins", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--repairs", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--members", type=click.IntRange(min=0), default=40, show_default=True, help="Member accounts.")
@click.option("--lat", type=click.FloatRange(-90, 90), default=DEFAULT_CENTRE[0], show_default=True)
@click.option("--lon", type=click.FloatRange(-180, 180), default=DEFAULT_CENTRE[1], show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout."
)
@one_line_errors
def fleet(
    coop_id: str,
    meters: int,
    bins: int,
    repairs: int,
    members: int,
    lat: float,
    lon: float,
    seed: int,
    output: Path | None,
) -> None:
    """Write a made-up fleet spec (JSON) for `sim run --fleet` and benchmarks."""
    spec = fleet_to_json(
        synthetic_fleet(
            coop_id, meters=meters, bins=bins, repairs=repairs, members=members, seed=seed, centre=(lat, lon)
        )
    )
    if output is None:
        echo_json(spec)
    else:
        output.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
