"""Check proof documents from ``circulo ledger prove`` (SPEC §8 JSON), optionally against checkpoints.

An inclusion proof ``{index, size, leaf_hash, path, root}`` holds when its path leads from
the leaf hash to the root; a consistency proof ``{old_size, size, path, old_root, root}``
when it shows the old tree is a prefix of the new. Against a signed checkpoint, the proof's
size and root must also be the checkpoint's, and the checkpoint's signature must hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from circulo.ledger import merkle
from circulo.ledger.checkpoint import Checkpoint, checkpoint_signature_holds
from circulo.ledger.errors import InvalidProof


@dataclass(frozen=True)
class ProofVerdict:
    """Whether a proof holds, and what was checked or what failed."""

    ok: bool
    detail: str


def hex_bytes(doc: Mapping[str, Any], name: str) -> bytes:
    """A hex field of a proof document as bytes."""
    value = doc.get(name)
    try:
        return bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError as e:
        raise InvalidProof(f"proof field {name!r} is not hex") from e


def int_field(doc: Mapping[str, Any], name: str) -> int:
    """An integer field of a proof document."""
    value = doc.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidProof(f"proof field {name!r} must be an integer")
    return value


def path_field(doc: Mapping[str, Any]) -> list[bytes]:
    """The ``path`` of a proof document."""
    path = doc.get("path")
    if not isinstance(path, list):
        raise InvalidProof("proof field 'path' must be a list of hex strings")
    return [hex_bytes({"node": node}, "node") for node in path]


def check_against(
    checkpoint: Checkpoint | None, size: int, root: bytes, keys: Mapping[str, str], label: str
) -> ProofVerdict | None:
    """A failing verdict when ``checkpoint`` is given but does not sign ``(size, root)``."""
    if checkpoint is None:
        return None
    if not checkpoint_signature_holds(checkpoint, keys):
        return ProofVerdict(False, f"{label} checkpoint signature does not hold under the given keys")
    if (checkpoint.size, checkpoint.root) != (size, root.hex()):
        return ProofVerdict(False, f"{label} checkpoint is size {checkpoint.size} root {checkpoint.root}")
    return None


def verify_inclusion_document(
    doc: Mapping[str, Any],
    *,
    entry_hash: str | None = None,
    checkpoint: Checkpoint | None = None,
    public_keys: Mapping[str, str] | None = None,
) -> ProofVerdict:
    """Check an inclusion proof, optionally for a given entry hash and against a checkpoint."""
    index, size, root = int_field(doc, "index"), int_field(doc, "size"), hex_bytes(doc, "root")
    leaf = hex_bytes(doc, "leaf_hash")
    if entry_hash is not None and merkle.leaf_hash(bytes.fromhex(entry_hash)) != leaf:
        return ProofVerdict(False, f"leaf_hash is not SHA-256(0x00 || {entry_hash})")
    if not merkle.verify_inclusion(index, size, leaf, path_field(doc), root):
        return ProofVerdict(False, f"the path does not lead from leaf {index} to the root of size {size}")
    failed = check_against(checkpoint, size, root, public_keys or {}, "the")
    return failed or ProofVerdict(True, f"leaf {index} (entry {index + 1}) is in the tree of size {size}")


def verify_consistency_document(
    doc: Mapping[str, Any],
    *,
    old_checkpoint: Checkpoint | None = None,
    checkpoint: Checkpoint | None = None,
    public_keys: Mapping[str, str] | None = None,
) -> ProofVerdict:
    """Check a consistency proof, optionally against the old and the new checkpoint."""
    old_size, size = int_field(doc, "old_size"), int_field(doc, "size")
    old_root, root = hex_bytes(doc, "old_root"), hex_bytes(doc, "root")
    if not merkle.verify_consistency(old_size, size, old_root, root, path_field(doc)):
        return ProofVerdict(False, f"the tree of size {old_size} is not a prefix of the tree of size {size}")
    keys = public_keys or {}
    failed = check_against(old_checkpoint, old_size, old_root, keys, "the old") or check_against(
        checkpoint, size, root, keys, "the new"
    )
    return failed or ProofVerdict(True, f"the tree of size {old_size} is a prefix of the tree of size {size}")
