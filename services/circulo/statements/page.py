"""The static pages of a statements site (pure): a member's page, a co-op's index, the site root.

Each page is one self-contained HTML file: its style, its data and its checking script are
inline, and its Content-Security-Policy allows no request of any kind (``default-src
'none'``) and only the page's own two scripts (by SHA-256), so it works offline, saved to a
phone, and cannot leak a byte. The text is written server-side, so the page reads and
prints without JavaScript; the script only adds the verdict of each check.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from circulo.ledger.describe import amount_text
from circulo.ledger.entries import parse_ts
from circulo.statements.model import PinnedKey, Statement, StatementEntry
from circulo.statements.pending import PendingItem

NOBLE_VERSION = "3.2.0"
NOBLE_EXPORT = (
    "export { etc, getPublicKey, getPublicKeyAsync, hash, hashes, keygen, keygenAsync, Point, sign, "
    "signAsync, utils, verify, verifyAsync, };"
)
NOBLE_SHA256 = "a4f631d1876b5d9e43a86cd71194ca27b5e1451edf4ba4db9a418f40a475569a"


def asset(*path: str) -> str:
    """A file of ``circulo/statements/assets`` as text."""
    return resources.files("circulo.statements").joinpath("assets", *path).read_text(encoding="utf-8")


@cache
def noble_script() -> str:
    """The vendored noble-ed25519 (checked against its recorded SHA-256) in a function scope."""
    source = asset("vendor", "noble-ed25519", "index.js")
    if hashlib.sha256(source.encode("utf-8")).hexdigest() != NOBLE_SHA256 or NOBLE_EXPORT not in source:
        raise RuntimeError("the vendored noble-ed25519 is not the recorded 3.2.0 file")
    body = source.replace(NOBLE_EXPORT, f'return {{ version: "{NOBLE_VERSION}", verifyAsync }};')
    return f'const nobleEd25519 = (() => {{\n"use strict";\n{body}\n}})();\n'


def csp_hash(text: str) -> str:
    """A CSP source expression for an inline script or style: ``'sha256-…'``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def json_block(element_id: str, value: Any) -> str:
    """A JSON data block that no content can close early (``<``, ``>`` and ``&`` escaped)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


@dataclass(frozen=True)
class Page:
    """An HTML document's parts: title, body, inline scripts (data blocks are part of the body)."""

    title: str
    body: str
    scripts: Sequence[str] = ()

    def render(self) -> str:
        """The whole document, with a CSP that allows exactly its inline style and scripts."""
        style = asset("statement.css")
        policy = "; ".join([
            "default-src 'none'",
            f"style-src {csp_hash(style)}",
            f"script-src {' '.join(csp_hash(s) for s in self.scripts) or chr(39) + 'none' + chr(39)}",
            "base-uri 'none'",
            "form-action 'none'",
        ])  # fmt: skip
        scripts = "".join(f"<script>{s}</script>\n" for s in self.scripts)
        return (
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<meta name="referrer" content="no-referrer">\n<meta name="robots" content="noindex, nofollow">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy, quote=False)}">\n'
            f"<title>{html.escape(self.title)}</title>\n<style>{style}</style>\n</head>\n"
            f'<body data-verification="pending">\n{self.body}\n{scripts}</body>\n</html>\n'
        )


def esc(value: object) -> str:
    """Text for HTML."""
    return html.escape(str(value), quote=True)


def when(ts: str) -> str:
    """``2025-06-01 10:00 UTC`` from an entry timestamp."""
    return parse_ts(ts).strftime("%Y-%m-%d %H:%M UTC")


