"""RFC 6962 Merkle tree: the transparency-dev reference vectors, corrupted proofs, properties.

The vectors are the ones published with the transparency-dev ``merkle`` Go module
(``testonly/constants.go``, ``proof/verify_test.go``): eight leaf inputs, the roots of every
prefix, and the inclusion and consistency proofs over them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circulo.ledger import merkle
from circulo.ledger.errors import InvalidProof


def h(text: str) -> bytes:
    return bytes.fromhex(text)


LEAVES = [h(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                         "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
EMPTY_ROOT = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
ROOTS = [EMPTY_ROOT] + [
    h(x)
    for x in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]  # fmt: skip  (ROOTS[n] is the root of the first n leaves)
LEAF_HASHES = [h(x) for x in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
)]  # fmt: skip
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

# (leaf number counted from 1, tree size, audit path): verify_test.go's inclusionProofs.
INCLUSION_PROOFS = [
    (1, 1, []),
    (1, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (3, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (2, 5, [h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
]  # fmt: skip
# (old size, new size, proof): verify_test.go's consistencyProofs.
CONSISTENCY_PROOFS = [
    (1, 1, []),
    (1, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 5, [h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
    (6, 7, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
]  # fmt: skip


def test_the_empty_tree_root_is_sha256_of_nothing() -> None:
    assert merkle.root([]) == EMPTY_ROOT


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_of_every_prefix_match_the_reference(size: int) -> None:
    assert merkle.root(LEAVES[:size]) == ROOTS[size]


def test_leaf_hashes_match_the_reference() -> None:
    assert [merkle.leaf_hash(leaf) for leaf in LEAVES] == LEAF_HASHES


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION_PROOFS)
def test_reference_inclusion_proofs_are_generated_and_verify(leaf: int, size: int, path: list[bytes]) -> None:
    assert merkle.inclusion_proof(leaf - 1, LEAVES[:size]) == path
    assert merkle.verify_inclusion(leaf - 1, size, LEAF_HASHES[leaf - 1], path, ROOTS[size])


@pytest.mark.parametrize(("old", "size", "path"), CONSISTENCY_PROOFS)
def test_reference_consistency_proofs_are_generated_and_verify(
    old: int, size: int, path: list[bytes]
) -> None:
    assert merkle.consistency_proof(old, LEAVES[:size]) == path
    assert merkle.verify_consistency(old, size, ROOTS[old], ROOTS[size], path)


def flipped(path: Sequence[bytes], i: int, bit: int) -> list[bytes]:
    copy = list(path)
    copy[i] = bytes([copy[i][0] ^ bit]) + copy[i][1:]
    return copy


def corrupt_inclusion(index: int, size: int, path: list[bytes], root: bytes, leaf: bytes) -> list[tuple]:
    """verify_test.go's corruptInclusionProof: every probe must fail."""
    probes = [
        (index - 1, size, leaf, path, root), (index + 1, size, leaf, path, root),
        (index ^ 2, size, leaf, path, root), (index, size * 2, leaf, path, root),
        (index, size // 2, leaf, path, root), (index, size, b"WrongLeaf", path, root),
        (index, size, leaf, path, EMPTY_ROOT), (index, size, leaf, path, SOME_HASH),
        (index, size, leaf, [*path, b""], root), (index, size, leaf, [*path, root], root),
        (index, size, leaf, [b"", *path], root), (index, size, leaf, [root, *path], root),
    ]  # fmt: skip
    probes += [(index, size, leaf, flipped(path, i, 8), root) for i in range(len(path))]
    if path:
        probes.append((index, size, leaf, path[:-1], root))
    if len(path) > 1:
        probes.append((index, size, leaf, [path[0], SOME_HASH, *path[1:]], root))
    return probes


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION_PROOFS)
def test_every_corrupted_inclusion_proof_fails(leaf: int, size: int, path: list[bytes]) -> None:
    probes = corrupt_inclusion(leaf - 1, size, path, ROOTS[size], LEAF_HASHES[leaf - 1])
    passed = [p for p in probes if merkle.verify_inclusion(*p)]
    assert passed == []


