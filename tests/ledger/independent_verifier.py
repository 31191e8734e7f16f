"""An independent verifier of a Circulo ledger export (ledger formats 1 and 2).

Written on 2026-12-02 by an auditor from the published documentation alone: docs/ledger.md
(the auditor's and operator's guide) and SPEC §5, §8 and §13 — without reading the
implementation, its schemas or its tests, and without copying the guide's embedded script.

``verify_export(lines, public_keys_hex)`` returns the problems found, each starting with
``entry N:`` (N = the entry's position in the export, 1-based), ``move SETTLEMENT_ID:``,
``checkpoint:`` or ``export:``; an empty list means the export verifies. Checked:

* strict JSON per line: no decimal number or exponent, no NaN/Infinity, no repeated key, every
  integer of magnitude ≤ 2^53 − 1, no string with NUL or a lone surrogate;
* the last non-blank line is the trailer ``{public_keys, checkpoint, rotations}``;
* each entry's ``format`` (absent = 1): any value other than 1 or 2 is ``unsupported format``
  and stops the verification (a newer Circulo wrote it) — never ``malformed``;
* the field forms, the kinds-and-reasons table and the shape rules (``malformed``);
* ``seq`` (``seq gap`` / ``seq out of order``), ``prev_hash`` (``broken link``), ``hash``
  (``hash mismatch``; the body leaves out ``hash`` and ``sig``, and ``format`` in format 1),
  ``key_id`` among the trusted keys (``unknown key``), ``sig`` (``bad signature``) and key
  changes against the trailer's rotations (``unrecorded key change``);
* idempotency keys, recomputed and unique (``bad idempotency key``);
* corrections reverse an earlier reward mint of the same account and token, once, by at most
  its amount, and name it in their sources (``bad correction``);
* no burn takes a balance below zero (``overdrawn``);
* each move settlement (transfer, dividend, floor): one burn, mints in the same token adding up
  to it, a transfer being one burn and one mint between two different accounts
  (``unbalanced move``);
* the trailer's checkpoint: signed by a trusted key over JCS ``{size, root, ts}``, covering no
  more entries than the export has, and naming the RFC 6962 Merkle root of the first ``size``
  entry hashes (``bad checkpoint signature`` / ``entries missing`` / ``history rewritten``).

Only the public keys given are trusted; the trailer's ``public_keys`` are only checked for
consistency (``bad public key``), as the guide says auditors take keys from where they are
published, never from the export.
"""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MAX_SAFE_INT = 2**53 - 1
GENESIS_PREV = "0" * 64
KNOWN_FORMATS = (1, 2)
TOKENS = frozenset({"GRN", "RCY"})
REWARD_REASONS = frozenset({"green.energy", "recycle.deposit", "repair"})
MOVE_REASONS = frozenset({"transfer", "dividend", "floor"})
MINT_REASONS = {1: REWARD_REASONS, 2: REWARD_REASONS | MOVE_REASONS}
BURN_REASONS = {1: frozenset({"correction"}), 2: frozenset({"correction"}) | MOVE_REASONS}
RECORD_REASON = re.compile(r"member\.key|(?:governance|certificate)(?:\.[a-z][a-z0-9_-]*)+")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
REQUIRED_FIELDS = (
    "seq",
    "ts",
    "kind",
    "token",
    "account",
    "amount_micro",
    "reason",
    "settlement_id",
    "sources",
    "policy",
    "idempotency_key",
    "key_id",
    "prev_hash",
    "corrects_seq",
    "hash",
    "sig",
)
CHECKPOINT_FIELDS = ("size", "root", "ts", "key_id", "sig")
ROTATION_FIELDS = ("old_key_id", "new_key_id", "after_seq", "ts", "statement_sig")

Json = Any
Entry = dict[str, Json]


# --- strict JSON -------------------------------------------------------------------------------


@dataclass
class Parsed:
    """One export line: its value (None if not JSON), strictness violations, syntax error."""

    value: Json
    issues: list[str]
    error: str | None = None


