"""Verify a Circulo ledger export with no database: python standalone_verify.py EXPORT KEY_HEX [KEY_HEX ...].

Needs only Python 3.11+, ``cryptography`` and ``rfc8785``. Checks every entry's format (1 or 2;
any other is "unsupported format"), seq, link, hash (SHA-256 of prev_hash bytes and the JCS of
the entry without hash and sig — and, in format 1, without format) and Ed25519 signature under
the public keys given; that no burn overdraws an account and every move (transfer, dividend,
floor) burns what it mints; that every vote is what its records say — member keys attested by
the co-op's secretary, ballots signed by a voter's key in force, each tally the recount of its
proposal's ballots; then the trailer's signed checkpoint against the RFC 6962 Merkle root of
the entries it covers. Prints OK or the first problem.

Fast enough for a million entries: the JCS of an entry is the standard library's compact,
sorted JSON (the same bytes as ``rfc8785`` for integers and strings, which is all an entry
may hold; ``rfc8785`` still encodes any entry with a character beyond U+FFFF, where the two
sort keys differently), and on a large export the signatures, which cover only each entry's
own hash, are checked in one process per core after the chain, the first bad one named.
"""

import hashlib
import json
import multiprocessing
import os
import re
import sys
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMATS = (1, 2)
MOVES = ("transfer", "dividend", "floor")
MAX_INT = 2**53 - 1
PARALLEL_FROM = 20_000  # entries; fewer are signature-checked in this process
COMPACT = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
BEYOND_BMP = re.compile(rb"[\xf0-\xf4]")  # UTF-8 lead bytes of characters beyond U+FFFF


def jcs(value: Any) -> bytes:
    """RFC 8785 of parsed export data (integers within 2^53 - 1 and strings: no floats)."""
    out = COMPACT.encode(value).encode("utf-8")
    return bytes(rfc8785.dumps(value)) if not out.isascii() and BEYOND_BMP.search(out) else out


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
    entry: dict[str, Any], seq: int, prev: str, keys: dict[str, Ed25519PublicKey], deferred: list[Any] | None
) -> str | None:
    """What is wrong with the entry at position ``seq`` after hash ``prev``, or None (its
    signature is queued on ``deferred`` instead of checked, when given)."""
    fmt = entry.get("format", 1)
    if type(fmt) is not int or fmt not in FORMATS:  # true == 1 in Python: not a format
        return f"unsupported format {fmt!r}"
    unsigned = ("hash", "sig", "format") if fmt == 1 else ("hash", "sig")
    body = {name: value for name, value in entry.items() if name not in unsigned}
    digest = hashlib.sha256(bytes.fromhex(prev) + jcs(body)).hexdigest()
    if entry["seq"] != seq:
        return f"missing or out of order (found seq {entry['seq']})"
    if entry["prev_hash"] != prev:
        return "broken link"
    if entry["hash"] != digest:
        return "hash mismatch"
    if deferred is not None and entry["key_id"] in keys:
        deferred.append((seq, entry["key_id"], entry["sig"], digest))
    elif not signed(keys.get(entry["key_id"]), entry["sig"], bytes.fromhex(digest)):
        return f"bad signature or unknown key {entry['key_id']}"
    return None


def bad_signatures(job: tuple[dict[str, str], list[tuple[int, str, str, str]]]) -> list[int]:
    """The seqs among ``job``'s entries whose signature fails (in a worker process)."""
    keys = {kid: Ed25519PublicKey.from_public_bytes(bytes.fromhex(k)) for kid, k in job[0].items()}
    return [seq for seq, kid, sig, digest in job[1] if not signed(keys[kid], sig, bytes.fromhex(digest))]


def first_bad_signature(deferred: list[tuple[int, str, str, str]], keys_hex: dict[str, str]) -> int | None:
    """The first entry whose queued signature fails, checked in one process per core."""
    chunks = [(keys_hex, deferred[i : i + 5000]) for i in range(0, len(deferred), 5000)]
    with multiprocessing.get_context("spawn").Pool(os.cpu_count()) as pool:
        bad = [seq for found in pool.imap(bad_signatures, chunks) for seq in found]
    return min(bad, default=None)


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


def signs(public_hex: str | None, signed: dict[str, Any], domain: bytes) -> bool:
    """Whether ``public_hex`` is ``signed["key_id"]`` and signed ``domain ‖ 0x00 ‖ JCS(document)``."""
    if public_hex is None or hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()[:16] != signed["key_id"]:
        return False
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
    return signed_by_key(key, signed["sig"], domain + b"\x00" + rfc8785.dumps(signed["document"]))


def signed_by_key(key: Ed25519PublicKey, sig_hex: str, message: bytes) -> bool:
    """Whether ``sig_hex`` verifies under ``key``."""
    return signed(key, sig_hex, message)


