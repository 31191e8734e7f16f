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
from circulo.ledger.signatures import default_workers
from circulo.ledger.verify import (
    ChainVerifier,
    Finding,
    Progress,
    SignatureMode,
    VerifyResult,
    check_balances,
    check_checkpoints,
    check_public_keys,
    checkpoint_cover,
    verify_chain,
)


def verify_database(
    conn: psycopg.Connection,
    trusted_keys: Mapping[str, str] | None = None,
    *,
    signatures: SignatureMode = "every",
    workers: int | None = None,
    progress: Progress | None = None,
) -> VerifyResult:
    """Verify everything the database holds about the ledger; the first finding names the entry.

    The entries stream through a server-side cursor; signatures are checked in ``workers``
    processes (None: one per core for a large ledger; 0: in place). ``signatures="checkpoints"``:
    entries under a checkpoint signed by a trusted key are authenticated by it (see
    :mod:`circulo.ledger.verify`).
    """
    with journal.snapshot(conn):
        keys = dict(trusted_keys) if trusted_keys is not None else journal.public_keys(conn)
        recorded = journal.rotations(conn)
        head = journal.read_head(conn)
        checkpoints = log.checkpoints(conn)
        signed_until = checkpoint_cover(checkpoints, keys) if signatures == "checkpoints" else 0
        verifier = verify_chain(
            lambda: journal.stream_export_entries(conn),
            keys,
            rotations={(r.old_key_id, r.new_key_id) for r in recorded},
            workers=default_workers(head.seq - signed_until) if workers is None else workers,
            signed_until=signed_until,
            progress=progress,
        )
        extra = check_public_keys(keys) + check_rotations(recorded, keys)
        root = None
        if verifier.failure is None:
            extra += check_head(head, verifier)
            stored = {(b.account, b.token): b.amount_micro for b in journal.balances(conn)}
            extra += check_balances(verifier.balances, stored)
            found, root = check_checkpoints(checkpoints, verifier.leaf_hashes, keys)
            extra += found
    return verifier.result(extra, root=root)


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
