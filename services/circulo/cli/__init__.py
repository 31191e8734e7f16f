"""The ``circulo`` command (SPEC §7): parse, build settings, call the service."""

from __future__ import annotations

import importlib
import sys

import click

from circulo import __version__
from circulo.cli.common import CliContext
from circulo.errors import CirculoError

# Each module defines one click command or group named ``command`` (or a tuple of them
# named ``commands``); kept in one list so the root stays a table of contents.
COMMAND_MODULES = (
    "circulo.cli.db",
    "circulo.cli.ingest",
    "circulo.cli.quarantine",
    "circulo.cli.registry",
    "circulo.cli.rewards",
    "circulo.cli.ledger",
    "circulo.cli.sim",
    "circulo.cli.dashboards",
    "circulo.cli.schemas",
    "circulo.cli.demo",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="CIRCULO_CONFIG",
    help="TOML config file (flags and environment win over it).",
)
@click.option("--database-url", help="PostgreSQL URL [env CIRCULO_DATABASE_URL].")
@click.option("--mqtt-url", help="Broker URL mqtt://user:password@host:port [env CIRCULO_MQTT_URL].")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default=None)
@click.pass_context
def cli(
    ctx: click.Context,
    config_file: str | None,
    database_url: str | None,
    mqtt_url: str | None,
    log_level: str | None,
) -> None:
    """Circulo: MQTT devices to TimescaleDB to a tamper-evident rewards ledger."""
    ctx.obj = CliContext(config_file, database_url, mqtt_url, log_level)


@cli.command()
def version() -> None:
    """Print the Circulo version."""
    click.echo(f"circulo {__version__}")


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        for group in getattr(module, "commands", None) or (module.command,):
            cli.add_command(group)


_register_commands()


def main() -> None:
    """Console entry point."""
    try:
        cli(standalone_mode=True)
    except CirculoError as e:  # commands wrap their own; this catches settings errors in callbacks
        click.echo(f"error: {e.message}", err=True)
        sys.exit(e.exit_code)
