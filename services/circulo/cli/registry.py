"""`circulo coop`, `circulo member`, `circulo device`, `circulo service-account`: the registry (SPEC §7).

The broker admin URL comes from CIRCULO_BROKER_ADMIN_URL or the config file's
``[registry] broker_admin_url``, never from a flag (it would land in shell history).
Passwords are shown once (or written to 0600 bundle files) and never logged.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click

from circulo.cli.audited import audited
from circulo.cli.common import TOKEN_AMOUNT, CliContext, echo_json, one_line_errors, pass_cli
from circulo.cli.governance import MEMBER_COMMANDS
from circulo.cli.statements import member_statement_command
from circulo.ledger.keys import load_signer
from circulo.ledger.requests import TransferRequest, new_nonce, sign_transfer
from circulo.logs import configure_logging
from circulo.registry import commissioning, devices, emqx, members, render, service_accounts, store
from circulo.registry.brokerlog import BrokerView, broker_view
from circulo.registry.bundle import IssuedCredentials, qr_text
from circulo.registry.check import Verdict
from circulo.registry.firmware_setup import setup_lines
from circulo.registry.handout import Handout
from circulo.registry.model import Device, DeviceSpec
from circulo.registry.provision import broker_admin
from circulo.registry.settings import RegistrySettings
from circulo.registry.survey import read_survey
from circulo.settings import MqttEndpoint, load_settings
from circulo_schemas.profiles import CIRCULO, PROFILES
from circulo_schemas.topics import KINDS


class DecimalType(click.ParamType[Decimal]):
    """An exact decimal number (kilograms), never a binary float."""

    name = "decimal"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Decimal:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.fail(f"{value!r} is not a number", param, ctx)
        if not number.is_finite():
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


DECIMAL = DecimalType()
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
BUNDLE_DIR_OPTION = click.option(
    "--bundle-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write DIR/{device_id}.json and DIR/{device_id}.png (0600; they hold the password).",
)
QR_OPTION = click.option("--qr", is_flag=True, help="Also draw the bundle's QR code in the terminal.")
PASSPHRASE_DIR_OPTION = click.option(
    "--passphrase-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Mutual TLS: write DIR/{device_id}.passphrase (0600), the key's passphrase, apart from the bundle.",
)


def bundle_dir_of(settings: RegistrySettings, given: Path | None) -> Path | None:
    """--bundle-dir, else the configured bundle_dir."""
    return given or (Path(settings.bundle_dir) if settings.bundle_dir else None)


def registry_settings(ctx: CliContext) -> RegistrySettings:
    """The registry's settings (flags > environment > config file), with logging set up."""
    settings = load_settings(
        RegistrySettings, flags=ctx.flags(), config_file=ctx.config_file, section="registry"
    )
    configure_logging(level=settings.log_level)
    return settings


# --- co-ops -----------------------------------------------------------------------------------
@click.group(name="coop")
def coop() -> None:
    """Grid co-ops: add, list, open-data."""


@coop.command(name="add")
@click.argument("coop_id")
@click.option("--name", required=True, help="The co-op's display name.")
@JSON_OPTION
@pass_cli
@one_line_errors
@audited("registry")
def coop_add(ctx: CliContext, coop_id: str, name: str, as_json: bool) -> None:
    """Register a co-op (its treasury account is treasury@COOP_ID). Adding it again is a no-op."""
    added, created = members.add_coop(registry_settings(ctx), coop_id, name)
    if as_json:
        echo_json({**vars(added), "created": created})
    else:
        click.echo(f"co-op {added.coop_id} ({added.name}) {'added' if created else 'already registered'}")


@coop.command(name="list")
@JSON_OPTION
@pass_cli
@one_line_errors
def coop_list(ctx: CliContext, as_json: bool) -> None:
    """List co-ops."""
    coops = members.list_coops(registry_settings(ctx))
    if as_json:
        echo_json([vars(c) for c in coops])
    else:
        _lines(render.table(("CO-OP", "NAME", "CREATED"), [(c.coop_id, c.name, c.created_at) for c in coops]))