def parse_strict(line: str) -> Parsed:
    """Parse a line as JSON, noting decimals, NaN/Infinity and repeated keys instead of failing."""
    issues: list[str] = []

    def pairs(items: list[tuple[str, Json]]) -> dict[str, Json]:
        names = [name for name, _ in items]
        issues.extend(f"repeated key {name!r}" for name in sorted(set(names)) if names.count(name) > 1)
        return dict(items)

    def decimal(text: str) -> float:
        issues.append(f"decimal number {text}")
        return float(text)

    def constant(text: str) -> float:
        issues.append(f"non-number {text}")
        return float(text)

    try:
        value = json.loads(line, object_pairs_hook=pairs, parse_float=decimal, parse_constant=constant)
    except json.JSONDecodeError as error:  # ValueError subclass, the only one json.loads raises here
        return Parsed(None, issues, f"not JSON: {error}")
    issues.extend(value_issues(value))
    return Parsed(value, issues)


def value_issues(value: Json) -> list[str]:
    """Integers beyond ±(2^53 − 1) and strings with NUL or a lone surrogate, anywhere in ``value``."""
    if isinstance(value, dict):
        return [issue for key, item in value.items() for issue in value_issues(key) + value_issues(item)]
    if isinstance(value, list):
        return [issue for item in value for issue in value_issues(item)]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INT:
        return [f"integer {value} beyond 2^53 - 1"]
    if isinstance(value, str):
        return string_issues(value)
    return []


def string_issues(text: str) -> list[str]:
    """A string is refused if it holds NUL or cannot be encoded as UTF-8."""
    if "\x00" in text:
        return [f"string with NUL {text!r}"]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return [f"string with a lone surrogate {text!r}"]
    return []


# --- small predicates and primitives -----------------------------------------------------------


def is_int(value: Json, low: int, high: int = MAX_SAFE_INT) -> bool:
    """An integer (not a boolean) in ``low … high``."""
    return type(value) is int and low <= value <= high


def is_hex(value: Json, digits: int) -> bool:
    """Exactly ``digits`` lowercase hex digits."""
    return isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{digits}}}", value) is not None


def is_text(value: Json) -> bool:
    """A non-empty string."""
    return isinstance(value, str) and value != ""


def is_one_of(value: Json, options: frozenset[str]) -> bool:
    """A string among ``options``."""
    return isinstance(value, str) and value in options


