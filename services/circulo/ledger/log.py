"""The transparency log over the journal: signed checkpoints and proofs from the database.

Leaf ``i`` of the tree is entry ``seq = i + 1`` (its 32 hash bytes); a tree of size N covers
entries 1..N. Proofs are returned in the SPEC §8 JSON form.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from circulo.ledger import merkle, queries
from circulo.ledger.checkpoint import Checkpoint, sign_checkpoint
from circulo.ledger.errors import InvalidProof
from circulo.ledger.journal import ensure_signer_matches, read_head, register_key
from circulo.ledger.keys import Signer


def leaf_hashes(conn: psycopg.Connection, size: int) -> list[bytes]:
    """The Merkle leaf hashes of entries 1..size."""
    return [merkle.leaf_hash(bytes.fromhex(row[0])) for row in conn.execute(queries.LEAF_HASHES, (size,))]


def tree_size(conn: psycopg.Connection, size: int | None = None) -> int:
    """``size`` checked against the journal, or the current size (the head's seq)."""
    current = read_head(conn).seq
    if size is None:
        return current
    if not 0 <= size <= current:
        raise InvalidProof(f"tree size {size} is not between 0 and the ledger's {current} entries")
    return size


def create_checkpoint(conn: psycopg.Connection, signer: Signer, *, now: datetime | None = None) -> Checkpoint:
    """Sign the current (size, root) and record the checkpoint (inside the caller's transaction)."""
    ensure_signer_matches(conn, signer)
    register_key(conn, signer)
    size = tree_size(conn)
    root = merkle.root_of_hashes(leaf_hashes(conn, size)).hex()
    checkpoint = sign_checkpoint(size, root, now or datetime.now(UTC), signer)
    conn.execute(
        queries.INSERT_CHECKPOINT,
        (checkpoint.size, checkpoint.root, checkpoint.ts, checkpoint.key_id, checkpoint.sig),
    )
    return checkpoint


def checkpoints(conn: psycopg.Connection) -> list[Checkpoint]:
    """Every recorded checkpoint, oldest first."""
    return [Checkpoint(*row) for row in conn.execute(queries.CHECKPOINTS)]


def latest_checkpoint(conn: psycopg.Connection) -> Checkpoint | None:
    """The newest recorded checkpoint, if any."""
    row = conn.execute(queries.LATEST_CHECKPOINT).fetchone()
    return Checkpoint(*row) if row else None


def inclusion_proof(conn: psycopg.Connection, seq: int, size: int | None = None) -> dict[str, Any]:
    """``{index, size, leaf_hash, path, root}`` proving entry ``seq`` is in the tree of ``size``."""
    size = tree_size(conn, size)
    if not 1 <= seq <= size:
        raise InvalidProof(f"entry {seq} is not in a tree of size {size}")
    hashes = leaf_hashes(conn, size)
    path = merkle.inclusion_proof_of_hashes(seq - 1, hashes)
    return {
        "index": seq - 1,
        "size": size,
        "leaf_hash": hashes[seq - 1].hex(),
        "path": [node.hex() for node in path],
        "root": merkle.root_of_hashes(hashes).hex(),
    }


def inclusion_proofs(conn: psycopg.Connection, seqs: Sequence[int], size: int) -> dict[int, dict[str, Any]]:
    """Inclusion proofs of many entries in the tree of ``size``, reading and hashing the tree once."""
    size = tree_size(conn, size)
    outside = [seq for seq in seqs if not 1 <= seq <= size]
    if outside:
        raise InvalidProof(f"entry {outside[0]} is not in a tree of size {size}")
    levels = merkle.tree_levels(leaf_hashes(conn, size))
    root = (levels[-1][0] if levels[0] else merkle.EMPTY_ROOT).hex()
    return {
        seq: {
            "index": seq - 1,
            "size": size,
            "leaf_hash": levels[0][seq - 1].hex(),
            "path": [node.hex() for node in merkle.path_from_levels(seq - 1, levels)],
            "root": root,
        }
        for seq in seqs
    }


def consistency_proof(conn: psycopg.Connection, old_size: int, size: int | None = None) -> dict[str, Any]:
    """``{old_size, size, path, old_root, root}`` proving the old tree is a prefix of the new."""
    size = tree_size(conn, size)
    if not 0 <= old_size <= size:
        raise InvalidProof(f"old size {old_size} is not between 0 and {size}")
    hashes = leaf_hashes(conn, size)
    path = merkle.consistency_proof_of_hashes(old_size, hashes)
    return {
        "old_size": old_size,
        "size": size,
        "path": [node.hex() for node in path],
        "old_root": merkle.root_of_hashes(hashes[:old_size]).hex(),
        "root": merkle.root_of_hashes(hashes).hex(),
    }