@coop.command(name="open-data")
@click.argument("coop_id")
@click.option("--country", help="Where the co-op's repairs happen: an ISO 3166-1 alpha-3 code (GBR, DEU).")
@click.option("--data-provider", help="The name its open repair data is published under [default: its name].")
@click.option(
    "--publish-problems/--no-publish-problems",
    default=None,
    help="Whether the repairs' free-text problem is published (personal data removed) [default: no].",
)
@JSON_OPTION
@pass_cli
@one_line_errors
def coop_open_data(
    ctx: CliContext,
    coop_id: str,
    country: str | None,
    data_provider: str | None,
    publish_problems: bool | None,
    as_json: bool,
) -> None:
    """Show or set what the co-op publishes as Open Repair Data (`circulo repairs export`)."""
    settings = registry_settings(ctx)
    if country is None and data_provider is None and publish_problems is None:
        current = members.open_data(settings, coop_id)
    else:
        current = members.set_open_data(
            settings, coop_id, data_provider=data_provider, country=country, publish_problems=publish_problems
        )
    if as_json:
        echo_json(vars(current) if current else None)
    elif current is None:
        click.echo(f"co-op {coop_id} publishes no open repair data yet (set --country)")
    else:
        problems = "published, personal data removed" if current.publish_problems else "not published"
        click.echo(
            f"co-op {coop_id}: data provider {current.data_provider!r}, country {current.country}, "
            f"problems {problems}"
        )


# --- members ----------------------------------------------------------------------------------
@click.group(name="member")
def member() -> None:
    """Members of co-ops and their shares: add, set-shares, list, statement; sign-transfer (offline)."""


@member.command(name="add")
@click.argument("coop_id")
@click.argument("account")
@click.option("--shares", type=click.IntRange(min=0), required=True, help="Integer shares.")
@JSON_OPTION
@pass_cli
@one_line_errors
@audited("registry")
def member_add(ctx: CliContext, coop_id: str, account: str, shares: int, as_json: bool) -> None:
    """Add ACCOUNT to COOP_ID with integer shares. Adding it again with the same shares is a no-op."""
    added, created = members.add_member(registry_settings(ctx), coop_id, account, shares)
    if as_json:
        echo_json({**vars(added), "created": created})
    else:
        state = "added to" if created else "already a member of"
        click.echo(f"{added.account} {state} {added.coop_id} with {added.shares} shares")


@member.command(name="set-shares")
@click.argument("coop_id")
@click.argument("account")
@click.argument("shares", type=click.IntRange(min=0))
@JSON_OPTION
@pass_cli
@one_line_errors
@audited("registry")
def member_set_shares(ctx: CliContext, coop_id: str, account: str, shares: int, as_json: bool) -> None:
    """Set a member's shares (settlements from now on split by the new numbers)."""
    changed = members.set_shares(registry_settings(ctx), coop_id, account, shares)
    if as_json:
        echo_json(vars(changed))
    else:
        click.echo(f"{changed.account} in {changed.coop_id}: {changed.shares} shares")


@member.command(name="list")
@click.argument("coop_id", required=False)
@JSON_OPTION
@pass_cli
@one_line_errors
def member_list(ctx: CliContext, coop_id: str | None, as_json: bool) -> None:
    """List members (of one co-op, or all) and their shares."""
    found = members.list_members(registry_settings(ctx), coop_id)
    if as_json:
        echo_json([vars(m) for m in found])
    else:
        _lines(render.member_rows(found))