def is_timestamp(value: Json) -> bool:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` naming a real instant."""
    if not isinstance(value, str) or TIMESTAMP.fullmatch(value) is None:
        return False
    try:
        datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return False
    return True


def is_sources(value: Json) -> bool:
    """An array of objects."""
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def key_id_of(raw_public_key: bytes) -> str:
    """The first 16 hex digits of SHA-256 of the raw 32-byte public key."""
    return sha256_hex(raw_public_key)[:16]


def signature_ok(key: Ed25519PublicKey, sig_hex: str, message: bytes) -> bool:
    """Whether ``sig_hex`` is an Ed25519 signature of ``message`` under ``key``."""
    try:
        key.verify(bytes.fromhex(sig_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def canonical(value: Json) -> bytes | None:
    """RFC 8785 JCS bytes of ``value``, or None if it cannot be canonicalised."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeError, TypeError, ValueError):
        return None


def idempotency_key(reason: str, settlement_id: str, account: str) -> str:
    """SHA-256(UTF-8(reason) ‖ 0x00 ‖ UTF-8(settlement_id) ‖ 0x00 ‖ UTF-8(account)), hex."""
    return sha256_hex(b"\x00".join(part.encode("utf-8") for part in (reason, settlement_id, account)))


def merkle_root(entry_hashes: list[bytes]) -> bytes:
    """RFC 6962 §2.1 tree hash: SHA-256 of nothing for no leaves, else the root over the leaves."""
    if not entry_hashes:
        return hashlib.sha256(b"").digest()
    return subtree_root([hashlib.sha256(b"\x00" + item).digest() for item in entry_hashes])


def subtree_root(leaf_hashes: list[bytes]) -> bytes:
    """Split at the largest power of two strictly below n; node = SHA-256(0x01 ‖ left ‖ right)."""
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    split = 1 << ((len(leaf_hashes) - 1).bit_length() - 1)
    left, right = subtree_root(leaf_hashes[:split]), subtree_root(leaf_hashes[split:])
    return hashlib.sha256(b"\x01" + left + right).digest()


# --- the audit state ---------------------------------------------------------------------------


@dataclass
class Audit:
    """What the pass over the entries has established so far."""

    keys: dict[str, Ed25519PublicKey]
    keys_hex: dict[str, str]
    seqs_present: set[int]
    pending_rotations: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    prev_seq: int = 0
    prev_hash: str | None = GENESIS_PREV
    current_key: str | None = None
    hashes: list[bytes | None] = field(default_factory=list)
    by_seq: dict[int, Entry] = field(default_factory=dict)
    corrected_by: dict[int, int] = field(default_factory=dict)
    idempotency: dict[str, int] = field(default_factory=dict)
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    moves: dict[str, list[Entry]] = field(default_factory=dict)

    def report(self, position: int, problem: str) -> None:
        """Record a problem of the entry at ``position``."""
        self.problems.append(f"entry {position}: {problem}")


def trusted_keys(public_keys_hex: list[str]) -> tuple[dict[str, Ed25519PublicKey], dict[str, str], list[str]]:
    """Map each published public key to its key id; report those that are not keys."""
    keys: dict[str, Ed25519PublicKey] = {}
    keys_hex: dict[str, str] = {}
    problems = []
    for given in public_keys_hex:
        key_hex = given.strip().lower()
        if not is_hex(key_hex, 64):
            problems.append(f"export: bad public key {given!r} (not 64 hex digits)")
            continue
        raw = bytes.fromhex(key_hex)
        try:
            keys[key_id_of(raw)] = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            problems.append(f"export: bad public key {given!r}")
            continue
        keys_hex[key_id_of(raw)] = key_hex
    return keys, keys_hex, problems


# --- entry form: fields, kinds and reasons -----------------------------------------------------

FIELD_FORMS: dict[str, Callable[[Json], bool]] = {
    "seq": lambda value: is_int(value, 1),
    "ts": is_timestamp,
    "account": is_text,
    "settlement_id": is_text,
    "sources": is_sources,
    "policy": is_text,
    "idempotency_key": lambda value: is_hex(value, 64),
    "key_id": lambda value: is_hex(value, 16),
    "prev_hash": lambda value: is_hex(value, 64),
    "hash": lambda value: is_hex(value, 64),
    "sig": lambda value: is_hex(value, 128),
}


def entry_format(entry: Entry) -> Json:
    """The entry's format; absent means 1 (exports made before ledger format 2)."""
    return entry.get("format", 1)


def is_known_format(fmt: Json) -> bool:
    """1 or 2 as a JSON integer (``true``, ``"2"`` or ``2.0`` are not formats this verifier knows)."""
    return type(fmt) is int and fmt in KNOWN_FORMATS


def form_problems(entry: Entry, fmt: int) -> list[str]:
    """Why the entry is not in its SPEC §8 / §13 form (missing fields, bad values, bad kind)."""
    missing = [name for name in REQUIRED_FIELDS if name not in entry]
    if missing:
        return [f"missing {', '.join(missing)}"]
    bad = [f"bad {name} {entry[name]!r}" for name, ok in FIELD_FORMS.items() if not ok(entry[name])]
    return bad + kind_problems(entry, fmt)


def kind_problems(entry: Entry, fmt: int) -> list[str]:
    """The kinds-and-reasons table and the shape rules for the entry's kind in its format."""
    kind = entry["kind"]
    if kind == "record" and fmt == 2:
        return record_problems(entry)
    if kind in ("mint", "burn"):
        return amount_problems(entry) + reason_problems(entry, fmt)
    return [f"unknown kind {kind!r} in format {fmt}"]


def record_problems(entry: Entry) -> list[str]:
    """A record: token null, amount exactly 0, no corrects_seq, a lowercase dotted record reason."""
    problems = []
    if entry["token"] is not None:
        problems.append(f"record with token {entry['token']!r}")
    if not is_int(entry["amount_micro"], 0, 0):
        problems.append(f"record with amount_micro {entry['amount_micro']!r}")
    if entry["corrects_seq"] is not None:
        problems.append("record with corrects_seq")
    if not isinstance(entry["reason"], str) or RECORD_REASON.fullmatch(entry["reason"]) is None:
        problems.append(f"reason {entry['reason']!r} is not a record reason")
    return problems


def amount_problems(entry: Entry) -> list[str]:
    """A mint or burn: token GRN or RCY, amount an integer 1 … 2^53 − 1."""
    problems = []
    if not is_one_of(entry["token"], TOKENS):
        problems.append(f"bad token {entry['token']!r}")
    if not is_int(entry["amount_micro"], 1):
        problems.append(f"bad amount_micro {entry['amount_micro']!r}")
    return problems


def reason_problems(entry: Entry, fmt: int) -> list[str]:
    """The reason fits the kind and format; only a correction may name corrects_seq."""
    kind, reason, corrects = entry["kind"], entry["reason"], entry["corrects_seq"]
    allowed = MINT_REASONS[fmt] if kind == "mint" else BURN_REASONS[fmt]
    problems = []
    if not is_one_of(reason, allowed):
        problems.append(f"reason {reason!r} is not a format-{fmt} {kind} reason")
    if reason == "correction" and kind == "burn":
        if corrects is not None and not is_int(corrects, 1):
            problems.append(f"bad corrects_seq {corrects!r}")
    elif corrects is not None:
        problems.append("corrects_seq on an entry that is not a correction")
    return problems


# --- chain: seq, link, hash, key, signature ----------------------------------------------------


def check_seq(audit: Audit, position: int, seq: Json) -> None:
    """Seq must follow the previous one: a missing number is a gap, anything else out of order."""
    if not is_int(seq, 1):
        return
    expected = audit.prev_seq + 1
    if seq > expected and not any(n in audit.seqs_present for n in range(expected, seq)):
        audit.report(position, f"seq gap (found seq {seq}, entries {expected}…{seq - 1} are missing)")
    elif seq != expected:
        audit.report(position, f"seq out of order (found seq {seq} where {expected} belongs)")
    audit.prev_seq = seq


def check_link_and_hash(audit: Audit, position: int, entry: Entry, fmt: int, strict: bool) -> None:
    """prev_hash names the previous entry's hash; hash is SHA-256(prev_hash bytes ‖ JCS(body))."""
    prev_hash, stated = entry.get("prev_hash"), entry.get("hash")
    if audit.prev_hash is not None and isinstance(prev_hash, str) and prev_hash != audit.prev_hash:
        audit.report(position, "broken link")
    audit.prev_hash = stated if isinstance(stated, str) else None
    audit.hashes.append(bytes.fromhex(stated) if is_hex(stated, 64) else None)
    if not (strict and is_hex(prev_hash, 64) and is_hex(stated, 64)):
        return
    unsigned = ("hash", "sig", "format") if fmt == 1 else ("hash", "sig")
    body = canonical({name: value for name, value in entry.items() if name not in unsigned})
    if body is None or sha256_hex(bytes.fromhex(prev_hash) + body) != stated:
        audit.report(position, "hash mismatch")


def check_signature(audit: Audit, position: int, entry: Entry) -> None:
    """The key id is trusted, sig verifies over the 32 hash bytes, and any key change was recorded."""
    key_id, sig, stated = entry.get("key_id"), entry.get("sig"), entry.get("hash")
    if not (is_hex(key_id, 16) and is_hex(sig, 128) and is_hex(stated, 64)):
        return
    key = audit.keys.get(key_id)
    if key is None:
        audit.report(position, f"unknown key {key_id}")
    elif not signature_ok(key, sig, bytes.fromhex(stated)):
        audit.report(position, f"bad signature (key {key_id})")
    check_key_change(audit, position, key_id)


def check_key_change(audit: Audit, position: int, key_id: str) -> None:
    """After entry k the key may change only along a rotation recorded with ``after_seq`` k."""
    if audit.current_key is None:
        audit.current_key = key_id  # the first append registers the key
        return
    while audit.pending_rotations and audit.pending_rotations[0]["after_seq"] < position:
        rotation = audit.pending_rotations.pop(0)
        if rotation["old_key_id"] != audit.current_key:
            audit.problems.append(
                f"export: bad rotation (after entry {rotation['after_seq']}, old key "
                f"{rotation['old_key_id']} is not the key in use, {audit.current_key})"
            )
            continue
        audit.current_key = rotation["new_key_id"]
    if key_id != audit.current_key:
        audit.report(position, f"unrecorded key change (from {audit.current_key} to {key_id})")
        audit.current_key = key_id


# --- meaning: idempotency, corrections, balances, moves ----------------------------------------


def check_idempotency(audit: Audit, position: int, entry: Entry) -> None:
    """The idempotency key is recomputed and unique in the export."""
    key = entry["idempotency_key"]
    if key != idempotency_key(entry["reason"], entry["settlement_id"], entry["account"]):
        audit.report(position, "bad idempotency key (not SHA-256 of reason, settlement and account)")
    elif key in audit.idempotency:
        audit.report(position, f"bad idempotency key (repeats entry {audit.idempotency[key]})")
    else:
        audit.idempotency[key] = position


def correction_target(audit: Audit, entry: Entry) -> tuple[Entry | None, str | None]:
    """The earlier entry a correction names, or why there is none."""
    target_seq = entry["corrects_seq"]
    if target_seq is None:
        return None, "corrects_seq is null"
    target = audit.by_seq.get(target_seq)
    if target is None or target_seq >= entry["seq"]:
        return None, f"entry {target_seq} is not an earlier entry of the export"
    return target, None


def correction_problem(audit: Audit, entry: Entry) -> str | None:
    """Why a correction burn does not reverse an earlier reward mint, once, by at most its amount."""
    target, missing = correction_target(audit, entry)
    if target is None:
        return missing
    target_seq = target["seq"]
    if target["kind"] != "mint" or target["reason"] not in REWARD_REASONS:
        return f"entry {target_seq} is not a reward mint"
    if (target["account"], target["token"]) != (entry["account"], entry["token"]):
        return f"entry {target_seq} credited another account or token"
    if target_seq in audit.corrected_by:
        return f"entry {target_seq} was already corrected by entry {audit.corrected_by[target_seq]}"
    if entry["amount_micro"] > target["amount_micro"]:
        return f"burns {entry['amount_micro']} µ, more than the {target['amount_micro']} µ minted"
    return correction_sources_problem(entry, target)


def correction_sources_problem(entry: Entry, target: Entry) -> str | None:
    """A correction's sources are ``[{corrects_seq, corrects_hash, why}]`` naming the target."""
    sources = entry["sources"]
    if len(sources) != 1:
        return "sources is not one {corrects_seq, corrects_hash, why} object"
    source = sources[0]
    if source.get("corrects_seq") != target["seq"] or type(source.get("corrects_seq")) is not int:
        return "sources do not name the corrected seq"
    if source.get("corrects_hash") != target["hash"]:
        return "sources do not name the corrected entry's hash"
    if not isinstance(source.get("why"), str):
        return "sources give no why"
    return None


def check_correction(audit: Audit, position: int, entry: Entry) -> None:
    """Report a bad correction, or remember that its target is now corrected."""
    problem = correction_problem(audit, entry)
    if problem:
        audit.report(position, f"bad correction ({problem})")
    else:
        audit.corrected_by[entry["corrects_seq"]] = position


def apply_balance(audit: Audit, position: int, entry: Entry) -> None:
    """A mint adds, a burn subtracts and may not go below zero (then it is not applied), a record nothing."""
    if entry["kind"] == "record":
        return
    account, token, amount = entry["account"], entry["token"], entry["amount_micro"]
    held = audit.balances.get((account, token), 0)
    if entry["kind"] == "mint":
        audit.balances[account, token] = held + amount
    elif held < amount:
        audit.report(position, f"overdrawn ({account} holds {held} µ{token}, the burn takes {amount})")
    else:
        audit.balances[account, token] = held - amount


def check_meaning(audit: Audit, position: int, entry: Entry) -> None:
    """The checks that need a well-formed entry."""
    check_idempotency(audit, position, entry)
    if entry["kind"] == "burn" and entry["reason"] == "correction":
        check_correction(audit, position, entry)
    apply_balance(audit, position, entry)
    if entry["reason"] in MOVE_REASONS:
        audit.moves.setdefault(entry["settlement_id"], []).append(entry)
    audit.by_seq.setdefault(entry["seq"], entry)


def move_problem(entries: list[Entry]) -> str | None:
    """One burn; mints in the same token adding up to it; a transfer: one mint, another account."""
    reasons = {entry["reason"] for entry in entries}
    tokens = {entry["token"] for entry in entries}
    burns = [entry for entry in entries if entry["kind"] == "burn"]
    mints = [entry for entry in entries if entry["kind"] == "mint"]
    if len(reasons) > 1 or len(tokens) > 1:
        return f"mixes reasons {sorted(reasons)} or tokens {sorted(tokens)}"
    if len(burns) != 1:
        return f"{len(burns)} burns, a move has exactly one"
    minted, burned = sum(entry["amount_micro"] for entry in mints), burns[0]["amount_micro"]
    if minted != burned:
        return f"burns {burned} µ, mints {minted} µ"
    if reasons == {"transfer"} and (len(mints) != 1 or mints[0]["account"] == burns[0]["account"]):
        return "a transfer is one burn and one mint between two different accounts"
    return None


def move_problems(audit: Audit) -> list[str]:
    """Every move settlement balanced."""
    problems = []
    for settlement_id, entries in audit.moves.items():
        problem = move_problem(entries)
        if problem:
            problems.append(f"move {settlement_id}: unbalanced move ({problem})")
    return problems


# --- the trailer: public keys, rotations, checkpoint -------------------------------------------


def trailer_key_problems(trailer: Entry) -> list[str]:
    """The trailer's public_keys map each key id to the key it is derived from."""
    public_keys = trailer.get("public_keys", {})
    if not isinstance(public_keys, dict):
        return ["export: malformed trailer (public_keys is not an object)"]
    return [
        f"export: bad public key {key_id!r} in the trailer"
        for key_id, key_hex in public_keys.items()
        if not (is_hex(key_hex, 64) and key_id_of(bytes.fromhex(key_hex)) == key_id)
    ]


def rotation_well_formed(rotation: Json) -> bool:
    """``{old_key_id, new_key_id, after_seq, ts, statement_sig, note?}`` in their forms."""
    if not isinstance(rotation, dict) or any(name not in rotation for name in ROTATION_FIELDS):
        return False
    return (
        is_hex(rotation["old_key_id"], 16)
        and is_hex(rotation["new_key_id"], 16)
        and is_int(rotation["after_seq"], 0)
        and is_timestamp(rotation["ts"])
        and (rotation["statement_sig"] is None or is_hex(rotation["statement_sig"], 128))
    )


def rotation_problem(audit: Audit, rotation: Json, trailer_keys: dict[str, Json]) -> str | None:
    """A rotation is well formed and, unless unsigned (a lost key), signed by the old key."""
    if not rotation_well_formed(rotation):
        return "malformed rotation"
    if rotation["statement_sig"] is None:
        return None  # recorded with --lost-key-id: the operator's word
    old_key = audit.keys.get(rotation["old_key_id"])
    new_key_hex = audit.keys_hex.get(rotation["new_key_id"], trailer_keys.get(rotation["new_key_id"]))
    if old_key is None:
        return f"bad rotation signature (old key {rotation['old_key_id']} is not trusted)"
    if not is_hex(new_key_hex, 64):
        return f"bad rotation signature (new key {rotation['new_key_id']} is not known)"
    statement = {name: rotation[name] for name in ("after_seq", "new_key_id", "old_key_id", "ts")}
    message = canonical({**statement, "new_public_key": new_key_hex})
    if message is None or not signature_ok(old_key, rotation["statement_sig"], message):
        return "bad rotation signature"
    return None


def load_rotations(audit: Audit, trailer: Entry) -> None:
    """Keep the trailer's valid rotations, in after_seq order, for the key-change check."""
    rotations = trailer.get("rotations", [])
    trailer_keys = trailer.get("public_keys", {})
    if not isinstance(rotations, list) or not isinstance(trailer_keys, dict):
        audit.problems.append("export: malformed trailer (rotations)")
        return
    for index, rotation in enumerate(rotations, start=1):
        problem = rotation_problem(audit, rotation, trailer_keys)
        if problem:
            audit.problems.append(f"export: rotation {index}: {problem}")
        else:
            audit.pending_rotations.append(rotation)
    audit.pending_rotations.sort(key=lambda rotation: rotation["after_seq"])


def checkpoint_form_problems(checkpoint: Json) -> list[str]:
    """``{size, root, ts, key_id, sig}`` in their forms."""
    if not isinstance(checkpoint, dict):
        return ["missing (the trailer has no checkpoint object)"]
    missing = [name for name in CHECKPOINT_FIELDS if name not in checkpoint]
    if missing:
        return [f"malformed (missing {', '.join(missing)})"]
    forms = {
        "size": is_int(checkpoint["size"], 0),
        "root": is_hex(checkpoint["root"], 64),
        "ts": is_timestamp(checkpoint["ts"]),
        "key_id": is_hex(checkpoint["key_id"], 16),
        "sig": is_hex(checkpoint["sig"], 128),
    }
    return [f"malformed (bad {name})" for name, ok in forms.items() if not ok]


def checkpoint_problems(audit: Audit, checkpoint: Json) -> list[str]:
    """Signed by a trusted key over JCS {size, root, ts}; root = RFC 6962 root of the first size hashes."""
    form = checkpoint_form_problems(checkpoint)
    if form:
        return [f"checkpoint: {problem}" for problem in form]
    problems = []
    key = audit.keys.get(checkpoint["key_id"])
    message = canonical({name: checkpoint[name] for name in ("size", "root", "ts")})
    if key is None:
        problems.append(f"checkpoint: unknown key {checkpoint['key_id']}")
    elif message is None or not signature_ok(key, checkpoint["sig"], message):
        problems.append("checkpoint: bad checkpoint signature")
    size, covered = checkpoint["size"], audit.hashes[: checkpoint["size"]]
    if size > len(audit.hashes):
        problems.append(f"checkpoint: entries missing (covers {size}, the export has {len(audit.hashes)})")
    elif any(item is None for item in covered):
        problems.append("checkpoint: root not checked (an entry it covers has a malformed hash)")
    elif merkle_root([item for item in covered if item is not None]).hex() != checkpoint["root"]:
        problems.append(f"checkpoint: history rewritten (root of the first {size} entries differs)")
    return problems


# --- the whole export --------------------------------------------------------------------------


def split_trailer(rows: list[Parsed]) -> tuple[list[Parsed], Entry | None, list[str]]:
    """The last line is the trailer; report it if it is missing or not strict JSON."""
    last = rows[-1].value if rows else None
    if not isinstance(last, dict) or "seq" in last or not ({"checkpoint", "public_keys"} & set(last)):
        return rows, None, ["export: malformed (no trailer line with public_keys and checkpoint)"]
    issues = rows[-1].issues
    return rows[:-1], last, [f"export: malformed trailer ({'; '.join(issues)})"] if issues else []


def check_entry(audit: Audit, position: int, row: Parsed) -> bool:
    """Check one entry; False when verification must stop here (not JSON, or an unknown format)."""
    entry = row.value
    if row.error or not isinstance(entry, dict):
        audit.report(position, f"malformed ({row.error or 'not a JSON object'})")
        return False
    fmt = entry_format(entry)
    if not is_known_format(fmt):
        audit.report(position, f"unsupported format {fmt!r} (written by a newer Circulo; not checked)")
        return False
    malformed = row.issues + form_problems(entry, fmt)
    if malformed:
        audit.report(position, f"malformed ({'; '.join(malformed)})")
    check_seq(audit, position, entry.get("seq"))
    check_link_and_hash(audit, position, entry, fmt, strict=not row.issues)
    check_signature(audit, position, entry)
    if not malformed:
        check_meaning(audit, position, entry)
    return True


def verify_export(lines: list[str], public_keys_hex: list[str]) -> list[str]:
    """Verify an export (its lines, as read) against the published public keys; [] if it verifies."""
    keys, keys_hex, problems = trusted_keys(public_keys_hex)
    rows = [parse_strict(line) for line in lines if line.strip()]
    entries, trailer, trailer_problems = split_trailer(rows)
    values = [row.value for row in entries if isinstance(row.value, dict)]
    seqs = {value["seq"] for value in values if is_int(value.get("seq"), 1)}
    audit = Audit(keys=keys, keys_hex=keys_hex, seqs_present=seqs, problems=problems + trailer_problems)
    if trailer is not None:
        audit.problems.extend(trailer_key_problems(trailer))
        load_rotations(audit, trailer)
    for position, row in enumerate(entries, start=1):
        if not check_entry(audit, position, row):
            return audit.problems
    audit.problems.extend(move_problems(audit))
    if trailer is not None:
        audit.problems.extend(checkpoint_problems(audit, trailer.get("checkpoint")))
    return audit.problems
