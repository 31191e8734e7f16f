"""`circulo treasury`: a co-op's treasury shares its surplus with the members (dividends)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import click

from circulo.cli.audited import audited
from circulo.cli.common import (
    TOKEN_AMOUNT,
    CliContext,
    echo_json,
    micro_units,
    one_line_errors,
    pass_cli,
    setup_logging,
)
from circulo.cli.ledger import database, json_option, key_option, ledger_settings, report_move
from circulo.ledger import journal
from circulo.ledger.keys import load_signer
from circulo.ledger.requests import InvalidRequest
from circulo.rewards import moves

DIVIDEND_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@click.group(name="treasury")
def command() -> None:
    """A co-op's treasury: dividends to its members."""


@command.command()
@click.option("--coop", "coop_id", required=True, help="The co-op whose treasury pays.")
@click.option("--token", type=click.Choice(["GRN", "RCY"]), required=True)
@click.option("--amount", "amount_micro", type=TOKEN_AMOUNT, help="How much to share, e.g. 120.5.")
@click.option("--all", "pay_all", is_flag=True, help="Share the treasury's whole balance.")
@click.option("--id", "dividend_id", help="The dividend's id (default: today's UTC date); an id pays once.")
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def dividend(
    ctx: CliContext,
    coop_id: str,
    token: str,
    amount_micro: int | None,
    pay_all: bool,
    dividend_id: str | None,
    signing_key_path: Path | None,
    as_json: bool,
) -> None:
    """Share --amount (or --all) of treasury@COOP among the members pro rata to their shares."""
    if (amount_micro is None) != pay_all:
        raise InvalidRequest("give either --amount X or --all")
    chosen_id = dividend_id or datetime.now(UTC).strftime("%Y-%m-%d")
    if not DIVIDEND_ID_RE.fullmatch(chosen_id):
        raise InvalidRequest(f"--id {chosen_id!r}: 1-64 letters, digits, '.', '_' or '-'")
    settings = ledger_settings(ctx, signing_key_path=signing_key_path)
    setup_logging(ctx)
    operator = moves.operator(load_signer(settings.signing_key_path))
    with database(settings) as conn:
        journal.ensure_signer_matches(conn, operator.signer)
        settlement = moves.pay_dividend(
            conn,
            coop_id=coop_id,
            token="GRN" if token == "GRN" else "RCY",
            amount_micro=amount_micro,
            dividend_id=chosen_id,
            operator=operator,
            now=datetime.now(UTC),
        )
    if not settlement.entries:
        if as_json:
            echo_json({"settlement_id": settlement.settlement_id, "entries": [], "paid_micro": 0})
        else:
            click.echo(f"co-op {coop_id} has no members holding shares: nothing paid")
        return
    if not as_json:
        click.echo(f"dividend of {micro_units(settlement.minted_micro)} {token} from treasury@{coop_id}")
    report_move(settlement, as_json)