def recount(proposal: dict[str, Any]) -> dict[str, Any]:
    """A proposal's tally from its ballots (a member's own supersedes the secretary's record)."""
    weights, chosen = proposal["voters"], dict[str, tuple[str, str]]()
    for ts, by, voter, choice in proposal["ballots"]:
        in_time = voter in weights and proposal["opens"] <= ts < proposal["closes"]
        if in_time and (voter not in chosen or (chosen[voter][0] == "secretary" and by == "member")):
            chosen[voter] = (by, choice)
    count = {c: sum(weights[v] for v, (_, ch) in chosen.items() if ch == c) for c in ("yes", "no", "abstain")}
    total, cast, decided = sum(weights.values()), sum(count.values()), count["yes"] + count["no"]
    quorum = total > 0 and cast * 100 >= proposal["quorum_pct"] * total
    majority = decided > 0 and count["yes"] * 100 > proposal["threshold_pct"] * decided
    return {**count, "total": total, "ballots": len(chosen), "adopted": quorum and majority}


def on_secretary(entry: dict[str, Any], source: dict[str, Any], state: dict[str, Any]) -> str | None:
    """A co-op's first secretary (the operator's word), or one the outgoing secretary appointed."""
    coop = state["coops"].setdefault(source["coop_id"], {"secretary": None, "keys": {}})
    by = source["appointed_by"]
    named = by.get("document", {})
    ok = by.get("by") == "operator" if coop["secretary"] is None else (
        signs(coop["secretary"], by, b"circulo/secretary/v1")
        and (named["account"], named["public_key"]) == (source["account"], source["public_key"]))  # fmt: skip
    coop["secretary"] = source["public_key"] if ok else coop["secretary"]
    return None if ok else "secretary not appointed by the outgoing one"


def on_member_key(entry: dict[str, Any], source: dict[str, Any], state: dict[str, Any]) -> str | None:
    """A member's key, attested by the co-op's secretary."""
    document = source["document"]
    coop = state["coops"].get(document["coop"], {"secretary": None, "keys": {}})
    if not signs(coop["secretary"], source, b"circulo/member-key/v1"):
        return "member key not attested by the co-op's secretary"
    if document["action"] == "register":
        coop["keys"][document["account"]] = document["public_key"]
    else:
        coop["keys"].pop(document["account"], None)
    return None


def on_proposal(entry: dict[str, Any], source: dict[str, Any], state: dict[str, Any]) -> str | None:
    """A proposal, named by its entry hash, its voters and rules frozen."""
    voters = {v["account"]: v["weight"] for v in source["voters"]}
    state["proposals"][entry["hash"]] = {**source, "voters": voters, "ballots": []}
    return None


def on_ballot(entry: dict[str, Any], source: dict[str, Any], state: dict[str, Any]) -> str | None:
    """A ballot signed by its voter's key in force, or recorded by the co-op's secretary."""
    proposal = state["proposals"].get(source["document"]["proposal"])
    coop = state["coops"].get(proposal["coop_id"], {}) if proposal else {}
    member = source["by"] == "member"
    key = coop.get("keys", {}).get(source["voter"]) if member else coop.get("secretary")
    if proposal is None or not signs(
        key, source, b"circulo/ballot/v1" if member else b"circulo/ballot-record/v1"
    ):
        return "ballot not signed by its voter's key (or the secretary's)"
    proposal["ballots"].append((entry["ts"], source["by"], source["voter"], source["document"]["choice"]))
    return None


def on_tally(entry: dict[str, Any], source: dict[str, Any], state: dict[str, Any]) -> str | None:
    """The tally must be the recount of its proposal's ballots, recorded after it closed."""
    proposal = state["proposals"].get(source["proposal"])
    if proposal is None or entry["ts"] < proposal["closes"]:
        return "tally of an unknown or still open proposal"
    recorded = {k: source[k] for k in ("yes", "no", "abstain", "total", "ballots", "adopted")}
    if recount(proposal) != recorded:
        return f"tally disagrees with the recount {recount(proposal)}"
    if source["adopted"]:  # from the tally's ts on: the adopted policy (None: governance off)
        adopted = (proposal["policy_version"], proposal["proposal_id"]) if proposal["policy_toml"] else None
        state["periods"].setdefault(proposal["coop_id"], []).append((entry["ts"], adopted))
    return None


def on_enabled(entry: dict[str, Any], source: dict[str, Any], state: dict[str, Any]) -> str | None:
    """Governance on: from the entry's ts the co-op settles under the policy it names."""
    state["periods"].setdefault(source["coop_id"], []).append((entry["ts"], (source["policy_version"], None)))
    return None


def policy_problem(entry: dict[str, Any], state: dict[str, Any]) -> str | None:
    """A reward mint of a governed co-op names the policy (and proposal) in force for its source."""
    part = entry["settlement_id"].split(":")
    found = [(part[1], part[2][:13] + ":00:00.000000Z")] if part[0] == "green" and len(part) > 3 else []
    wanted = {"recycle.deposit": "collection", "repair": "repair"}.get(entry["reason"])
    found += [(s["coop_id"], s["ts"]) for s in entry["sources"] if s.get("type") == wanted and "coop_id" in s]
    if entry["kind"] != "mint" or not found:
        return None
    periods = [p for at, p in state["periods"].get(found[0][0], []) if at <= found[0][1]]
    expected = periods[-1] if periods and periods[-1] else (entry["policy"], None)
    got = (entry["policy"], entry.get("adopted_by"))
    return None if got == expected else f"mint under {got}, the co-op had adopted {expected}"