def corrupt_consistency(old: int, size: int, old_root: bytes, root: bytes, path: list[bytes]) -> list[tuple]:
    """verify_test.go's corruptConsistencyProof: every probe must fail."""
    probes = [
        (old - 1, size, old_root, root, path), (old + 1, size, old_root, root, path),
        (old ^ 2, size, old_root, root, path), (old, size * 2, old_root, root, path),
        (old, size // 2, old_root, root, path), (old, size, b"WrongRoot", root, path),
        (old, size, old_root, b"WrongRoot", path), (old, size, root, old_root, path),
        (old, size, old_root, root, []), (old, size, old_root, root, [*path, b""]),
        (old, size, old_root, root, [*path, old_root]), (old, size, old_root, root, [*path, root]),
        (old, size, old_root, root, [b"", *path]), (old, size, old_root, root, [old_root, *path]),
        (old, size, old_root, root, [root, *path]), (old, size, old_root, root, [path[0], *path]),
        (old, size, old_root, root, path[:-1]),
    ]  # fmt: skip
    probes += [(old, size, old_root, root, flipped(path, i, 16)) for i in range(len(path))]
    return probes


@pytest.mark.parametrize(("old", "size", "path"), [p for p in CONSISTENCY_PROOFS if p[2]])
def test_every_corrupted_consistency_proof_fails(old: int, size: int, path: list[bytes]) -> None:
    probes = corrupt_consistency(old, size, ROOTS[old], ROOTS[size], path)
    passed = [p for p in probes if merkle.verify_consistency(*p)]
    assert passed == []


@pytest.mark.parametrize(
    "case",
    [
        (0, 0, b"r1", b"r2", [], False),
        (1, 1, b"r1", b"r2", [], False),
        (0, 0, b"r1", b"r1", [], True),
        (0, 1, b"r1", b"r2", [], True),
        (1, 1, b"r2", b"r2", [], True),
        (1, 0, b"r1", b"r2", [], False),
        (2, 1, b"r1", b"r2", [], False),
        (1, 2, b"r1", b"r2", [], False),
        (0, 0, EMPTY_ROOT, b"r2", [], False),
        (1, 1, EMPTY_ROOT, b"r2", [], False),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
    ],
)
def test_consistency_edge_cases_follow_the_reference(case: tuple) -> None:
    *probe, holds = case
    assert merkle.verify_consistency(*probe) is holds


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_with_an_empty_proof_fails_for_impossible_positions(index: int, size: int) -> None:
    assert not merkle.verify_inclusion(index, size, SOME_HASH, [], b"")
    assert not merkle.verify_inclusion(index, size, b"", [], EMPTY_ROOT)
    assert not merkle.verify_inclusion(index, size, SOME_HASH, [], EMPTY_ROOT)


def test_single_leaf_tree_inclusion_needs_matching_32_byte_hashes() -> None:
    leaf = merkle.leaf_hash(b"data")
    assert merkle.verify_inclusion(0, 1, leaf, [], leaf)
    assert not merkle.verify_inclusion(0, 1, b"", [], leaf)
    assert not merkle.verify_inclusion(0, 1, leaf, [], b"")
    assert not merkle.verify_inclusion(0, 1, b"", [], b"")


@pytest.mark.parametrize(
    "make", [lambda: merkle.inclusion_proof(3, LEAVES[:3]), lambda: merkle.consistency_proof(4, LEAVES[:3])]
)
def test_proofs_outside_the_tree_are_refused(make: Callable[[], list[bytes]]) -> None:
    with pytest.raises(InvalidProof):
        make()


sizes_and_index = st.integers(min_value=1, max_value=300).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(min_value=0, max_value=n - 1))
)


@given(sizes_and_index)
def test_inclusion_proofs_verify_for_random_sizes(size_index: tuple[int, int]) -> None:
    size, index = size_index
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    proof = merkle.inclusion_proof(index, leaves)
    assert merkle.verify_inclusion(index, size, merkle.leaf_hash(leaves[index]), proof, merkle.root(leaves))
    if size > 1:
        assert not merkle.verify_inclusion((index + 1) % size, size, merkle.leaf_hash(leaves[index]), proof,
                                           merkle.root(leaves))  # fmt: skip


@given(sizes_and_index)
def test_paths_read_off_the_bottom_up_levels_are_the_rfc_6962_paths(size_index: tuple[int, int]) -> None:
    size, index = size_index
    hashes = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    levels = merkle.tree_levels(hashes)
    assert levels[-1] == [merkle.root_of_hashes(hashes)]
    assert merkle.path_from_levels(index, levels) == merkle.inclusion_proof_of_hashes(index, hashes)


def test_paths_from_levels_refuse_a_leaf_outside_the_tree() -> None:
    levels = merkle.tree_levels([merkle.leaf_hash(b"a")] * 3)
    with pytest.raises(InvalidProof):
        merkle.path_from_levels(3, levels)


@given(sizes_and_index)
def test_consistency_proofs_verify_for_random_sizes(size_old: tuple[int, int]) -> None:
    size, old = size_old
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    proof = merkle.consistency_proof(old, leaves)
    assert merkle.verify_consistency(old, size, merkle.root(leaves[:old]), merkle.root(leaves), proof)


@given(sizes_and_index.filter(lambda t: t[1] > 0), st.data())
def test_a_history_rewritten_below_an_old_root_fails_consistency(
    size_old: tuple[int, int], data: st.DataObject
) -> None:
    size, old = size_old
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    old_root = merkle.root(leaves[:old])
    changed = data.draw(st.integers(min_value=0, max_value=old - 1))
    rewritten = [*leaves[:changed], b"forged", *leaves[changed + 1 :]]
    proof = merkle.consistency_proof(old, rewritten)
    assert not merkle.verify_consistency(old, size, old_root, merkle.root(rewritten), proof)
