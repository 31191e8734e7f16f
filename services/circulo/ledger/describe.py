"""Ledger entries in plain words, for people: ``ledger history`` and member statements (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from circulo.ledger.entries import LedgerEntry

MICRO = 1_000_000


def amount_text(amount_micro: int, token: str | None) -> str:
    """``1.500000 GRN``: whole units with six decimals."""
    return f"{amount_micro // MICRO}.{amount_micro % MICRO:06d} {token or ''}".rstrip()


def first_source(entry: LedgerEntry) -> Mapping[str, Any]:
    """The entry's first source (every entry has at least one)."""
    return entry.sources[0] if entry.sources else {}


def describe_entry(entry: LedgerEntry) -> str:
    """What the entry did and why, e.g. ``received 2.000000 GRN: transfer from alice@coop1``."""
    if entry.kind == "record":
        if entry.reason.startswith("certificate."):
            return certificate_words(entry)
        return f"recorded {entry.reason.replace('.', ' ')} ({entry.settlement_id})"
    verb = "received" if entry.kind == "mint" else "paid"
    return f"{verb} {amount_text(entry.amount_micro, entry.token)}: {why(entry)}"


def certificate_words(entry: LedgerEntry) -> str:
    """``certificates issued: 1180 Wh (green:coop1:…)``, ``certificate claim: 100 Wh (1-100) for Acme``."""
    source = entry.sources[-1] if entry.reason == "certificate.issue" else first_source(entry)
    if entry.reason == "certificate.issue":
        wh = source.get("certified_wh", 0) if source.get("type") == "certificates" else 0
        return f"certificates issued: {wh} Wh ({entry.settlement_id})"
    ranges = ", ".join(f"{r.get('range_start')}-{r.get('range_end')}" for r in source.get("ranges") or [])
    party = {"to": " to ", "beneficiary": " for "}
    extra = "".join(f"{word}{source[key]}" for key, word in party.items() if source.get(key))
    return f"{entry.reason.replace('.', ' ')}: {source.get('wh')} Wh ({ranges}){extra}"


def settled(entry: LedgerEntry) -> str:
    """What a settlement id names after its rule, ``coop1:2025-06-01T10:00Z``."""
    return entry.settlement_id.split(":", 1)[-1]


def correction_words(entry: LedgerEntry, source: Mapping[str, Any]) -> str:
    """``correction of entry 12: meter double-counted``."""
    return f"correction of entry {entry.corrects_seq}: {source.get('why', '')}".rstrip(": ")


def transfer_words(entry: LedgerEntry, source: Mapping[str, Any]) -> str:
    """``transfer from alice@coop1`` (a mint) or ``transfer to bob@coop1`` (a burn)."""
    request = source.get("request") or {}
    if entry.kind == "mint":
        return f"transfer from {request.get('from')}"
    return f"transfer to {request.get('to')}"


def dividend_words(entry: LedgerEntry, source: Mapping[str, Any]) -> str:
    """``dividend 2026-Q4 (1 of 4 shares)``, or the treasury's ``dividend 2026-Q4 to the members``."""
    if entry.kind == "burn":
        return f"dividend {source.get('dividend_id')} to the members"
    shares = f"{source.get('account_shares')} of {source.get('total_shares')} shares"
    return f"dividend {source.get('dividend_id')} ({shares})"


def floor_words(entry: LedgerEntry, source: Mapping[str, Any]) -> str:
    """``floor top-up for 2026-11`` (the treasury's: ``floor top-ups for 2026-11``)."""
    return f"floor top-up{'s' if entry.kind == 'burn' else ''} for {source.get('month')}"


WORDS = {
    "green.energy": lambda e, _s: f"green energy ({settled(e)})",
    "recycle.deposit": lambda e, _s: f"recycling deposits ({settled(e)})",
    "repair": lambda e, _s: f"a repair ({settled(e)})",
    "correction": correction_words,
    "transfer": transfer_words,
    "dividend": dividend_words,
    "floor": floor_words,
}


def why(entry: LedgerEntry) -> str:
    """The reason an entry moved an account's balance, in words."""
    words = WORDS.get(entry.reason)
    return entry.reason if words is None else words(entry, first_source(entry))