def short_time(moment: datetime) -> str:
    """``2025-06-01 10:00 UTC``."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def entry_html(item: StatementEntry) -> str:
    """One entry: when, what in words, the evidence, and a slot for its check."""
    entry = item.entry
    evidence = "".join(f"<li>{esc(line)}</li>" for line in item.evidence)
    withheld = (
        f'<p class="small">{item.withheld} record(s) about other members are not shown.</p>'
        if item.withheld
        else ""
    )
    return (
        f'<li class="entry" id="entry-{item.seq}" data-seq="{item.seq}" data-check="pending">'
        f"<h3>Entry {item.seq} · {esc(when(entry['ts']))}</h3>"
        f'<p class="words">{esc(item.words)}</p>'
        f'<ul class="evidence">{evidence}</ul>{withheld}'
        f'<p class="small">settlement <code>{esc(entry["settlement_id"])}</code>'
        f" · policy {esc(entry['policy'])}"
        f' · hash <span class="hex">{esc(entry["hash"][:16])}…</span></p>'
        f'<p class="check" data-role="check">Not checked: this page checks itself with JavaScript.</p></li>'
    )


def balances_html(statement: Statement) -> str:
    """The settled balances, each with a slot for the check that the entries add up to it."""
    if not statement.balances:
        return '<p class="muted">Nothing settled yet.</p>'
    rows = "".join(
        f'<tr data-balance="{esc(token)}" data-check="pending"><td>{esc(token)}</td>'
        f'<td class="num">{esc(amount_text(amount, token))}</td><td data-role="check">not checked</td></tr>'
        for token, amount in sorted(statement.balances.items())
    )
    return f'<table><tr><th>token</th><th class="num">balance</th><th>check</th></tr>{rows}</table>'


def pending_html(items: Sequence[PendingItem]) -> str:
    """What is received and not settled yet, with estimates and why it waits."""
    if not items:
        return '<p class="muted">Nothing waiting: everything received for you has settled.</p>'
    lines = "".join(
        f'<li data-status="{esc(i.status)}"><p><strong>{esc(i.kind)}</strong> · {esc(short_time(i.ts))}: '
        f"{esc(i.what)}</p><p>estimate "
        f'<span class="estimate">{esc(amount_text(i.estimate_micro, i.token))}</span>'
        f" — {esc(i.why)}</p>" + (f'<p class="small">{esc(i.note)}</p>' if i.note else "") + "</li>"
        for i in items
    )
    return f'<ul class="pending">{lines}</ul>'


def checkpoint_html(statement: Statement, pinned: PinnedKey) -> str:
    """The checkpoint, the co-op's key the page trusts, and how to check the page yourself."""
    cp = statement.checkpoint
    return (
        '<section id="checkpoint" data-check="pending"><h2>How this page is checked</h2>'
        f"<p>The ledger's checkpoint of {esc(when(cp.ts))} covers its first {cp.size} entries; "
        "its Merkle root "
        f'is <span class="hex">{esc(cp.root)}</span>.</p>'
        f'<p class="check" data-role="check">Checkpoint signature not checked yet.</p>'
        "<p>The page trusts one key, your co-op's ledger key "
        f'<strong class="hex">{esc(pinned.key_id)}</strong> '
        f'(public key <span class="hex">{esc(pinned.public_key)}</span>). Compare it with the key your co-op '
        "publishes elsewhere (its notice board, its website, its annual report): if they differ, this page "
        "proves nothing.</p>"
        "<p>For every entry the page recomputes its SHA-256 hash from what it says (RFC 8785 canonical "
        "JSON), checks the inclusion proof that puts that hash in the checkpoint's Merkle tree (RFC 6962), "
        "and checks the checkpoint's Ed25519 signature with the co-op's key. Signatures are checked by "
        '<span id="ed25519">(not yet)</span>. Nothing is sent anywhere: the page makes no request.</p>'
        "<p>Keep this page (save it, or print it). Later checkpoints must extend this one; "
        "<code>circulo ledger prove --consistency "
        f"{cp.size}</code> proves that the co-op never rewrote this history.</p></section>"
    )


def member_page(statement: Statement, pinned: PinnedKey) -> str:
    """A member's statement page: only that member's data, checked in the browser."""
    entries = "".join(entry_html(e) for e in statement.entries) or '<li class="muted">No entries yet.</li>'
    watermark = (
        f" Data received up to {when(statement.watermark)} is included." if statement.watermark else ""
    )
    body = (
        f"<header><h1>Your Circulo statement</h1><p><strong>{esc(statement.account)}</strong>, member of "
        f"{esc(', '.join(statement.coops))}</p>"
        f'<p class="small">Built {esc(when(statement.built_at))}.{esc(watermark)}'
        "</p></header>"
        '<p id="verification" data-result="pending" role="status">Not checked: this page checks itself with '
        "JavaScript; without it nothing below is verified.</p>"
        f"<section><h2>Settled balances</h2>{balances_html(statement)}</section>"
        f"<section><h2>Pending (estimates)</h2>{pending_html(statement.pending)}</section>"
        f'<section><h2>Your entries</h2><ol class="entries">{entries}</ol></section>'
        f"{checkpoint_html(statement, pinned)}"
        "<footer>Circulo member statement · format circulo-statement/1 · amounts in whole tokens with six "
        "decimals (1 = 1,000,000 µ)</footer>\n"
        f"{json_block('circulo-pinned-key', pinned.to_dict())}\n"
        f"{json_block('circulo-statement', statement.data())}"
    )
    return Page(f"Statement for {statement.account}", body, (noble_script(), asset("statement.js"))).render()


def coop_index(coop_id: str, name: str, links: Sequence[tuple[str, str]]) -> str:
    """A co-op's index: its members' accounts, each a link to its page; no amounts, nothing else."""
    rows = "".join(f'<li><a href="{esc(href)}">{esc(account)}</a></li>' for account, href in links)
    body = (
        f'<header><h1>{esc(name)}: member statements</h1><p class="small">co-op {esc(coop_id)}</p></header>'
        "<p>Each link is a member's own statement. Give each member only their own link: anyone who has a "
        "link can read that page.</p>"
        f"<ul>{rows or '<li class=muted>No members.</li>'}</ul>"
    )
    return Page(f"{name}: member statements", body).render()


def site_root() -> str:
    """The site's front page: no links (each member gets theirs from the co-op)."""
    body = (
        "<header><h1>Circulo member statements</h1></header>"
        "<p>Your co-op gives you the address of your own statement. There is nothing to browse here.</p>"
    )
    return Page("Circulo member statements", body).render()
