"""A member's entries and their evidence in plain words (pure), for the statement page.

``ledger.describe`` says what an entry did; this module says what each of its sources shows,
one line per source, and which sources a member's page must not show (other members'
production, which only entries written before green evidence moved to the treasury's
``certificate.issue`` record still carry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from circulo.ledger.describe import amount_text
from circulo.statements.model import FOREIGN_EVIDENCE

Source = Mapping[str, Any]


def kg(grams: Any) -> str:
    """Grams as kilograms with three decimals."""
    return f"{int(grams) / 1000:.3f} kg" if isinstance(grams, int) else "? kg"


def deposit_words(s: Source) -> str:
    """A deposit that minted."""
    return (
        f"deposit {s.get('event_id')}: {s.get('weight_g')} g {s.get('material')} at {s.get('device_id')}, "
        f"{s.get('ts')}, {s.get('rate_rcy_per_kg')} RCY/kg"
    )


def collection_words(s: Source) -> str:
    """The collection a deposit settled with, and its mass balance."""
    return (
        f"collection {s.get('event_id')} of {s.get('device_id')} at {s.get('ts')}: "
        f"{kg(s.get('collected_g'))} weighed for {kg(s.get('deposits_g'))} deposited "
        f"(tolerance {s.get('tolerance_pct')} %)"
    )


def split_words(s: Source) -> str:
    """How a green settlement was shared, as it concerns the account."""
    return (
        f"{s.get('coop_id')} credited {s.get('credited_wh')} Wh at {s.get('grn_per_kwh')} GRN/kWh: "
        f"{amount_text(int(s.get('amount_micro') or 0), 'GRN')}, of which the treasury "
        f"{amount_text(int(s.get('treasury_micro') or 0), 'GRN')}; your "
        f"{s.get('account_shares')} of {s.get('total_shares')} shares"
    )


def evidence_digest_words(s: Source) -> str:
    """Where a green settlement's meter records are, bound by their digest."""
    return (
        f"the settlement's {s.get('sources')} meter records ({s.get('credited_wh')} Wh) are in the co-op "
        f"treasury's certificate record, SHA-256 {str(s.get('sha256'))[:16]}…"
    )


def repair_words(s: Source) -> str:
    """The repair a mint is for."""
    roles = ", ".join(f"{r} {s[r]}" for r in ("owner", "repairer") if r in s)
    return (
        f"repair {s.get('event_id')} at {s.get('device_id')}, {s.get('ts')}: {s.get('category')} "
        f"{str(s.get('status')).replace('_', ' ')}, {s.get('weight_g')} g at {s.get('rcy_per_kg')} RCY/kg; "
        f"{roles} (owner's part {s.get('owner_pct')} %)"
    )


def cap_words(s: Source) -> str:
    """The daily cap's arithmetic for a capped mint."""
    return (
        f"daily cap {amount_text(int(s.get('cap_micro') or 0), 'RCY')} on {s.get('day')}: "
        f"{amount_text(int(s.get('minted_micro') or 0), 'RCY')} of "
        f"{amount_text(int(s.get('requested_micro') or 0), 'RCY')} minted for {s.get('event_id')}"
    )


SOURCE_WORDS: dict[str, Callable[[Source], str]] = {
    "deposit": deposit_words,
    "collection": collection_words,
    "split": split_words,
    "evidence": evidence_digest_words,
    "repair": repair_words,
    "daily_cap": cap_words,
}


def source_words(source: Source) -> str:
    """One source in words; an unknown type lists its fields."""
    words = SOURCE_WORDS.get(str(source.get("type")))
    if words is not None:
        return words(source)
    return ", ".join(f"{k} {v}" for k, v in sorted(source.items()) if not isinstance(v, dict | list))


def foreign(source: Source) -> bool:
    """Whether a source describes other members' production (never shown on a member's page)."""
    return source.get("type") in FOREIGN_EVIDENCE


def shown_sources(sources: list[Source]) -> tuple[list[Source], int]:
    """The sources a member's page may show, and how many were withheld."""
    shown = [s for s in sources if not foreign(s)]
    return shown, len(sources) - len(shown)
