"""`circulo certificates`: list, show, transfer, cancel, claim, withdraw, export, assign, issuer."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from circulo.certificates import energytag, registry
from circulo.certificates.actions import ActionRequest, BundleState, treasury_of
from circulo.certificates.records import Action, Issuer, parse_period
from circulo.certificates.registry import Done, check_account
from circulo.cli.audited import audited
from circulo.cli.common import CliContext, echo_json, one_line_errors, pass_cli, setup_logging
from circulo.cli.ledger import database, json_option, key_option, ledger_settings
from circulo.ledger import journal
from circulo.ledger.entries import format_ts
from circulo.ledger.keys import load_signer

ENERGY_SOURCES = (
    "solar_pv", "wind", "hydro", "biomass", "nuclear", "electrolysis", "geothermal", "battery_storage", "chp",
    "other",
)  # fmt: skip
SHOWING = ("coop_id", "as_json")  # the issuer command's options that change nothing
bundles_argument = click.argument("bundles", nargs=-1, type=click.IntRange(min=1), required=True)
wh_option = click.option(
    "--wh", type=click.IntRange(min=1), help="Act on only the first WH Wh of the bundles, in the order named."
)
holder_option = click.option("--holder", required=True, help="The account that holds the bundles (acts).")


@click.group(name="certificates")
def command() -> None:
    """Energy certificates (EnergyTag granular certificates, 1 Wh each) issued by green settlements."""


def stamp(value: Any) -> Any:
    """Datetimes in the entry form, everything else as is (for --json and text)."""
    return format_ts(value) if isinstance(value, datetime) else value


def moment(text: str | None, option: str) -> datetime | None:
    """A ``--from``/``--to`` value: a date or an RFC 3339 time (UTC when it names no zone)."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise click.BadParameter(f"{text!r} is not a date or time", param_hint=option) from e
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@command.command(name="list")
@click.option("--coop", "coop_id", help="Only this co-op's certificates.")
@click.option("--holder", help="Only bundles held by this account.")
@click.option("--status", type=click.Choice(["active", "cancelled", "claimed", "withdrawn"]))
@click.option("--device", "device_id", help="Only this meter's.")
@click.option("--from", "since", help="Produced at or after this time (UTC date or RFC 3339).")
@click.option("--to", "until", help="Produced before this time.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@json_option
@pass_cli
@one_line_errors
def list_command(
    ctx: CliContext, /, since: str | None, until: str | None, as_json: bool, **filters: Any
) -> None:
    """Live bundles, by first certificate id: what an action names."""
    with database(ledger_settings(ctx)) as conn:
        rows = registry.list_bundles(
            conn, since=moment(since, "--from"), until=moment(until, "--to"), **filters
        )
    if as_json:
        echo_json([{k: stamp(v) for k, v in row.items()} for row in rows])
        return
    for r in rows:
        ids = f"{r['range_start']}-{r['range_end']}"
        wh = r["range_end"] - r["range_start"] + 1
        click.echo(f"{ids:>23}  {wh:>8} Wh  {r['device_id']:<16} {stamp(r['production_start'])[:16]}Z  "
                   f"{r['status']:<9}  {r['holder']}")  # fmt: skip


@command.command()
@click.argument("certificate_id", type=click.IntRange(min=1))
@json_option
@pass_cli
@one_line_errors
def show(ctx: CliContext, certificate_id: int, as_json: bool) -> None:
    """The live bundle holding a certificate id: state, issuance and its ledger records."""
    with database(ledger_settings(ctx)) as conn:
        shown = registry.show_bundle(conn, certificate_id)
    if as_json:
        echo_json({k: stamp(v) if k != "history" else [{**h, "ts": stamp(h["ts"])} for h in v]
                   for k, v in shown.items()})  # fmt: skip
        return
    click.echo(
        f"bundle {shown['range_start']}-{shown['range_end']} "
        f"({shown['range_end'] - shown['range_start'] + 1} Wh): {shown['status']}, held by {shown['holder']}"
    )
    click.echo(
        f"  produced by {shown['device_id']} {stamp(shown['production_start'])} (1 h), "
        f"co-op {shown['coop_id']}, expires {stamp(shown['expires_at'])}"
    )
    if shown["beneficiary"]:
        click.echo(
            f"  beneficiary {shown['beneficiary']}, reporting period {stamp(shown['period_start'])} – "
            f"{stamp(shown['period_end'])}"
        )
    click.echo(
        f"  issued as {shown['issued_range_start']}-{shown['issued_range_end']} by entry "
        f"{shown['issued_seq']} ({shown['settlement_id']}), hash {shown['hash']}"
    )
    for h in shown["history"]:
        click.echo(f"  entry {h['seq']}  {stamp(h['ts'])}  {h['reason']}  {h['account']}")  # fmt: skip


def run_action(
    ctx: CliContext,
    signing_key_path: Path | None,
    starts: tuple[int, ...],
    request_of: Callable[[tuple[BundleState, ...]], ActionRequest],
) -> Done:
    """Load the key, then carry out the action in one transaction."""
    settings = ledger_settings(ctx, signing_key_path=signing_key_path)
    setup_logging(ctx)
    signer = load_signer(settings.signing_key_path)
    with database(settings) as conn:
        journal.ensure_signer_matches(conn, signer)
        return registry.act(
            conn, request_of, starts, signer=signer, operator=registry.operator_name(), now=datetime.now(UTC)
        )


def report(done: Done, as_json: bool) -> None:
    """What the action recorded, and how to prove it."""
    source = done.entry.sources[0]
    if as_json:
        echo_json({"seq": done.entry.seq, "hash": done.entry.hash, "reason": done.entry.reason,
                   "settlement_id": done.entry.settlement_id, "account": done.entry.account,
                   "action": dict(source)})  # fmt: skip
        return
    ranges = ", ".join(f"{r['range_start']}-{r['range_end']}" for r in source["ranges"])
    click.echo(f"{done.plan.request.action}: {source['wh']} Wh ({ranges}) — entry {done.entry.seq}, "
               f"hash {done.entry.hash}")  # fmt: skip
    click.echo(f"prove it: circulo ledger prove {done.entry.seq} --json")


def request_for(action: Action, account: str | None, **options: Any) -> Callable[..., ActionRequest]:
    """How to build the request once the bundles are read (withdraw: their issuer acts)."""

    def build(bundles: tuple[BundleState, ...]) -> ActionRequest:
        actor = account if account is not None else treasury_of(bundles[0].coop_id) if bundles else ""
        return ActionRequest(action=action, account=actor, bundles=bundles, **options)

    return build


@command.command()
@bundles_argument
@holder_option
@click.option("--to", "to_account", required=True, help="The receiving account (any account id).")
@wh_option
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def transfer(
    ctx: CliContext, bundles: tuple[int, ...], holder: str, to_account: str, wh: int | None,
    signing_key_path: Path | None, as_json: bool,
) -> None:  # fmt: skip
    """Move active bundles (named by first certificate id) to another account."""
    request = request_for("transfer", check_account(holder, "--holder"), wh=wh, to=to_account)
    report(run_action(ctx, signing_key_path, bundles, request), as_json)


@command.command()
@bundles_argument
@holder_option
@click.option(
    "--period", required=True, help="Reporting period: YYYY, YYYY-MM, YYYY-MM-DD or FROM..TO (days)."
)
@click.option("--beneficiary", help="Who may claim the attributes (default: the holder).")
@wh_option
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def cancel(
    ctx: CliContext, bundles: tuple[int, ...], holder: str, period: str, beneficiary: str | None,
    wh: int | None, signing_key_path: Path | None, as_json: bool,
) -> None:  # fmt: skip
    """Retire active bundles for a beneficiary and reporting period (they no longer trade)."""
    request = request_for(
        "cancel",
        check_account(holder, "--holder"),
        wh=wh,
        beneficiary=beneficiary,
        period=parse_period(period),
    )
    report(run_action(ctx, signing_key_path, bundles, request), as_json)


@command.command()
@bundles_argument
@holder_option
@click.option("--beneficiary", help="Must be the cancellation's (the default).")
@click.option("--period", help="Must be the cancellation's (the default).")
@wh_option
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def claim(
    ctx: CliContext, bundles: tuple[int, ...], holder: str, beneficiary: str | None, period: str | None,
    wh: int | None, signing_key_path: Path | None, as_json: bool,
) -> None:  # fmt: skip
    """Claim cancelled bundles' attributes for their beneficiary (final: a Wh is claimed once)."""
    request = request_for(
        "claim", check_account(holder, "--holder"), wh=wh, beneficiary=beneficiary,
        period=parse_period(period) if period else None,
    )  # fmt: skip
    report(run_action(ctx, signing_key_path, bundles, request), as_json)


@command.command()
@bundles_argument
@click.option("--why", required=True, help="Why the issuer withdraws them (recorded).")
@wh_option
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def withdraw(
    ctx: CliContext, bundles: tuple[int, ...], why: str, wh: int | None, signing_key_path: Path | None,
    as_json: bool,
) -> None:  # fmt: skip
    """The issuer (treasury@COOP) withdraws active or cancelled bundles; claimed ones stay."""
    request = request_for("withdraw", None, wh=wh, why=why)
    report(run_action(ctx, signing_key_path, bundles, request), as_json)


@command.command()
@click.option("--format", "fmt", type=click.Choice(["energytag"]), default="energytag", show_default=True)
@click.option("--coop", "coop_id", help="Only this co-op's certificates.")
@click.option("--from", "since", help="Produced at or after this time (UTC date or RFC 3339).")
@click.option("--to", "until", help="Produced before this time.")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File (default stdout)."
)
@pass_cli
@one_line_errors
def export(
    ctx: CliContext, fmt: str, coop_id: str | None, since: str | None, until: str | None, output: Path | None
) -> None:
    """The live bundles as an EnergyTag GC Registry API v2 document, validated against its schema."""
    with database(ledger_settings(ctx)) as conn:
        rows = registry.export_rows(
            conn, coop_id=coop_id, since=moment(since, "--from"), until=moment(until, "--to")
        )
    doc = energytag.document(rows, coop_id=coop_id, now=datetime.now(UTC))
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    partial = output.with_name(output.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, output)
    click.echo(f"{len(doc['granular_certificate_bundles'])} bundles exported to {output} ({fmt})", err=True)


