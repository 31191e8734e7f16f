"""Verify the ledger in the database: chain, signatures, rotations, head, balances, checkpoints.

Runs in one REPEATABLE READ snapshot, so entries, head and balances are read as of the same
moment. The trusted public keys are the registry's unless the caller pins its own (an
auditor should: whoever can write the registry could otherwise add a key of their own).
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg

from circulo.ledger import journal, log
from circulo.ledger.journal import KeyRotation
from circulo.ledger.keys import signature_holds
from circulo.ledger.verify import (
    ChainVerifier,
    Finding,
    VerifyResult,
    check_balances,
    check_checkpoint,
    check_public_keys,
)


def verify_database(conn: psycopg.Connection, trusted_keys: Mapping[str, str] | None = None) -> VerifyResult:
    """Verify everything the database holds about the ledger; the first finding names the entry."""
    with journal.snapshot(conn):
        keys = dict(trusted_keys) if trusted_keys is not None else journal.public_keys(conn)
        recorded = journal.rotations(conn)
        verifier = ChainVerifier(keys, rotations={(r.old_key_id, r.new_key_id) for r in recorded})
        for entry in journal.iter_entries(conn):
            if verifier.feed(entry.to_dict()) is not None:
                break
        extra = check_public_keys(keys) + check_rotations(recorded, keys)
        if verifier.failure is None:
            extra += check_head(journal.read_head(conn), verifier)
            stored = {(b.account, b.token): b.amount_micro for b in journal.balances(conn)}
            extra += check_balances(verifier.balances, stored)
            for checkpoint in log.checkpoints(conn):
                finding = check_checkpoint(checkpoint, verifier.leaf_hashes, keys)
                extra += [finding] if finding else []
    return verifier.result(extra)


def check_head(head: journal.Head, verifier: ChainVerifier) -> list[Finding]:
    """The head row names the last entry: fewer entries than it says means entries were removed."""
    verified = len(verifier.leaf_hashes)
    if head.seq > verified:
        return [
            Finding(
                verified + 1, "seq gap", f"entry {verified + 1} is missing (the chain head says {head.seq})"
            )
        ]
    if head.seq != verified or head.hash != verifier.prev_hash:
        return [Finding(None, "head mismatch", f"head says seq {head.seq} hash {head.hash}")]
    return []


def check_rotations(recorded: list[KeyRotation], keys: Mapping[str, str]) -> list[Finding]:
    """A signed rotation statement must verify under the old key."""
    findings = []
    for rotation in recorded:
        old_key = keys.get(rotation.old_key_id)
        if rotation.statement_sig is None or old_key is None:
            continue
        if not signature_holds(old_key, rotation.statement_sig, rotation.statement()):
            detail = f"{rotation.old_key_id} -> {rotation.new_key_id} after entry {rotation.after_seq}"
            findings.append(Finding(None, "bad rotation signature", detail))
    return findings
