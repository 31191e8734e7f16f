"""`circulo pki`: the deployment's certificate authority (SPEC §9).

Revocations and the mutual-TLS switch are recorded in the operator audit trail (they need
the database); creating and renewing are not (the PKI is made before the database runs, and
renewal is the timer's). Configuration: ``pki_dir`` (``CIRCULO_PKI_DIR``), how to tell the broker
(``broker_pid_file`` or ``broker_reload_command``), validity periods in ``[pki]``. After a
change the public facts are mirrored to the database (``database_url``) and the broker is
reloaded when its files changed. Keys are never printed.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from circulo.cli.audited import audited
from circulo.cli.common import CliContext, echo_json, one_line_errors, pass_cli
from circulo.logs import configure_logging
from circulo.pki import authority, crl, health
from circulo.pki.authority import Changes, ExistingCa, InitRequest, ServerNames
from circulo.pki.certs import KEY_TYPES, REASONS
from circulo.pki.errors import PkiError
from circulo.pki.layout import BROKER_SERVER
from circulo.pki.service import Applied, apply, mirror_everything
from circulo.pki.settings import PkiSettings
from circulo.settings import load_settings

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
# checked by the PKI itself, so a bad file is one clear line like every other error
FILE = click.Path(path_type=Path)
HOSTS = click.option("--host", "hosts", multiple=True, help="A DNS name clients connect to (repeatable).")
IPS = click.option("--ip", "ips", multiple=True, help="An IP address clients connect to (repeatable).")


def pki_settings(ctx: CliContext) -> PkiSettings:
    """The PKI's settings (flags > environment > config file ``[pki]``), logging set up."""
    settings = load_settings(PkiSettings, flags=ctx.flags(), config_file=ctx.config_file, section="pki")
    configure_logging(level=settings.log_level)
    return settings