VOTES = {
    "governance.secretary": on_secretary,
    "member.key": on_member_key,
    "governance.proposal": on_proposal,
    "governance.ballot": on_ballot,
    "governance.tally": on_tally,
    "governance.enabled": on_enabled,
}


def governance(entry: dict[str, Any], state: dict[str, Any], genesis: str) -> str | None:
    """Check a governance record against what the ledger recorded before it."""
    check = VOTES.get(entry["reason"])
    if check is None:
        return None
    source = entry["sources"][0]
    signed_doc = source if "document" in source else source.get("appointed_by", {})
    if "document" in signed_doc and signed_doc["document"].get("ledger") != genesis:
        return f"{entry['reason']} signed for another ledger"
    return check(entry, source, state)


def strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON objects may not repeat a key (two readers could disagree on what was signed)."""
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("an object repeats a key")
    return dict(pairs)


def refuse(text: str) -> Any:
    """No decimal numbers, NaN or Infinity anywhere in an export."""
    raise ValueError(f"{text} is not an integer")


def integer(text: str) -> int:
    """An integer JCS can encode (within 2^53 - 1)."""
    if abs(value := int(text)) > MAX_INT:
        raise ValueError(f"{text} exceeds 2^53 - 1")
    return value


def chain(
    entries: list[dict[str, Any]], keys: dict[str, Ed25519PublicKey], deferred: list[Any] | None
) -> tuple[str | None, list[bytes], dict[str, int]]:
    """Entries in order until the first problem: (that problem, the entry hashes, move nets)."""
    prev, hashes = "0" * 64, list[bytes]()
    balances: dict[tuple[str, str], int] = {}
    moves: dict[str, int] = {}
    votes: dict[str, Any] = {"coops": {}, "proposals": {}, "periods": {}}
    for seq, entry in enumerate(entries, start=1):
        problem = entry_problem(entry, seq, prev, keys, deferred) or move_balance(entry, balances, moves)
        if problem is None and entry["kind"] == "record":
            problem = governance(entry, votes, entries[0]["hash"])
        elif problem is None:
            problem = policy_problem(entry, votes)
        if problem:
            return f"FAIL entry {seq}: {problem}", hashes, moves
        prev = entry["hash"]
        hashes.append(bytes.fromhex(prev))
    return None, hashes, moves


def verify(lines: list[str], public_keys_hex: list[str]) -> str:
    """'OK ...' or 'FAIL entry N: why'; any decimal number, NaN or repeated key is an error."""
    keys_hex = {hashlib.sha256(bytes.fromhex(k)).hexdigest()[:16]: k for k in public_keys_hex}
    keys = {kid: Ed25519PublicKey.from_public_bytes(bytes.fromhex(k)) for kid, k in keys_hex.items()}
    decoder = json.JSONDecoder(
        parse_float=refuse, parse_int=integer, parse_constant=refuse, object_pairs_hook=strict_object
    )
    *entries, trailer = [decoder.decode(line) for line in lines if line.strip()]
    deferred: list[Any] | None = [] if len(entries) >= PARALLEL_FROM and (os.cpu_count() or 1) > 1 else None
    problem, hashes, moves = chain(entries, keys, deferred)
    bad = first_bad_signature(deferred, keys_hex) if deferred else None
    if bad is not None and bad <= len(hashes) + 1:  # before (or at) the chain's first other problem
        return f"FAIL entry {bad}: bad signature or unknown key {entries[bad - 1]['key_id']}"
    unbalanced = [settlement for settlement, net in moves.items() if net != 0]
    if problem or unbalanced:
        return problem or f"FAIL move {unbalanced[0]}: burns and mints differ"
    cp = trailer["checkpoint"]
    if cp is None:
        return "FAIL checkpoint: the export has none (no checkpoint was ever signed)"
    if not signed(
        keys.get(cp["key_id"]), cp["sig"], rfc8785.dumps({k: cp[k] for k in ("size", "root", "ts")})
    ):
        return "FAIL checkpoint: bad signature or unknown key"
    if cp["size"] > len(hashes) or merkle_root(hashes[: cp["size"]]).hex() != cp["root"]:
        return f"FAIL checkpoint: size {cp['size']} root {cp['root']} does not match the entries"
    head = entries[-1]["hash"] if entries else "0" * 64
    return f"OK {len(entries)} entries, head {head}, checkpoint size {cp['size']} root {cp['root']}"


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as export:
        try:
            verdict = verify(export.readlines(), sys.argv[2:])
        except Exception as e:  # a malformed export is a verdict too, on one line
            verdict = f"FAIL malformed export: {type(e).__name__}: {e}"
    print(verdict)  # noqa: T201 - a command-line tool
    sys.exit(0 if verdict.startswith("OK") else 1)
