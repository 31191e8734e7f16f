"""`circulo backup create / verify / restore`: one encrypted archive of what a restore needs.

The passphrase comes from ``CIRCULO_BACKUP_PASSPHRASE_FILE`` (or ``passphrase_file`` in
``[backup]``) or ``CIRCULO_BACKUP_PASSPHRASE``, never from a flag.
"""

from __future__ import annotations

from pathlib import Path

import click

from circulo.backup import service
from circulo.backup.published import Verdict
from circulo.backup.settings import BackupSettings
from circulo.cli.audited import INVOCATION_META, AuditSettings, audited
from circulo.cli.common import CliContext, echo_json, one_line_errors, pass_cli, setup_logging
from circulo.ledger.settings import LedgerSettings
from circulo.settings import load_settings

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
checkpoint_option = click.option(
    "--checkpoint",
    "checkpoint_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A published checkpoint to check the archive against (a member's copy; repeatable).",
)


def settings_from(ctx: CliContext) -> tuple[BackupSettings, LedgerSettings]:
    """The backup's and the ledger's settings (the key's path is the ledger's)."""
    backup = load_settings(BackupSettings, flags=ctx.flags(), config_file=ctx.config_file, section="backup")
    ledger = load_settings(LedgerSettings, flags=ctx.flags(), config_file=ctx.config_file, section="ledger")
    return backup, ledger


@click.group(name="backup")
def command() -> None:
    """Encrypted backups of the database, the broker's device credentials, the ledger key and the CA."""


@command.command(name="create")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The archive to write (refuses to overwrite).")  # fmt: skip
@json_option
@pass_cli
@one_line_errors
@audited("backup")
def create_command(ctx: CliContext, output: Path, as_json: bool) -> None:
    """Write one encrypted archive: a consistent database dump, the files, a manifest of SHA-256 hashes."""
    setup_logging(ctx)
    backup, ledger = settings_from(ctx)
    invocation = click.get_current_context().meta.get(INVOCATION_META)
    report = service.create(backup, ledger, output,
                            audit_invocation=str(invocation.invocation) if invocation else None)  # fmt: skip
    if as_json:
        echo_json({**vars(report), "archive": str(report.archive)})
        return
    files = ", ".join(report.files)
    click.echo(f"backup written to {output} ({report.bytes_written} bytes, mode 0600): database (ledger "
               f"{report.ledger_size} entries, root {report.ledger_root}), {files}")  # fmt: skip
    click.echo("keep it and its passphrase apart; test it with: circulo backup verify " + str(output))


@command.command(name="verify")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@checkpoint_option
@json_option
@pass_cli
@one_line_errors
def verify_command(ctx: CliContext, archive: Path, checkpoint_files: tuple[Path, ...], as_json: bool) -> None:
    """Decrypt and check an archive (every chunk and hash) and judge it against published checkpoints."""
    backup, ledger = settings_from(ctx)
    manifest, judgements = service.verify(backup, ledger, archive, checkpoint_files)
    if as_json:
        echo_json({"created_at": manifest.created_at, "host": manifest.host,
                   "ledger_size": manifest.ledger.size, "ledger_root": manifest.ledger.root,
                   "files": [f.item for f in manifest.files],
                   "checkpoints": [j.as_dict() for j in judgements]})  # fmt: skip
        return
    click.echo(f"archive OK: made {manifest.created_at} on {manifest.host}, ledger {manifest.ledger.size} "
               f"entries, {len(manifest.files)} files")  # fmt: skip
    for j in judgements:
        mark = "ok" if j.verdict is Verdict.CONSISTENT else "PROBLEM"
        click.echo(f"  checkpoint {j.published.source}: {mark}: {j.detail}")


@command.command(name="restore")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@checkpoint_option
@click.option("--accept-older-ledger", is_flag=True,
              help="Restore although members were shown a longer ledger (the loss is recorded).")  # fmt: skip
@json_option
@pass_cli
@one_line_errors
def restore_command(
    ctx: CliContext,
    archive: Path,
    checkpoint_files: tuple[Path, ...],
    accept_older_ledger: bool,
    as_json: bool,
) -> None:
    """Restore onto a fresh stack: an empty database, the broker stopped, no signing key yet."""
    setup_logging(ctx)
    backup, ledger = settings_from(ctx)
    operator = load_settings(
        AuditSettings, flags=ctx.flags(), config_file=ctx.config_file, section="backup"
    ).operator
    report = service.restore(backup, ledger, archive, checkpoint_files=checkpoint_files,
                             accept_older=accept_older_ledger, operator=operator)  # fmt: skip
    if as_json:
        echo_json(report.as_dict())
        return
    click.echo(f"restored {archive} (made {report.created_at}): ledger {report.ledger_size} entries verified")
    for j in report.checkpoints:
        click.echo(f"  checkpoint {j.published.source}: {j.verdict.value}: {j.detail}")
    for restored in report.files:
        aside = f" (the file there before kept as {restored['kept_aside']})" if restored["kept_aside"] else ""
        click.echo(f"  {restored['item']} -> {restored['path']}{aside}")
    if report.accepted_older:
        click.echo(
            "ACCEPTED on purpose: the restored ledger is older than a published checkpoint; tell the members"
        )
    click.echo("next: start (or restart) the broker so it loads the restored credentials, then the services")
