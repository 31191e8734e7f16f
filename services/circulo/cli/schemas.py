"""`circulo schemas`: the wire contract's JSON Schema files (export, staleness check)."""

from __future__ import annotations

from pathlib import Path

import click

from circulo.cli.common import one_line_errors
from circulo.errors import VerificationFailed
from circulo_schemas.export import default_json_dir, stale_json_schemas, write_json_schemas

_OUT_HELP = "Directory of the JSON Schema files [default: schemas/json of this checkout]."


@click.group(name="schemas")
def command() -> None:
    """The wire contract: export JSON Schema files."""


@command.command(name="export")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help=_OUT_HELP)
@one_line_errors
def export(out_dir: Path | None) -> None:
    """Write one JSON Schema file per message type, plus topics.json."""
    for path in write_json_schemas(out_dir or default_json_dir()):
        click.echo(str(path))


@command.command(name="check")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help=_OUT_HELP)
@one_line_errors
def check(out_dir: Path | None) -> None:
    """Exit non-zero when the committed files differ from what the models generate."""
    directory = out_dir or default_json_dir()
    stale = stale_json_schemas(directory)
    if stale:
        raise VerificationFailed(f"{directory} is stale ({', '.join(stale)}): run `circulo schemas export`")
    click.echo(f"{directory}: up to date")
