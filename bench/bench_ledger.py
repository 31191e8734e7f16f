"""Ledger pure-core throughput, as ratios against plain SHA-256 and Ed25519 measured in the same run.

Run: .venv/bin/python bench/bench_ledger.py [ENTRIES]
Sealing an entry costs one JCS encoding, one SHA-256 and one Ed25519 signature; verifying
one costs the same plus a signature check. The Merkle root costs about two SHA-256 per leaf.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from circulo.ledger import merkle
from circulo.ledger.entries import GENESIS_PREV_HASH, LedgerEntry, NewEntry, seal_entry
from circulo.ledger.keys import Signer
from circulo.ledger.verify import verify_entries


def timed(label: str, count: int, work: Callable[[], object]) -> float:
    """Seconds per item for ``work`` over ``count`` items, printed."""
    start = time.perf_counter()
    work()
    per_item = (time.perf_counter() - start) / count
    print(f"{label:<28} {per_item * 1e6:9.1f} µs/item  ({1 / per_item:10.0f}/s)")
    return per_item


def chain(signer: Signer, count: int) -> list[LedgerEntry]:
    entries, prev = [], GENESIS_PREV_HASH
    ts = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(count):
        source = {"device_id": f"m{i}", "energy_wh_earlier": i, "energy_wh_later": i + 10}
        new = NewEntry("mint", "GRN", f"member-{i % 50}@coop1", 1000 + i, "green.energy", f"green:coop1:{i}",
                       (source,), "v1")  # fmt: skip
        entries.append(seal_entry(new, seq=i + 1, ts=ts, prev_hash=prev, signer=signer))
        prev = entries[-1].hash
    return entries


def main(count: int) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    sha = timed(
        "baseline sha256(200 B)", count, lambda: [hashlib.sha256(bytes(200)).digest() for _ in range(count)]
    )
    sign = timed("baseline ed25519 sign", count, lambda: [signer.sign(bytes(32)) for _ in range(count)])
    sealed: list[LedgerEntry] = []
    seal = timed("seal entry", count, lambda: sealed.extend(chain(signer, count)))
    exported = [e.to_dict() for e in sealed]
    keys = {signer.key_id: signer.public_key_hex}
    check = timed("verify entry", count, lambda: verify_entries(exported, keys))
    leaves = [bytes.fromhex(e.hash) for e in sealed]
    root = timed("merkle root (per leaf)", count, lambda: merkle.root(leaves))
    print(f"seal / ed25519 sign = {seal / sign:.2f}; verify / seal = {check / seal:.2f}; "
          f"merkle leaf / sha256 = {root / sha:.2f}")  # fmt: skip
    proofs(leaves)


def proofs(leaves: list[bytes], wanted: int = 200) -> None:
    """A statements build's proofs: ``wanted`` inclusion proofs of one tree, one by one or off its levels."""
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    indexes = [i * len(hashes) // wanted for i in range(wanted)]
    one_by_one = timed(f"{wanted} proofs, recursive", wanted,
                       lambda: [merkle.inclusion_proof_of_hashes(i, hashes) for i in indexes])  # fmt: skip

    def from_levels() -> list[list[bytes]]:
        levels = merkle.tree_levels(hashes)
        return [merkle.path_from_levels(i, levels) for i in indexes]

    levels = timed(f"{wanted} proofs, from levels", wanted, from_levels)
    print(f"proof from levels (tree built once) / recursive proof = {levels / one_by_one:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
