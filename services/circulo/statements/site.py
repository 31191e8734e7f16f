"""``circulo statements build``, the shell: read every statement in one snapshot, write the site whole.

Layout of the output folder (serve it as static files, directory listing off, over https)::

    index.html, robots.txt         no links: members get their own address from the co-op
    m/{token}/index.html           one member's statement (an account in several co-ops has one)
    c/{token}/index.html           a co-op's index: its members' accounts, links, no amounts
    .circulo-statements            what this folder is (a rebuild replaces only such a folder)

The site is built in a sibling folder and swapped in by two renames, so a reader sees the
old site or the new one; a page of a former member does not survive a rebuild.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from circulo.errors import ConfigError, NotFound
from circulo.ledger import journal
from circulo.ledger.entries import format_ts
from circulo.rewards.records import PlanContext
from circulo.statements import links, page, queries
from circulo.statements.check import check_statement
from circulo.statements.collect import LedgerView, ledger_view, member_statement
from circulo.statements.model import STATEMENT_FORMAT, PinnedKey, Statement

MARKER = ".circulo-statements"
ROBOTS = "User-agent: *\nDisallow: /\n"


@dataclass(frozen=True)
class CoopPages:
    """One co-op's index path and its members' page paths (relative to the site's root)."""

    coop_id: str
    name: str
    index: str
    members: Sequence[tuple[str, str]]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "coop_id": self.coop_id,
            "index": self.index,
            "members": [{"account": a, "page": p} for a, p in self.members],
        }


@dataclass(frozen=True)
class BuildReport:
    """What a build wrote, against which checkpoint, and whether everything checked out."""

    out: Path
    checkpoint: dict[str, Any]
    coops: Sequence[CoopPages]
    pages: int
    failed_entries: int
    root_matches: bool
    statements: Sequence[Statement] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (paths relative to ``out``)."""
        return {
            "out": str(self.out),
            "checkpoint": self.checkpoint,
            "pages": self.pages,
            "failed_entries": self.failed_entries,
            "root_matches": self.root_matches,
            "coops": [c.to_dict() for c in self.coops],
        }


@dataclass(frozen=True)
class SiteInput:
    """Everything a build reads, from one snapshot."""

    view: LedgerView
    coops: Sequence[tuple[str, str]]
    members: Sequence[tuple[str, str]]
    statements: Sequence[Statement]


def read_site(conn: psycopg.Connection, coop_id: str | None, ctx: PlanContext) -> SiteInput:
    """The checkpoint, co-ops, members and every member's statement, in one REPEATABLE READ snapshot."""
    with journal.snapshot(conn):
        coops = [(c, n) for c, n in conn.execute(queries.COOPS, {"coop_id": coop_id})]
        if coop_id is not None and not coops:
            raise NotFound(f"co-op {coop_id} is not registered")
        view = ledger_view(conn)
        members = [(c, a) for c, a in conn.execute(queries.MEMBERS, {"coop_id": coop_id})]
        now = datetime.now(UTC)
        accounts = sorted({a for _c, a in members})
        statements = [member_statement(conn, a, view, ctx, now=now) for a in accounts]
    return SiteInput(view, coops, members, statements)


def coop_pages(site: SiteInput, secret: bytes) -> list[CoopPages]:
    """Each co-op's index path and its members' page paths."""
    return [
        CoopPages(
            coop_id,
            name,
            links.index_path(secret, coop_id),
            [(a, links.member_path(secret, a)) for c, a in site.members if c == coop_id],
        )
        for coop_id, name in site.coops
    ]


def write_pages(
    root: Path, site: SiteInput, coops: Sequence[CoopPages], pinned: PinnedKey, secret: bytes
) -> None:
    """Every file of the site under ``root`` (a fresh folder)."""
    write(root / "index.html", page.site_root())
    write(root / "robots.txt", ROBOTS)
    for statement in site.statements:
        write(
            root / links.member_path(secret, statement.account) / "index.html",
            page.member_page(statement, pinned),
        )
    for coop in coops:
        hrefs = [(a, f"../../{p}") for a, p in coop.members]
        write(root / coop.index / "index.html", page.coop_index(coop.coop_id, coop.name, hrefs))
    marker = {
        "format": STATEMENT_FORMAT,
        "built_at": format_ts(datetime.now(UTC)),
        **site.view.checkpoint.to_dict(),
    }
    write(root / MARKER, json.dumps(marker, sort_keys=True) + "\n")


def write(path: Path, text: str) -> None:
    """One file of the site (its folder created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def check_destination(out: Path) -> None:
    """Refuse to replace a folder that is not an earlier statements site (or empty)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ConfigError(f"{out} is not empty and not a statements site; refusing to replace it")


def swap_in(built: Path, out: Path) -> None:
    """Put the built folder at ``out``, replacing an earlier site, by renames in the same parent."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.replace(out, old / "site")
    os.replace(built, out)
    if old is not None:
        shutil.rmtree(old)


def build_site(
    conn: psycopg.Connection,
    out: Path,
    *,
    coop_id: str | None,
    ctx: PlanContext,
    pinned: PinnedKey,
    secret: bytes,
) -> BuildReport:
    """Build the statements site at ``out`` from the database; nothing is written on an error."""
    out = out.expanduser().resolve()
    check_destination(out)
    site = read_site(conn, coop_id, ctx)
    return write_site(out, site, pinned, secret)


def write_site(out: Path, site: SiteInput, pinned: PinnedKey, secret: bytes) -> BuildReport:
    """Write ``site`` at ``out`` (built beside it, then swapped in) and report what it holds."""
    check_destination(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    coops = coop_pages(site, secret)
    built = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        write_pages(built, site, coops, pinned, secret)
        os.chmod(built, 0o755)  # noqa: S103 (mkdtemp made it 0700; a web server must read the site)
        swap_in(built, out)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    failed = sum(check_statement(s, pinned)["failed"] for s in site.statements)
    return BuildReport(
        out=out,
        checkpoint=site.view.checkpoint.to_dict(),
        coops=coops,
        pages=len(site.statements),
        failed_entries=failed,
        root_matches=site.view.root_matches,
        statements=site.statements,
    )
