"""RFC 6962 Merkle tree over the ledger: roots, inclusion and consistency proofs (pure).

Leaf hash = SHA-256(0x00 || leaf), node hash = SHA-256(0x01 || left || right); a tree of n
leaves splits at k, the largest power of two below n (RFC 6962 §2.1). The ledger's leaves
are the 32 raw bytes of each entry's ``hash``, in ``seq`` order (leaf index = seq - 1).
Proof generation follows RFC 6962 §2.1.1-2.1.2; verification is the iterative algorithm of
RFC 9162 §2.1.3.2 and §2.1.4.2, which rejects any proof of the wrong length.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from circulo.ledger.errors import InvalidProof

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two strictly below ``size`` (size ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of ``leaves`` (the empty tree's is SHA-256 of nothing)."""
    return root_of_hashes([leaf_hash(leaf) for leaf in leaves])


def root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    """The tree hash over already-hashed leaves, in one pass with a stack of full subtrees."""
    if not hashes:
        return EMPTY_ROOT
    stack: list[tuple[bytes, int]] = []
    for digest in hashes:
        node, width = digest, 1
        while stack and stack[-1][1] == width:
            node, width = node_hash(stack.pop()[0], node), width * 2
        stack.append((node, width))
    node = stack.pop()[0]
    while stack:
        node = node_hash(stack.pop()[0], node)
    return node


def roots_at(hashes: Sequence[bytes], sizes: Iterable[int]) -> dict[int, bytes]:
    """The tree hash of the first ``size`` leaves for each of ``sizes``, in one pass.

    The stack of :func:`root_of_hashes` holds, after ``n`` leaves, the full subtrees that the
    root of size ``n`` folds together; each wanted size folds a copy of it.
    """
    wanted = sorted({size for size in sizes if 0 <= size <= len(hashes)})
    roots = {0: EMPTY_ROOT} if wanted and wanted[0] == 0 else {}
    stack: list[tuple[bytes, int]] = []
    at = 0
    for size in (s for s in wanted if s > 0):
        for digest in hashes[at:size]:
            node, width = digest, 1
            while stack and stack[-1][1] == width:
                node, width = node_hash(stack.pop()[0], node), width * 2
            stack.append((node, width))
        at = size
        node = stack[-1][0]
        for left, _width in reversed(stack[:-1]):
            node = node_hash(left, node)
        roots[size] = node
    return roots


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``leaves`` (RFC 6962 §2.1.1)."""
    return inclusion_proof_of_hashes(index, [leaf_hash(leaf) for leaf in leaves])


def inclusion_proof_of_hashes(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """:func:`inclusion_proof` over already-hashed leaves."""
    if not 0 <= index < len(hashes):
        raise InvalidProof(f"leaf index {index} is not in a tree of size {len(hashes)}")
    return _path(index, hashes, 0, len(hashes))


def _path(index: int, hashes: Sequence[bytes], lo: int, hi: int) -> list[bytes]:
    size = hi - lo
    if size == 1:
        return []
    k = split_point(size)
    if index < k:
        return [*_path(index, hashes, lo, lo + k), root_of_hashes(hashes[lo + k : hi])]
    return [*_path(index - k, hashes, lo + k, hi), root_of_hashes(hashes[lo : lo + k])]


def tree_levels(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree over leaf hashes, leaves first, the root's level last.

    Pairs are hashed left to right and a last node without a partner moves up unchanged:
    the same tree as RFC 6962's split at the largest power of two, built bottom-up.
    """
    levels = [list(hashes)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        above = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        levels.append(above + level[-1:] if len(level) % 2 else above)
    return levels


def path_from_levels(index: int, levels: Sequence[Sequence[bytes]]) -> list[bytes]:
    """The audit path of leaf ``index`` read off :func:`tree_levels` (a sibling per level that has one)."""
    if not levels or not 0 <= index < len(levels[0]):
        raise InvalidProof(f"leaf index {index} is not in a tree of size {len(levels[0]) if levels else 0}")
    path = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index >>= 1
    return path


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The proof that the first ``old_size`` leaves are a prefix of ``leaves`` (RFC 6962 §2.1.2)."""
    return consistency_proof_of_hashes(old_size, [leaf_hash(leaf) for leaf in leaves])


def consistency_proof_of_hashes(old_size: int, hashes: Sequence[bytes]) -> list[bytes]:
    """:func:`consistency_proof` over already-hashed leaves."""
    if not 0 <= old_size <= len(hashes):
        raise InvalidProof(f"old size {old_size} is not within a tree of size {len(hashes)}")
    if old_size in (0, len(hashes)):
        return []
    return _subproof(old_size, hashes, 0, len(hashes), complete=True)


def _subproof(old_size: int, hashes: Sequence[bytes], lo: int, hi: int, *, complete: bool) -> list[bytes]:
    size = hi - lo
    if old_size == size:
        return [] if complete else [root_of_hashes(hashes[lo:hi])]
    k = split_point(size)
    if old_size <= k:
        return [
            *_subproof(old_size, hashes, lo, lo + k, complete=complete),
            root_of_hashes(hashes[lo + k : hi]),
        ]
    return [*_subproof(old_size - k, hashes, lo + k, hi, complete=False), root_of_hashes(hashes[lo : lo + k])]


def _well_formed(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root that ``path`` implies for leaf hash ``leaf`` at ``index``, or None if it cannot."""
    if not 0 <= index < size or not _well_formed(leaf, *path):
        return None
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = node_hash(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    return node if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root_hash: bytes) -> bool:
    """Whether ``path`` proves leaf hash ``leaf`` is at ``index`` of the tree ``(size, root_hash)``."""
    return _well_formed(root_hash) and root_from_inclusion(index, size, leaf, path) == root_hash


def verify_consistency(
    old_size: int, size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """Whether ``path`` proves the tree ``(old_size, old_root)`` is a prefix of ``(size, new_root)``."""
    if not 0 <= old_size <= size or not _well_formed(*path):
        return False
    if old_size == size:
        return not path and old_root == new_root
    if old_size == 0:
        return not path
    if not path or not _well_formed(old_root, new_root):
        return False
    return _roots_from_consistency(old_size, size, old_root, path) == (old_root, new_root)


def _roots_from_consistency(
    old_size: int, size: int, old_root: bytes, path: Sequence[bytes]
) -> tuple[bytes, bytes] | None:
    """(old root, new root) that a consistency path implies (RFC 9162 §2.1.4.2), or None."""
    nodes = list(path)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node
        nodes.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    old_node = new_node = nodes[0]
    for sibling in nodes[1:]:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            old_node, new_node = node_hash(sibling, old_node), node_hash(sibling, new_node)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            new_node = node_hash(new_node, sibling)
        fn, sn = fn >> 1, sn >> 1
    return (old_node, new_node) if sn == 0 else None
