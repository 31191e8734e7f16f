"""A member's statement from the database, the shell: one snapshot, one tree, one checkpoint.

Every statement of a build is read in one REPEATABLE READ transaction (the site agrees with
itself), against the latest signed checkpoint; the Merkle tree of the entries it covers is
built once and every member's proofs are read off it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from circulo.errors import NotFound
from circulo.ledger import journal, log, merkle
from circulo.ledger.checkpoint import Checkpoint
from circulo.ledger.describe import describe_entry
from circulo.ledger.entries import LedgerEntry, format_ts
from circulo.rewards.records import PlanContext
from circulo.statements import queries
from circulo.statements.model import Statement, StatementEntry
from circulo.statements.pending import pending_items
from circulo.statements.words import shown_sources, source_words


@dataclass(frozen=True)
class LedgerView:
    """The checkpoint statements are proven against, and the levels of its tree."""

    checkpoint: Checkpoint
    levels: list[list[bytes]]

    @property
    def root_matches(self) -> bool:
        """Whether the journal's entries give the checkpoint's root (else every proof fails)."""
        root = self.levels[-1][0] if self.levels[0] else merkle.EMPTY_ROOT
        return root.hex() == self.checkpoint.root

    def proof(self, seq: int) -> dict[str, Any] | None:
        """The SPEC §8 inclusion proof of entry ``seq`` (None when the checkpoint does not cover it)."""
        if not 1 <= seq <= self.checkpoint.size:
            return None
        return {
            "index": seq - 1,
            "size": self.checkpoint.size,
            "leaf_hash": self.levels[0][seq - 1].hex(),
            "path": [node.hex() for node in merkle.path_from_levels(seq - 1, self.levels)],
            "root": self.levels[-1][0].hex(),
        }


def ledger_view(conn: psycopg.Connection) -> LedgerView:
    """The latest signed checkpoint and its tree; NotFound when no checkpoint was ever signed."""
    checkpoint = log.latest_checkpoint(conn)
    if checkpoint is None:
        raise NotFound("the ledger has no signed checkpoint yet: run `circulo ledger checkpoint` first")
    return LedgerView(checkpoint, merkle.tree_levels(log.leaf_hashes(conn, checkpoint.size)))


def statement_entry(entry: LedgerEntry, view: LedgerView) -> StatementEntry:
    """One entry as its member's page shows it (sources that describe others withheld)."""
    form = entry.to_dict()
    shown, withheld = shown_sources(form["sources"])
    if withheld:
        form = {**form, "sources": shown}
    return StatementEntry(
        entry=form,
        words=describe_entry(entry),
        evidence=tuple(source_words(s) for s in shown),
        proof=view.proof(entry.seq),
        withheld=withheld,
    )


def member_coops(conn: psycopg.Connection, account: str) -> tuple[str, ...]:
    """The co-ops the account is a member of; NotFound when it is no member."""
    coops = tuple(row[0] for row in conn.execute(queries.MEMBER_COOPS, {"account": account}))
    if not coops:
        raise NotFound(f"{account} is no co-op's member (see `circulo member list`)")
    return coops


def member_statement(
    conn: psycopg.Connection, account: str, view: LedgerView, ctx: PlanContext, *, now: datetime | None = None
) -> Statement:
    """The account's statement: its entries (proven against ``view``), balances and pending items."""
    coops = member_coops(conn, account)
    balances = {
        token: int(amount)
        for token, amount in conn.execute(queries.BALANCES_OF_ACCOUNT, {"account": account})
    }
    return Statement(
        account=account,
        coops=coops,
        built_at=format_ts(now or datetime.now(UTC)),
        checkpoint=view.checkpoint,
        balances=balances,
        entries=[statement_entry(e, view) for e in journal.history(conn, account)],
        pending=pending_items(conn, account, coops, ctx),
        watermark=format_ts(ctx.watermark) if ctx.watermark else None,
    )
