"""What a member statement holds, as plain data (pure): entries, proofs, balances, pending items.

A statement's :meth:`Statement.data` is what its page embeds and ``circulo member statement
--json`` prints. The co-op's pinned public key is *not* part of it: the page gets the key
from the co-op's configuration, beside the data it checks, never from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from circulo.ledger.checkpoint import Checkpoint
from circulo.ledger.entries import key_id
from circulo.statements.pending import PendingItem

STATEMENT_FORMAT = "circulo-statement/1"
# Evidence that describes other members' production: a member's own entries carry none since
# green settlements keep it in the treasury's certificate.issue record; older entries may.
FOREIGN_EVIDENCE = frozenset({"meter_hour", "meter_pair"})


@dataclass(frozen=True)
class PinnedKey:
    """The co-op's ledger public key as its configuration pins it (64 hex digits)."""

    public_key: str

    @property
    def key_id(self) -> str:
        """First 16 hex digits of SHA-256 of the raw key (SPEC §8)."""
        return key_id(bytes.fromhex(self.public_key))

    def to_dict(self) -> dict[str, str]:
        """The form the page reads: ``{key_id, public_key}``."""
        return {"key_id": self.key_id, "public_key": self.public_key}


@dataclass(frozen=True)
class StatementEntry:
    """One of the member's entries: its export form, its words, the evidence shown, its proof.

    ``withheld`` counts sources left out because they describe others (the entry's hash then
    cannot be checked on the page); ``proof`` is None for an entry after the checkpoint.
    """

    entry: Mapping[str, Any]
    words: str
    evidence: tuple[str, ...]
    proof: Mapping[str, Any] | None
    withheld: int = 0

    @property
    def seq(self) -> int:
        """The entry's position in the ledger."""
        return int(self.entry["seq"])

    def to_dict(self) -> dict[str, Any]:
        """The JSON form embedded in the page."""
        return {
            "entry": dict(self.entry),
            "words": self.words,
            "evidence": list(self.evidence),
            "proof": dict(self.proof) if self.proof is not None else None,
            "withheld": self.withheld,
        }


@dataclass(frozen=True)
class Statement:
    """One member's statement as of one checkpoint."""

    account: str
    coops: tuple[str, ...]
    built_at: str
    checkpoint: Checkpoint
    balances: Mapping[str, int]
    entries: Sequence[StatementEntry]
    pending: Sequence[PendingItem] = field(default=())
    watermark: str | None = None

    def data(self) -> dict[str, Any]:
        """The statement as JSON data (``circulo-statement/1``)."""
        return {
            "format": STATEMENT_FORMAT,
            "account": self.account,
            "coops": list(self.coops),
            "built_at": self.built_at,
            "watermark": self.watermark,
            "checkpoint": self.checkpoint.to_dict(),
            "balances": [{"token": t, "amount_micro": a} for t, a in sorted(self.balances.items())],
            "entries": [e.to_dict() for e in self.entries],
            "pending": [p.to_dict() for p in self.pending],
        }
