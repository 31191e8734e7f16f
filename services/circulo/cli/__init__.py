"""The ``circulo`` command (SPEC §7): parse, build settings, call the service."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from circulo import __version__
from circulo.cli.common import CliContext
from circulo.errors import CirculoError

# Each module defines one click command or group named ``command`` (or a tuple of them
# named ``commands``); this table maps each top-level command to its module, so the root
# stays a table of contents and a command imports only what it needs (the simulator's
# physics or Alembic take seconds to import: ``circulo device check`` should not wait).
COMMAND_MODULES = {
    "db": "circulo.cli.db",
    "ingest": "circulo.cli.ingest",
    "quarantine": "circulo.cli.quarantine",
    "coop": "circulo.cli.registry",
    "member": "circulo.cli.registry",
    "device": "circulo.cli.registry",
    "service-account": "circulo.cli.registry",
    "pki": "circulo.cli.pki",
    "rewards": "circulo.cli.rewards",
    "repairs": "circulo.cli.repairs",
    "statements": "circulo.cli.statements",
    "ledger": "circulo.cli.ledger",
    "certificates": "circulo.cli.certificates",
    "treasury": "circulo.cli.treasury",
    "governance": "circulo.cli.governance",
    "sim": "circulo.cli.sim",
    "dashboards": "circulo.cli.dashboards",
    "schemas": "circulo.cli.schemas",
    "demo": "circulo.cli.demo",
    "audit": "circulo.cli.audit",
    "monitor": "circulo.cli.monitor",
    "backup": "circulo.cli.backup",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported when used (click's lazy-loading pattern).

    Its ``main`` also turns click's usage errors (a bad or missing option) into one line,
    ``error: …``, like every other Circulo error (SPEC §7), instead of click's usage block.
    """

    def main(  # type: ignore[override]
        self, args: list[str] | None = None, prog_name: str | None = None, *rest: Any, **extra: Any
    ) -> Any:
        if not extra.get("standalone_mode", True):
            return super().main(args, prog_name, *rest, **extra)
        try:
            result = super().main(args, prog_name, *rest, **{**extra, "standalone_mode": False})
        except click.UsageError as e:
            where = f" (see {e.ctx.command_path} --help)" if e.ctx is not None else ""
            click.echo(f"error: {e.format_message()}{where}", err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(f"error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMAND_MODULES and cmd_name not in self.commands:
            module = importlib.import_module(COMMAND_MODULES[cmd_name])
            for command in getattr(module, "commands", None) or (module.command,):
                self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="CIRCULO_CONFIG",
    help="TOML config file (flags and environment win over it).",
)
@click.option("--database-url", help="PostgreSQL URL [env CIRCULO_DATABASE_URL].")
@click.option(
    "--mqtt-url", help="Broker URL mqtts://user:password@host:port?cafile=CA [env CIRCULO_MQTT_URL]."
)
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


def main() -> None:
    """Console entry point."""
    try:
        cli(standalone_mode=True)
    except CirculoError as e:  # commands wrap their own; this catches settings errors in callbacks
        click.echo(f"error: {e.message}", err=True)
        sys.exit(e.exit_code)
