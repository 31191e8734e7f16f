"""Building statement sites and pages in tests, from the scenario's database or a tampered copy."""

from __future__ import annotations

from pathlib import Path

from tests.statements.conftest import Coop

from circulo.ledger import journal
from circulo.statements.collect import ledger_view, member_statement
from circulo.statements.model import PinnedKey, Statement
from circulo.statements.page import member_page
from circulo.statements.site import BuildReport, build_site


def build(coop: Coop, out: Path, secret: bytes, coop_id: str | None = None) -> BuildReport:
    """``statements build`` of the scenario's database."""
    with coop.connect() as conn:
        ctx = coop.context(conn)
        return build_site(conn, out, coop_id=coop_id, ctx=ctx, pinned=coop.pinned, secret=secret)


def statement_of(coop: Coop, account: str) -> Statement:
    """One member's statement, as a build reads it."""
    with coop.connect() as conn:
        ctx = coop.context(conn)
        with journal.snapshot(conn):
            return member_statement(conn, account, ledger_view(conn), ctx)


def write_page(statement: Statement, pinned: PinnedKey, path: Path) -> Path:
    """A member page written to ``path`` (for pages built from tampered data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(member_page(statement, pinned), encoding="utf-8")
    return path