def finish(settings: PkiSettings, changes: Changes, as_json: bool, *, said: str) -> None:
    """Mirror and reload, then say what happened (one line each) or print it as JSON."""
    applied = apply(settings, changes, database_url=settings.database_url)
    if as_json:
        echo_json(_changes_json(changes, applied))
        return
    click.echo(said)
    for cert in changes.certificates:
        state = f"revoked ({cert.reason})" if cert.revoked else f"valid until {cert.not_after:%Y-%m-%d}"
        click.echo(f"  {cert.kind:8} {cert.name:24} serial {cert.serial}  {state}")
    if changes.crl is not None:
        click.echo(f"  crl      number {changes.crl.number}, {changes.crl.revoked} revoked, "
                   f"next update {changes.crl.next_update:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    if applied.broker:
        click.echo(f"  broker   {applied.broker}")
    for warning in applied.warnings:
        click.echo(f"warning: {warning}", err=True)


def _changes_json(changes: Changes, applied: Applied) -> dict[str, Any]:
    return {
        "certificates": [c.as_json() for c in changes.certificates],
        "crl": changes.crl.as_json() if changes.crl else None,
        "broker": applied.broker,
        "recorded": applied.recorded,
        "warnings": list(applied.warnings),
    }


@click.group(name="pki")
def pki() -> None:
    """The deployment's CA: init, status, server, revoke, crl, renew, mutual-tls."""


@pki.command(name="init")
@click.option("--org", "organisation", required=True, help="Organisation name in the CA certificates.")
@HOSTS
@IPS
@click.option("--mutual-tls", is_flag=True, help="Devices also present a client certificate (per broker).")
@click.option("--key-type", type=click.Choice(KEY_TYPES), default="rsa", show_default=True,
              help="CA and server keys (RSA 2048 works with every device TLS stack).")  # fmt: skip
@click.option("--root-key-out", type=FILE, help="Write the root key here (offline media), not in the PKI.")
@click.option("--ca-cert", type=FILE, help="Use this existing CA (the co-op's own) instead of a new one.")
@click.option("--ca-key", type=FILE, help="The existing CA's key.")
@click.option("--ca-root", type=FILE, help="The root above the existing CA (omit when it is a root).")
@JSON_OPTION
@pass_cli
@one_line_errors
def pki_init(
    ctx: CliContext,
    organisation: str,
    hosts: tuple[str, ...],
    ips: tuple[str, ...],
    mutual_tls: bool,
    key_type: str,
    root_key_out: Path | None,
    ca_cert: Path | None,
    ca_key: Path | None,
    ca_root: Path | None,
    as_json: bool,
) -> None:
    """Create the PKI: a root and an issuing CA (or import yours), the broker's certificate for the
    given host names and IPs, and the first CRL."""
    if (ca_cert is None) != (ca_key is None):
        raise PkiError("pki init: --ca-cert and --ca-key go together")
    existing = ExistingCa(ca_cert, ca_key, ca_root) if ca_cert is not None and ca_key is not None else None
    request = InitRequest(organisation, ServerNames(hosts, ips), mutual_tls, key_type, root_key_out, existing)
    settings = pki_settings(ctx)
    changes = authority.init(settings, request)
    mode = "mutual TLS (client certificates required)" if mutual_tls else "server TLS"
    finish(settings, changes, as_json, said=f"PKI created in {settings.pki_dir} ({mode})")
    if not as_json and existing is None:
        where = root_key_out or settings.layout().root_key
        click.echo(f"the root key is {where}: move it to offline media (docs/deployment.md)")


@pki.command(name="status")
@click.option("--record", is_flag=True, help="Also write every certificate and the CRL to the database.")
@JSON_OPTION
@pass_cli
@one_line_errors
def pki_status(ctx: CliContext, record: bool, as_json: bool) -> None:
    """Every certificate in use with its days left, and the CRL's age. Exit 1 when something expired."""
    settings = pki_settings(ctx)
    config, index = authority.index_of(settings)
    now = datetime.now(UTC)
    findings = health.evaluate(index, crl.current_facts(settings.layout()), now, settings.margins())
    recorded = mirror_everything(settings, settings.database_url) if record and settings.database_url else 0
    if as_json:
        found = [f.as_dict() for f in findings]
        echo_json({"pki": config.as_json(), "findings": found, "recorded": recorded})
    else:
        mode = "mutual TLS" if config.mutual_tls else "server TLS"
        click.echo(f"PKI {settings.pki_dir}: {config.organisation}, {mode}, broker certificate from the "
                   f"{config.server_ca} CA")  # fmt: skip
        for finding in findings:
            click.echo(f"  {finding.health!s:7} {finding.what:28} {finding.summary}")
            if finding.next_step:
                click.echo(f"          next: {finding.next_step}")
    if health.worst(findings) is health.Health.EXPIRED:
        sys.exit(1)


@pki.group(name="server")
def server() -> None:
    """Server certificates: issue (or renew) from the own CA, import a public CA's."""


@server.command(name="issue")
@click.argument("name", default=BROKER_SERVER)
@HOSTS
@IPS
@JSON_OPTION
@pass_cli
@one_line_errors
def server_issue(
    ctx: CliContext, name: str, hosts: tuple[str, ...], ips: tuple[str, ...], as_json: bool
) -> None:
    """A new key and certificate for server NAME (broker, postgres, …); without --host/--ip, the
    names of its current certificate (a renewal)."""
    settings = pki_settings(ctx)
    names = ServerNames(hosts, ips)
    if not hosts and not ips:
        names = authority.current_names(settings.layout(), name)
    changes = authority.issue_server(settings, name, names)
    finish(settings, changes, as_json, said=f"server certificate issued for {name}")


@server.command(name="import")
@click.option("--cert", "cert_file", type=FILE, required=True, help="The certificate, then its chain (PEM).")
@click.option("--key", "key_file", type=FILE, required=True, help="Its private key (PEM).")
@click.option("--root", "root_file", type=FILE, required=True, help="The public CA's root it chains to.")
@JSON_OPTION
@pass_cli
@one_line_errors
def server_import(ctx: CliContext, cert_file: Path, key_file: Path, root_file: Path, as_json: bool) -> None:
    """Use a public CA's certificate (e.g. from ACME) for the broker instead of the own CA's."""
    settings = pki_settings(ctx)
    changes = authority.import_server(settings, cert_file, key_file, root_file)
    finish(settings, changes, as_json, said="broker certificate imported (public CA)")


@pki.command(name="revoke")
@click.argument("serials", nargs=-1, required=True)
@click.option("--reason", type=click.Choice(sorted(REASONS)), default="unspecified", show_default=True)
@JSON_OPTION
@pass_cli
@one_line_errors
@audited("pki")
def pki_revoke(ctx: CliContext, serials: tuple[str, ...], reason: str, as_json: bool) -> None:
    """Revoke certificates by serial; a new CRL is published and the broker reloaded.

    A device's live session is not cut by this: `circulo device sync` does that (or use
    `device rotate-credentials` / `device retire`, which do everything)."""
    settings = pki_settings(ctx)
    changes = authority.revoke(settings, serials=serials, reason=reason)
    finish(settings, changes, as_json, said=f"revoked {len(changes.certificates)} certificate(s)")


@pki.group(name="crl")
def crl_group() -> None:
    """The certificate revocation list."""


@crl_group.command(name="renew")
@click.option("--force", is_flag=True, help="Re-issue even when it is not due.")
@JSON_OPTION
@pass_cli
@one_line_errors
def crl_renew(ctx: CliContext, force: bool, as_json: bool) -> None:
    """Re-issue the CRL when it is due (the timer runs this hourly; it is due after a day)."""
    settings = pki_settings(ctx)
    changes = authority.renew_crl(settings, force=force)
    finish(settings, changes, as_json, said="CRL re-issued" if changes.crl else "CRL not due")


@pki.command(name="renew")
@JSON_OPTION
@pass_cli
@one_line_errors
def pki_renew(ctx: CliContext, as_json: bool) -> None:
    """What the renewal timer runs: the CRL when due, server certificates close to expiry."""
    settings = pki_settings(ctx)
    changes = authority.renew_due(settings)
    finish(settings, changes, as_json, said="renewed what was due" if changes.certificates or changes.crl
           else "nothing due")  # fmt: skip


@pki.command(name="mutual-tls")
@click.argument("state", type=click.Choice(["on", "off"]))
@pass_cli
@one_line_errors
@audited("pki")
def pki_mutual_tls(ctx: CliContext, state: str) -> None:
    """Record whether devices present client certificates (the broker's require_certificate must match)."""
    config = authority.set_mutual_tls(pki_settings(ctx), state == "on")
    click.echo(f"mutual TLS {'on' if config.mutual_tls else 'off'}")
    if config.mutual_tls:
        click.echo("next: `circulo device rotate-credentials` each device (its bundle gains a certificate),")
        click.echo("      then set `require_certificate true` in mosquitto.conf and restart the broker")
    else:
        click.echo("next: set `require_certificate false` in mosquitto.conf and restart the broker")


command = pki
