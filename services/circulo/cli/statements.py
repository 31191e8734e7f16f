"""`circulo statements build` and `circulo member statement`: member statements (SPEC §12)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import psycopg

from circulo.cli.common import CliContext, echo_json, micro_units, one_line_errors, pass_cli
from circulo.errors import ServiceUnavailable
from circulo.ledger import journal
from circulo.rewards.policy import load_policy
from circulo.rewards.records import PlanContext
from circulo.rewards.settings import RewardsSettings, collection_grace_s, idle_timeout_s
from circulo.settings import load_settings
from circulo.statements import links
from circulo.statements.check import check_statement
from circulo.statements.collect import ledger_view, member_statement
from circulo.statements.pending import plan_context
from circulo.statements.settings import StatementsSettings
from circulo.statements.site import build_site
from circulo.store.db import connect, first_line


def statements_settings(ctx: CliContext) -> StatementsSettings:
    """The statements' settings from flags, environment and config file."""
    return load_settings(
        StatementsSettings, flags=ctx.flags(), config_file=ctx.config_file, section="statements"
    )


@contextlib.contextmanager
def database(url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection (a build opens its own snapshot) whose errors are one line."""
    try:
        with connect(url, autocommit=True, application_name="circulo-statements") as conn:
            yield conn
    except psycopg.Error as e:
        raise ServiceUnavailable(f"database: {first_line(e)}") from e


def engine_context(ctx: CliContext, conn: psycopg.Connection) -> PlanContext:
    """The rewards engine's policy and timing (its ``[rewards]`` settings), and W now."""
    rewards = load_settings(
        RewardsSettings, flags=ctx.flags(), config_file=ctx.config_file, section="rewards"
    )
    policy = load_policy(rewards.policy_path)
    return plan_context(
        conn,
        policy,
        grace_s=collection_grace_s(rewards, policy),
        idle_timeout_s=idle_timeout_s(rewards, policy),
    )


@click.group(name="statements")
def command() -> None:
    """Member statements: a static site of pages that check themselves in the browser."""


@command.command(name="build")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="The site's folder."
)
@click.option("--coop", "coop_id", help="Only this co-op's members [default: every co-op].")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (every page's path).")
@pass_cli
@one_line_errors
def build(ctx: CliContext, out: Path, coop_id: str | None, as_json: bool) -> None:
    """Write one page per member (at an unguessable path) and each co-op's index of links."""
    settings = statements_settings(ctx)
    pinned = settings.pinned_key()
    secret = links.load_or_create_secret(settings.link_secret_path)
    with database(settings.database_url) as conn:
        report = build_site(
            conn, out, coop_id=coop_id, ctx=engine_context(ctx, conn), pinned=pinned, secret=secret
        )
    if as_json:
        echo_json(report.to_dict())
        return
    click.echo(
        f"{report.pages} member pages in {report.out}, against checkpoint size {report.checkpoint['size']}"
    )
    for coop in report.coops:
        click.echo(f"  {coop.coop_id}: index {coop.index} ({len(coop.members)} members)")
    if report.failed_entries or not report.root_matches:
        click.echo(f"warning: {report.failed_entries} entries do not check out; their pages say so", err=True)


@click.command(name="statement")
@click.argument("account")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output: the page's data and checks.")
@pass_cli
@one_line_errors
def member_statement_command(ctx: CliContext, account: str, as_json: bool) -> None:
    """One member's statement: balances, pending estimates, entries in words, proofs and their checks."""
    settings = statements_settings(ctx)
    pinned = settings.pinned_key()
    with database(settings.database_url) as conn:
        plan = engine_context(ctx, conn)
        with journal.snapshot(conn):
            statement = member_statement(conn, account, ledger_view(conn), plan)
    checks = check_statement(statement, pinned)
    secret = links.existing_secret(settings.link_secret_path)
    page = links.member_path(secret, account) if secret is not None else None  # None: no site built yet
    if as_json:
        echo_json({**statement.data(), "pinned_key": pinned.to_dict(), "checks": checks, "page": page})
        return
    print_statement(statement.data(), checks)


def print_statement(data: dict[str, Any], checks: dict[str, Any]) -> None:
    """The statement as text: balances, pending estimates, entries with their verdicts."""
    click.echo(f"{data['account']} (member of {', '.join(data['coops'])})")
    for balance in data["balances"]:
        click.echo(f"  balance {micro_units(balance['amount_micro'])} {balance['token']}")
    for item in data["pending"]:
        estimate = f"~{micro_units(item['estimate_micro'])} {item['token']}"
        click.echo(f"  pending {estimate}: {item['what']} — {item['why']}")
    verdicts = {c["seq"]: c["verdict"] for c in checks["entries"]}
    for item in data["entries"]:
        seq = item["entry"]["seq"]
        click.echo(f"  #{seq} [{verdicts[seq]}] {item['words']}")
    click.echo(
        f"checkpoint signature {'holds' if checks['checkpoint'] else 'DOES NOT HOLD'} under the pinned key"
    )
