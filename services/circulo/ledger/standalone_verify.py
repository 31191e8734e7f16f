"""Verify a Circulo ledger export with no database: python standalone_verify.py EXPORT KEY_HEX [KEY_HEX ...].

Needs only Python 3.11+, ``cryptography`` and ``rfc8785``. Checks every entry's format (1 or 2;
any other is "unsupported format"), seq, link, hash (SHA-256 of prev_hash bytes and the JCS of
the entry without hash and sig — and, in format 1, without format) and Ed25519 signature under
the public keys given; that no burn overdraws an account and every move (transfer, dividend,
floor) burns what it mints; then the trailer's signed checkpoint against the RFC 6962 Merkle
root of the entries it covers. Prints OK or the first problem.
"""

import hashlib
import json
import sys
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMATS = (1, 2)
MOVES = ("transfer", "dividend", "floor")


def merkle_root(hashes: list[bytes]) -> bytes:
    """RFC 6962: leaf = SHA-256(0x00 || entry hash), node = SHA-256(0x01 || left || right)."""
    if len(hashes) <= 1:
        return hashlib.sha256(b"\x00" + hashes[0] if hashes else b"").digest()
    k = 1 << ((len(hashes) - 1).bit_length() - 1)  # the largest power of two below n
    return hashlib.sha256(b"\x01" + merkle_root(hashes[:k]) + merkle_root(hashes[k:])).digest()


def signed(key: Ed25519PublicKey | None, sig_hex: str, message: bytes) -> bool:
    """Whether ``sig_hex`` is the key's Ed25519 signature of ``message``."""
    try:
        return key is not None and key.verify(bytes.fromhex(sig_hex), message) is None
    except InvalidSignature:
        return False


def entry_problem(
    entry: dict[str, Any], seq: int, prev: str, keys: dict[str, Ed25519PublicKey]
) -> str | None:
    """What is wrong with the entry at position ``seq`` after hash ``prev``, or None."""
    fmt = entry.get("format", 1)
    if type(fmt) is not int or fmt not in FORMATS:  # true == 1 in Python: not a format
        return f"unsupported format {fmt!r}"
    unsigned = ("hash", "sig", "format") if fmt == 1 else ("hash", "sig")
    body = {name: value for name, value in entry.items() if name not in unsigned}
    digest = hashlib.sha256(bytes.fromhex(prev) + rfc8785.dumps(body)).hexdigest()
    if entry["seq"] != seq:
        return f"missing or out of order (found seq {entry['seq']})"
    if entry["prev_hash"] != prev:
        return "broken link"
    if entry["hash"] != digest:
        return "hash mismatch"
    if not signed(keys.get(entry["key_id"]), entry["sig"], bytes.fromhex(digest)):
        return f"bad signature or unknown key {entry['key_id']}"
    return None


def move_balance(
    entry: dict[str, Any], balances: dict[tuple[str, str], int], moves: dict[str, int]
) -> str | None:
    """Apply a mint or burn to the balances (and its move's net); a burn may not overdraw."""
    if entry["kind"] == "record":
        return None
    key, amount = (entry["account"], entry["token"]), entry["amount_micro"]
    sign = 1 if entry["kind"] == "mint" else -1
    if sign < 0 and balances.get(key, 0) < amount:
        return f"overdrawn: {key[0]} holds {balances.get(key, 0)} µ{key[1]}, burns {amount}"
    balances[key] = balances.get(key, 0) + sign * amount
    if entry["reason"] in MOVES:
        moves[entry["settlement_id"]] = moves.get(entry["settlement_id"], 0) + sign * amount
    return None


def strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON objects may not repeat a key (two readers could disagree on what was signed)."""
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("an object repeats a key")
    return dict(pairs)


def refuse(text: str) -> Any:
    """No decimal numbers, NaN or Infinity anywhere in an export."""
    raise ValueError(f"{text} is not an integer")


def verify(lines: list[str], public_keys_hex: list[str]) -> str:
    """'OK ...' or 'FAIL entry N: why'; any decimal number, NaN or repeated key is an error."""
    keys = {}
    for key_hex in public_keys_hex:
        key_bytes = bytes.fromhex(key_hex)
        keys[hashlib.sha256(key_bytes).hexdigest()[:16]] = Ed25519PublicKey.from_public_bytes(key_bytes)
    decoder = json.JSONDecoder(parse_float=refuse, parse_constant=refuse, object_pairs_hook=strict_object)
    *entries, trailer = [decoder.decode(line) for line in lines if line.strip()]
    prev, hashes = "0" * 64, []
    balances: dict[tuple[str, str], int] = {}
    moves: dict[str, int] = {}
    for seq, entry in enumerate(entries, start=1):
        problem = entry_problem(entry, seq, prev, keys) or move_balance(entry, balances, moves)
        if problem:
            return f"FAIL entry {seq}: {problem}"
        prev = entry["hash"]
        hashes.append(bytes.fromhex(prev))
    unbalanced = [settlement for settlement, net in moves.items() if net != 0]
    if unbalanced:
        return f"FAIL move {unbalanced[0]}: burns and mints differ"
    cp = trailer["checkpoint"]
    if cp is None:
        return "FAIL checkpoint: the export has none (no checkpoint was ever signed)"
    if not signed(
        keys.get(cp["key_id"]), cp["sig"], rfc8785.dumps({k: cp[k] for k in ("size", "root", "ts")})
    ):
        return "FAIL checkpoint: bad signature or unknown key"
    if cp["size"] > len(hashes) or merkle_root(hashes[: cp["size"]]).hex() != cp["root"]:
        return f"FAIL checkpoint: size {cp['size']} root {cp['root']} does not match the entries"
    return f"OK {len(entries)} entries, head {prev}, checkpoint size {cp['size']} root {cp['root']}"


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as export:
        try:
            verdict = verify(export.readlines(), sys.argv[2:])
        except Exception as e:  # a malformed export is a verdict too, on one line
            verdict = f"FAIL malformed export: {type(e).__name__}: {e}"
    print(verdict)  # noqa: T201 - a command-line tool
    sys.exit(0 if verdict.startswith("OK") else 1)
