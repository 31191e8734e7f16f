"""The page's checks, in Python (pure): what ``member statement --json`` reports and a build counts.

The same checks as the page's script (``assets/statement.js``), with the ledger's own
functions: each entry's hash, its inclusion proof against the checkpoint, the checkpoint's
signature under the pinned key, the entry's signature where it names that key, and the
settled balances against the entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from circulo.ledger.checkpoint import checkpoint_signature_holds
from circulo.ledger.entries import entry_hash, signed_body
from circulo.ledger.errors import InvalidProof
from circulo.ledger.keys import signature_holds
from circulo.ledger.proofs import verify_inclusion_document
from circulo.statements.model import PinnedKey, Statement, StatementEntry

Verdict = Literal["ok", "fail", "unproven", "partial"]


@dataclass(frozen=True)
class EntryCheck:
    """One entry's verdict and what failed (empty when nothing did)."""

    seq: int
    verdict: Verdict
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"seq": self.seq, "verdict": self.verdict, "problems": list(self.problems)}


def hash_holds(entry: Mapping[str, Any]) -> bool:
    """Whether the entry's hash is SHA-256(prev_hash || JCS(its signed body))."""
    try:
        return bool(entry_hash(entry["prev_hash"], signed_body(entry)) == entry["hash"])
    except (KeyError, ValueError, TypeError):
        return False


def proof_holds(item: StatementEntry, statement: Statement, pinned: PinnedKey) -> bool:
    """Whether the entry's proof puts its hash in the checkpoint's tree, signed by the pinned key."""
    if item.proof is None or item.proof.get("index") != item.seq - 1:
        return False
    keys = {pinned.key_id: pinned.public_key}
    try:
        verdict = verify_inclusion_document(
            item.proof, entry_hash=str(item.entry["hash"]), checkpoint=statement.checkpoint, public_keys=keys
        )
    except (InvalidProof, ValueError):
        return False
    return verdict.ok


def check_entry(item: StatementEntry, statement: Statement, pinned: PinnedKey) -> EntryCheck:
    """One entry's verdict, as the page gives it."""
    entry = item.entry
    problems = []
    if not item.withheld and not hash_holds(entry):
        problems.append("hash mismatch")
    if item.proof is not None and not proof_holds(item, statement, pinned):
        problems.append("inclusion proof or checkpoint does not hold")
    if entry["key_id"] == pinned.key_id and not signature_holds(
        pinned.public_key, str(entry["sig"]), bytes.fromhex(str(entry["hash"]))
    ):
        problems.append("bad signature")
    if problems:
        return EntryCheck(item.seq, "fail", tuple(problems))
    if item.proof is None:
        return EntryCheck(item.seq, "unproven")
    return EntryCheck(item.seq, "partial" if item.withheld else "ok")


def check_statement(statement: Statement, pinned: PinnedKey) -> dict[str, Any]:
    """Every check of a statement: the checkpoint, each entry, the balances."""
    keys = {pinned.key_id: pinned.public_key}
    entries = [check_entry(item, statement, pinned) for item in statement.entries]
    sums: dict[str, int] = {}
    for item in statement.entries:
        entry = item.entry
        if entry["kind"] != "record":
            sign = 1 if entry["kind"] == "mint" else -1
            sums[entry["token"]] = sums.get(entry["token"], 0) + sign * int(entry["amount_micro"])
    return {
        "checkpoint": checkpoint_signature_holds(statement.checkpoint, keys),
        "entries": [c.to_dict() for c in entries],
        "balances": all(sums.get(token, 0) == amount for token, amount in statement.balances.items()),
        "failed": sum(c.verdict == "fail" for c in entries),
    }