@command.command()
@click.argument("device_id")
@click.option("--to", "holder", help="A member of the meter's co-op (its owner).")
@click.option("--treasury", is_flag=True, help="Back to the co-op's treasury (the default).")
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def assign(ctx: CliContext, device_id: str, holder: str | None, treasury: bool, as_json: bool) -> None:
    """Who holds a meter's future certificates: its owner (a member), or the treasury."""
    if (holder is None) == (not treasury):
        raise click.UsageError("give either --to ACCOUNT or --treasury")
    with database(ledger_settings(ctx)) as conn, conn.transaction():
        now_held_by = registry.assign(conn, device_id, holder)
    if as_json:
        echo_json({"device_id": device_id, "holder": now_held_by})
    else:
        click.echo(f"certificates of {device_id} issued from now on go to {now_held_by}")


@command.command()
@click.argument("coop_id")
@click.option("--issuing-body", help="Who issues (IssuanceMetaData.issuing_body).")
@click.option("--country", "country_of_issuance", help="The domain of issuance, e.g. NL.")
@click.option("--grid", "connected_grid_identification", help="The grid the energy is injected into.")
@click.option("--market-zone", "issue_market_zone", help="Bidding zone or price node, e.g. 10YNL----------L.")
@click.option("--energy-source", type=click.Choice(ENERGY_SOURCES), help="Of the co-op's meters.")
@click.option("--expiry-days", type=click.IntRange(1, 36500), help="Days after the production hour.")
@json_option
@pass_cli
@one_line_errors
@audited("ledger", when=lambda params: any(v is not None for k, v in params.items() if k not in SHOWING))
def issuer(ctx: CliContext, /, coop_id: str, as_json: bool, **changes: Any) -> None:
    """Show, or set, the co-op's issuer attributes (they apply to certificates issued from now on)."""
    with database(ledger_settings(ctx)) as conn, conn.transaction():
        current = registry.issuer(conn, coop_id)
        given = {k: v for k, v in changes.items() if v is not None}
        if given:
            current = Issuer(**{**vars(current), **given})
            registry.configure(conn, current)
    if as_json:
        echo_json(vars(current))
        return
    for name, value in vars(current).items():
        click.echo(f"{name:<30} {value}")