@member.command(name="sign-transfer")
@click.option("--key", "key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="The member's own Ed25519 private key (PEM); it stays here.")  # fmt: skip
@click.option(
    "--ledger", "genesis", required=True, help="The ledger's genesis hash (circulo ledger genesis)."
)
@click.option("--coop", "coop_id", required=True)
@click.option("--from", "from_account", required=True, help="The member's own account.")
@click.option("--to", "to_account", required=True, help="The receiving member (or treasury@COOP).")
@click.option("--token", type=click.Choice(["GRN", "RCY"]), required=True)
@click.option("--amount", "amount_micro", type=TOKEN_AMOUNT, required=True, help="e.g. 2.5")
@click.option("--valid-for", "valid_h", type=click.IntRange(1, 24 * 31), default=24, show_default=True,
              help="Hours until the request expires.")  # fmt: skip
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File (default stdout)."
)
@one_line_errors
def member_sign_transfer(
    key_path: Path,
    genesis: str,
    coop_id: str,
    from_account: str,
    to_account: str,
    token: str,
    amount_micro: int,
    valid_h: int,
    output: Path | None,
) -> None:
    """Sign a transfer request offline with the member's key; the operator submits the file."""
    request = TransferRequest(
        ledger=genesis.strip().lower(), coop=coop_id, from_account=from_account, to_account=to_account,
        token="GRN" if token == "GRN" else "RCY", amount_micro=amount_micro, nonce=new_nonce(),
        expires=datetime.now(UTC) + timedelta(hours=valid_h),
    )  # fmt: skip
    signed = sign_transfer(request, load_signer(key_path).private_key)
    text = json.dumps(signed.to_dict(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"signed transfer request written to {output} (hand it to the co-op's operator)", err=True)


for _member_command in MEMBER_COMMANDS:  # keygen and key attest/register (cli/governance.py)
    member.add_command(_member_command)


# --- devices ----------------------------------------------------------------------------------
@click.group(name="device")
def device() -> None:
    """Devices: add, import, list, show, update, check, retire, rotate-credentials, sync."""


def spec_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options describing a device (add and update share them)."""
    options = (
        click.option("--lat", type=float, help="Latitude, decimal degrees."),
        click.option("--lon", type=float, help="Longitude, decimal degrees."),
        click.option("--location", "location_name", help="Where it is, in words (site, building, pole)."),
        click.option("--rated-power-w", type=int, help="Meters: rated power in W (the plausibility limit)."),
        click.option("--capacity-kg", type=DECIMAL, help="Bins: capacity in kg."),
        click.option("--installer", help="Who installed it."),
        click.option("--notes", help="Free text."),
        click.option(
            "--profile",
            type=click.Choice(PROFILES),
            help="Meters: the firmware it runs (circulo, the default; shelly-gen2; tasmota).",
        ),
    )
    for option in reversed(options):
        func = option(func)
    return func


@device.command(name="add")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("device_id")
@click.option("--coop", "coop_id", required=True, help="The co-op the device belongs to.")
@spec_options
@BUNDLE_DIR_OPTION
@PASSPHRASE_DIR_OPTION
@QR_OPTION
@JSON_OPTION
@pass_cli
@one_line_errors
@audited("registry")
def device_add(
    ctx: CliContext,
    /,
    kind: str,
    device_id: str,
    bundle_dir: Path | None,
    passphrase_dir: Path | None,
    qr: bool,
    as_json: bool,
    **fields: Any,
) -> None:
    """Register a device and create its broker credentials (shown once).

    Running it again for the same device changes nothing and says so; if the first run was
    interrupted before the broker step, it finishes it. New credentials for a registered
    device: `circulo device rotate-credentials`.
    """
    settings = registry_settings(ctx)
    handout = Handout.prepare(settings, bundle_dir_of(settings, bundle_dir), passphrase_dir)
    fields["profile"] = fields.get("profile") or CIRCULO
    done = devices.add_device(settings, DeviceSpec(kind=kind, device_id=device_id, **fields))
    if not as_json:
        state = "registered" if done.created else "was registered; broker step finished"
        profile = f" (profile {done.device.spec.profile})" if done.device.spec.profile != CIRCULO else ""
        click.echo(f"{kind} {device_id}{profile} {state} in co-op {done.device.spec.coop_id}")
    hand_out(handout, done.credentials, qr=qr, as_json=as_json)


@device.command(name="import")
@click.argument("survey", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@BUNDLE_DIR_OPTION
@PASSPHRASE_DIR_OPTION
@click.option("--dry-run", is_flag=True, help="Check the file against the registry; change nothing.")
@JSON_OPTION
@pass_cli
@one_line_errors
@audited("registry")
def device_import(
    ctx: CliContext,
    survey: Path,
    bundle_dir: Path | None,
    passphrase_dir: Path | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Register every device of a CSV site survey; a bad row stops the whole file.

    Rows already registered as they are are skipped, so re-running an import is a no-op
    (and finishes the broker step of an interrupted one).
    """
    settings = registry_settings(ctx)
    bundle_dir = bundle_dir_of(settings, bundle_dir)
    if bundle_dir is None and not dry_run:
        raise click.UsageError("--bundle-dir DIR is required: new devices' credentials are written there")
    rows = read_survey(survey.read_text(encoding="utf-8-sig"), str(survey))
    handout = Handout.prepare(settings, bundle_dir, passphrase_dir)
    if not dry_run:
        handout.require_passphrase_dir(f"device import {survey}")

    def on_issued(credentials: IssuedCredentials) -> None:
        out = handout.hand_out(credentials)
        if not as_json and out.files is not None:
            click.echo(f"{credentials.device_id}: credentials issued -> {out.files.json_path}")

    result = devices.import_survey(settings, rows, str(survey), on_issued, dry_run=dry_run)
    if as_json:
        echo_json({**result.as_dict(), "dry_run": dry_run})
    else:
        verb = "would add" if dry_run else "added"
        click.echo(f"{survey}: {verb} {len(result.added)}, unchanged {len(result.unchanged)}")
    if result.failed:
        for device_id, message in result.failed.items():
            click.echo(f"error: {device_id}: {message}", err=True)
        sys.exit(3)


@device.command(name="list")
@click.option("--coop", "coop_id", help="Only this co-op's devices.")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind.")
@click.option("--status", type=click.Choice(["registered", "active", "retired"]), help="Only this status.")
@JSON_OPTION
@pass_cli
@one_line_errors
def device_list(
    ctx: CliContext, coop_id: str | None, kind: str | None, status: str | None, as_json: bool
) -> None:
    """List devices with their status and broker state (pending = run `device sync`); with the
    broker's log (broker_log_file), how each last connected: TLS+cert, TLS, or PLAIN (still on
    the migration window's plaintext listener)."""
    settings = registry_settings(ctx)
    found = devices.list_devices(settings, coop_id=coop_id, kind=kind, status=status)
    view = broker_view(settings.broker_log_file, settings.broker_config_file)
    if as_json:
        echo_json([_listed(d, view) for d in found])
    else:
        _lines(render.device_rows(found, view))


def _listed(device: Device, view: BrokerView | None) -> dict[str, Any]:
    if view is None:
        return device.as_dict()
    transport = view.transport(device.device_id)
    return {**device.as_dict(), "transport": transport.as_dict() if transport else None}


@device.command(name="show")
@click.argument("device_id")
@JSON_OPTION
@pass_cli
@one_line_errors
def device_show(ctx: CliContext, device_id: str, as_json: bool) -> None:
    """Show one device (no secret: credentials are counted, never stored), its pending replay gaps
    and its final loss (SPEC §11)."""
    found, replay = devices.show_device_replay(registry_settings(ctx), device_id)
    if as_json:
        echo_json({**found.as_dict(), "replay": replay.as_dict()})
    else:
        _lines([*render.device_detail(found), "", *render.replay_lines(replay)])


CLEARABLE = ("location", "rated-power-w", "capacity-kg", "installer", "notes")


@device.command(name="update")
@click.argument("device_id")
@click.option("--coop", "coop_id", help="Move the device to another co-op.")
@spec_options
@click.option(
    "--clear", multiple=True, type=click.Choice([*CLEARABLE, "position"]), help="Empty a field (repeatable)."
)
@JSON_OPTION
@pass_cli
@one_line_errors
@audited("registry")
def device_update(
    ctx: CliContext, /, device_id: str, clear: tuple[str, ...], as_json: bool, **fields: Any
) -> None:
    """Change a device's co-op, position, rating, profile, installer or notes (kind and id are fixed).

    A new --profile takes effect at the ingest within its registry refresh (5 s by default);
    the installer re-configures the firmware (`circulo device add --help`, docs/installers.md).
    """
    changes = {name: value for name, value in fields.items() if value is not None}
    for name in clear:
        changes.update(
            {"lat": None, "lon": None}
            if name == "position"
            else {name.replace("-", "_").replace("location", "location_name"): None}
        )
    if not changes:
        raise click.UsageError("nothing to change: give at least one option")
    updated = devices.update_device(registry_settings(ctx), device_id, changes)
    if as_json:
        echo_json(updated.as_dict())
    else:
        click.echo(f"device {device_id} updated: {', '.join(sorted(changes))}")


@device.command(name="check")
@click.argument("device_id")
@click.option("--wait", "wait_s", type=click.IntRange(min=0), default=0, help="Poll N s for the first data.")
@JSON_OPTION
@pass_cli
@one_line_errors
def device_check(ctx: CliContext, device_id: str, wait_s: int, as_json: bool) -> None:
    """The commissioning report: connection, last messages, validation, clock, battery or register.

    Exit status 0 for PASS and WARN, 1 for FAIL. The first PASS records the device as
    commissioned (status active).
    """
    said_waiting: list[bool] = []

    def on_poll(_: object) -> None:
        if not said_waiting:
            click.echo(f"waiting up to {wait_s} s for the first valid message from {device_id} …", err=True)
            said_waiting.append(True)

    outcome = commissioning.check_device(registry_settings(ctx), device_id, wait_s=wait_s, on_poll=on_poll)
    if as_json:
        echo_json(outcome.as_dict())
    else:
        _lines(render.report_lines(outcome.report, outcome.snapshot.kind, outcome.snapshot.coop_id))
        if outcome.newly_commissioned:
            click.echo(f"commissioned: {device_id} is now active")
    if outcome.report.verdict is Verdict.FAIL:
        sys.exit(1)


@device.command(name="retire")
@click.argument("device_id")
@JSON_OPTION
@pass_cli
@one_line_errors
@audited("registry")
def device_retire(ctx: CliContext, device_id: str, as_json: bool) -> None:
    """Retire a device: its broker client is disabled and its messages are quarantined from now on."""
    done = devices.retire_device(registry_settings(ctx), device_id)
    if as_json:
        echo_json({**done.device.as_dict(), "newly_retired": done.newly_retired})
        return
    state = "retired" if done.newly_retired else "was already retired"
    broker = "its broker client is disabled" if done.had_client else "it had no broker client"
    click.echo(f"device {device_id} {state} at {render.when(done.device.retired_at)}; {broker}")


@device.command(name="rotate-credentials")
@click.argument("device_id")
@BUNDLE_DIR_OPTION
@PASSPHRASE_DIR_OPTION
@QR_OPTION
@JSON_OPTION
@pass_cli
@one_line_errors
@audited("registry")
def device_rotate(
    ctx: CliContext,
    device_id: str,
    bundle_dir: Path | None,
    passphrase_dir: Path | None,
    qr: bool,
    as_json: bool,
) -> None:
    """Issue new credentials for a device; the old password stops working at once, and with mutual
    TLS the old certificate is revoked (the broker reloaded) before its session is cut."""
    settings = registry_settings(ctx)
    handout = Handout.prepare(settings, bundle_dir_of(settings, bundle_dir), passphrase_dir)
    credentials = devices.rotate_credentials(settings, device_id)
    hand_out(handout, credentials, qr=qr, as_json=as_json)


@device.command(name="import-hashes")
@click.argument("dynsec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@JSON_OPTION
@pass_cli
@one_line_errors
@audited("registry")
def device_import_hashes(ctx: CliContext, dynsec_file: Path, as_json: bool) -> None:
    """Copy Mosquitto's password hashes (its dynamic-security JSON file) into the registry for EMQX.

    Devices and service accounts keep their passwords: nothing is re-flashed. Only accounts
    the registry has no hash for are written; disabled, retired and unknown ones are skipped.
    """
    document = json.loads(dynsec_file.read_text(encoding="utf-8"))
    with store.database(registry_settings(ctx).database_url) as conn:
        result = emqx.import_dynsec(conn, document)
    if as_json:
        echo_json(result.as_dict())
        return
    click.echo(f"imported {len(result.imported)}, kept {len(result.kept)} (the registry's own hash is newer)")
    for username, why in sorted(result.skipped.items()):
        click.echo(f"skipped   {username}: {why}")


@device.command(name="sync")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@BUNDLE_DIR_OPTION
@PASSPHRASE_DIR_OPTION
@JSON_OPTION
@pass_cli
@one_line_errors
@audited("registry")
def device_sync(
    ctx: CliContext, dry_run: bool, bundle_dir: Path | None, passphrase_dir: Path | None, as_json: bool
) -> None:
    """Reconcile the broker's clients and roles with the registry (repairs half-done steps).

    A device whose broker client is missing gets one with fresh credentials, shown once (or
    written to --bundle-dir); retired devices' clients are disabled and their certificates
    revoked; clients holding a device role without a registered device are disabled. With a
    PKI: a CRL missing a revocation (or due) is published and the broker reloaded, and the
    live session of a device whose certificate was revoked is cut.
    """
    settings = registry_settings(ctx)
    handout = Handout.prepare(settings, bundle_dir_of(settings, bundle_dir), passphrase_dir)
    bundles: list[dict[str, Any]] = []

    def on_issued(credentials: IssuedCredentials) -> None:
        bundles.append(handout.hand_out(credentials).as_dict())

    plan = devices.sync_broker(settings, on_issued, dry_run=dry_run)
    if as_json:
        echo_json({"dry_run": dry_run, "actions": [a.as_dict() for a in plan], "issued": bundles})
        return
    _lines(render.plan_lines(plan, dry_run=dry_run))
    for bundle in bundles:
        click.echo()
        if "bundle_files" in bundle:
            where = bundle["bundle_files"]["json_path"]
            click.echo(f"{bundle['device_id']}: credentials issue {bundle['credentials_version']} -> {where}")
            _passphrase_line(bundle)
        else:
            _credential_lines(bundle)


def hand_out(handout: Handout, credentials: IssuedCredentials, *, qr: bool, as_json: bool) -> None:
    """Show new credentials once: the bundle as JSON, or in words; write the bundle files when asked."""
    out = handout.hand_out(credentials)
    if as_json:
        echo_json(out.as_dict())
    elif out.files is not None:
        click.echo(f"credentials issue {credentials.version}: {out.files.json_path} and {out.files.png_path}")
        click.echo("(mode 0600: they hold the password, which is not stored anywhere else)")
        _passphrase_line(out.as_dict())
        if out.bundle.get("firmware_setup"):
            profile = out.bundle["profile"]
            click.echo(f"firmware set-up for profile {profile}: firmware_setup in {out.files.json_path}")
    else:
        _credential_lines(out.as_dict())
    if qr:
        click.echo(qr_text(out.bundle), err=as_json)


def _passphrase_line(shown: dict[str, Any]) -> None:
    if "passphrase_file" in shown:
        click.echo(f"key passphrase -> {shown['passphrase_file']} (deliver it apart from the bundle)")
    elif "key_passphrase" in shown:
        click.echo(
            f"key passphrase  {shown['key_passphrase']}  (in no file: deliver it apart from the bundle)"
        )


def _credential_lines(bundle: dict[str, Any]) -> None:
    tls = "yes" if bundle["tls"] else "no"
    click.echo(f"broker    {bundle['host']}:{bundle['port']} (TLS {tls})")
    if "ca_sha256" in bundle:
        click.echo(
            f"CA        sha256 {bundle['ca_sha256']} ({'in the bundle' if 'ca_cert' in bundle else 'public'})"
        )
    click.echo(f"username  {bundle['username']}")
    click.echo(f"password  {bundle['password']}")
    if "client_cert" in bundle:
        until = bundle["client_cert_not_after"]
        click.echo(f"client    certificate until {until} (use --json or --bundle-dir for it)")
    _passphrase_line(bundle)
    setup = bundle.get("firmware_setup")
    if setup is None:
        click.echo(
            f"publish   {bundle['allowed_publish']} (QoS 1); Last Will on {bundle['topics']['status']}"
        )
    else:
        click.echo(f"prefix    {setup['topic_prefix']} (the firmware's own topics under it)")
        _lines(setup_lines(setup))
    click.echo(f"shown once (credentials issue {bundle['credentials_version']}): note it or use --bundle-dir")


# --- service accounts ---------------------------------------------------------------------------
@click.group(name="service-account")
def service_account() -> None:
    """Broker accounts of Circulo's services: add, rotate, list."""


@service_account.command(name="add")
@click.argument("username")
@click.option("--role", type=click.Choice(sorted(service_accounts.SERVICE_ACCOUNT_ROLES)), required=True)
@JSON_OPTION
@pass_cli
@one_line_errors
@audited("registry")
def service_account_add(ctx: CliContext, username: str, role: str, as_json: bool) -> None:
    """Create a service account with its role; its password is shown once."""
    settings = registry_settings(ctx)
    with store.database(settings.database_url) as conn, broker_admin(settings) as admin:
        credentials = service_accounts.add_service_account(admin, username, role, conn)
    _show_service(settings, credentials, as_json)


@service_account.command(name="rotate")
@click.argument("username")
@JSON_OPTION
@pass_cli
@one_line_errors
@audited("registry")
def service_account_rotate(ctx: CliContext, username: str, as_json: bool) -> None:
    """Give a service account a new password (the old one stops working)."""
    settings = registry_settings(ctx)
    with store.database(settings.database_url) as conn, broker_admin(settings) as admin:
        credentials = service_accounts.rotate_service_account(admin, username, conn)
    _show_service(settings, credentials, as_json)


@service_account.command(name="list")
@JSON_OPTION
@pass_cli
@one_line_errors
def service_account_list(ctx: CliContext, as_json: bool) -> None:
    """List service accounts (from the broker; no passwords)."""
    with broker_admin(registry_settings(ctx)) as admin:
        found = service_accounts.list_service_accounts(admin)
    if as_json:
        echo_json([{"username": c.username, "role": r, "disabled": c.disabled} for c, r in found])
    else:
        rows = [(c.username, r, c.disabled) for c, r in found]
        _lines(render.table(("USERNAME", "ROLE", "DISABLED"), rows))


def _show_service(
    settings: RegistrySettings, credentials: service_accounts.ServiceCredentials, as_json: bool
) -> None:
    endpoint = MqttEndpoint.from_url(settings.mqtt_url)
    url = credentials.url(endpoint)
    if as_json:
        echo_json({**vars(credentials), "url": url})
    else:
        click.echo(f"service account {credentials.username} ({credentials.role})")
        click.echo(f"password  {credentials.password}")
        click.echo(f"url       {url}")
        click.echo("shown once: put it in the service's CIRCULO_MQTT_URL")


def _lines(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


member.add_command(member_statement_command)  # built in cli/statements.py (it needs the ledger)

commands = (coop, member, device, service_account)
