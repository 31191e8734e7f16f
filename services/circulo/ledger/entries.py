"""Ledger entries as pure data: validation, canonical encoding, hashes and ids (SPEC §5, §8, §13).

An entry's *body* is every field except ``hash`` and ``sig`` — and, for an entry of format 1
(written before ledger format 2), except ``format`` too, which such an entry was signed
without. Its hash is ``SHA-256(bytes.fromhex(prev_hash) || JCS(body))`` with JCS = RFC 8785
(``rfc8785``); its signature is Ed25519 over the 32 hash bytes. Every number in an entry is an
integer of at most 2^53 - 1 in magnitude, so the canonical encoding is exact and the same in
every language. Nothing here touches a database, a file or the clock.

Format 2 (SPEC §13) adds kind ``record`` (``token`` null, ``amount_micro`` 0: the only entries
that may) and the reasons of the kinds-and-reasons table :data:`REASONS_BY_KIND`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, get_args

import rfc8785

from circulo.ledger.errors import InvalidEntry

Kind = Literal["mint", "burn", "record"]
Token = Literal["GRN", "RCY"]
# A reason is one of the table below; ``governance.*`` and ``certificate.*`` are families.
Reason = str

KINDS: tuple[str, ...] = get_args(Kind)
TOKENS: tuple[str, ...] = get_args(Token)

FORMAT_1 = 1  # every entry written before the upgrade to ledger format 2
FORMAT_2 = 2
CURRENT_FORMAT = FORMAT_2
FORMATS = (FORMAT_1, FORMAT_2)

# SPEC §13, the kinds-and-reasons table. A record's reason is one of these or starts with
# one of the RECORD_FAMILIES.
REASONS_BY_KIND: dict[str, tuple[str, ...]] = {
    "mint": ("green.energy", "recycle.deposit", "repair", "transfer", "dividend", "floor"),
    "burn": ("correction", "transfer", "dividend", "floor"),
    "record": ("member.key",),
}
RECORD_FAMILIES = ("governance.", "certificate.")
# What a format-1 entry may be: mints of the v1 rules and their corrections.
FORMAT_1_REASONS: dict[str, tuple[str, ...]] = {
    "mint": ("green.energy", "recycle.deposit", "repair"),
    "burn": ("correction",),
}
# Only reward mints are corrected: a correction of a move's mint would destroy tokens that
# left another account (a move is reversed by another move).
CORRECTABLE_REASONS = FORMAT_1_REASONS["mint"]
# Reasons that move tokens between accounts: their burns and mints balance per settlement.
MOVE_REASONS = ("transfer", "dividend", "floor")
REASONS: tuple[str, ...] = tuple(dict.fromkeys(r for rs in REASONS_BY_KIND.values() for r in rs))

GENESIS_PREV_HASH = "0" * 64
MAX_SAFE_INT = 2**53 - 1
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Every field of an entry in export order; the body is all of them but ``hash`` and ``sig``
# (and, in format 1, ``format``).
BODY_FIELDS = (
    "seq", "ts", "kind", "token", "account", "amount_micro", "reason", "settlement_id",
    "sources", "policy", "idempotency_key", "key_id", "prev_hash", "corrects_seq", "format",
)  # fmt: skip
FORMAT_1_FIELDS = BODY_FIELDS[:-1]
ENTRY_FIELDS = (*BODY_FIELDS, "hash", "sig")
UNSIGNED_FIELDS = ("hash", "sig")

ACCOUNT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._-]{0,127}")
LABEL_RE = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,199}")  # settlement ids, policy versions
RECORD_REASON_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
HASH_RE = re.compile(r"[0-9a-f]{64}")
KEY_ID_RE = re.compile(r"[0-9a-f]{16}")
SIG_RE = re.compile(r"[0-9a-f]{128}")

JsonValue = None | bool | int | str | list["JsonValue"] | dict[str, "JsonValue"]


class SignsBytes(Protocol):
    """What sealing an entry needs of a signer (:class:`circulo.ledger.keys.Signer`)."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 (JCS) encoding of ``value``: sorted keys, no whitespace, UTF-8."""
    return bytes(rfc8785.dumps(value))


# JSON text the standard library's C encoder writes exactly as RFC 8785 does, for every value
# whose mapping keys are strings: sorted keys, no whitespace, the same string escapes (the
# two-character ones and lowercase \u00XX for the other control characters, nothing else
# escaped) and integers in decimal. Where it differs, the output shows it, and those values go
# to ``rfc8785``: a number token with a fraction or an exponent (a float), one of 16 or more
# digits (perhaps beyond 2^53 - 1, which RFC 8785 refuses), and any character beyond U+FFFF
# (keys are sorted by UTF-16 code units there, by code points here). A number token follows
# one of ``[:,`` and ends before one of ``,}]``; a string holding such text (``"a:1.5,"``) only
# takes the slower exact path.
_FAST_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
_NUMBER_RFC8785_ONLY = re.compile(rb"[:,\[]-?\d+(?:[.eE][-+.eE\d]*|\d{15,})[,}\]]")
_BEYOND_BMP = re.compile(rb"[\xf0-\xf4]")  # the lead bytes of UTF-8 beyond U+FFFF


def fast_canonical_json(value: Any) -> bytes:
    """:func:`canonical_json` at the standard library's C speed, for values with string keys.

    Byte-identical to ``rfc8785.dumps`` for every JSON value (dicts with ``str`` keys, lists,
    tuples, ``str``, ``int``, ``bool``, ``None``, ``float``; tests/ledger/test_fast_jcs.py holds
    it to that for random values). What the fast path cannot vouch for, or the standard library
    refuses, is encoded by ``rfc8785``, which raises for what JCS cannot encode.
    """
    if not isinstance(value, dict | list | tuple):
        return canonical_json(value)
    out = _encode_fast(value)
    return canonical_json(value) if out is None or _NUMBER_RFC8785_ONLY.search(out) else out


def canonical_entry_json(body: Mapping[str, Any]) -> bytes:
    """The JCS of an entry body whose values are in the entry domain, fast.

    The domain is what :func:`json_safe` lets through (no floats, integers within 2^53 - 1,
    string keys) — every body a :class:`NewEntry` makes and every body the verifier hashes
    after :func:`circulo.ledger.verify.check_entry_form` passed — so only characters beyond
    U+FFFF and an out-of-range ``seq`` or ``corrects_seq`` (not bounded by the form check) need
    the exact path. Byte-identical to ``rfc8785.dumps`` on that domain (test_fast_jcs.py).
    """
    out = _encode_fast(body)
    in_range = all(
        type(n) is not int or -MAX_SAFE_INT <= n <= MAX_SAFE_INT
        for n in (body.get("seq"), body.get("corrects_seq"))
    )
    return out if out is not None and in_range else canonical_json(body)


def _encode_fast(value: Any) -> bytes | None:
    """The standard library's encoding, or None when rfc8785 must decide (see above)."""
    try:
        out = _FAST_JSON.encode(value).encode("utf-8")
    except (TypeError, ValueError):  # a type JSON lacks, a lone surrogate, NaN: rfc8785 decides
        return None
    return None if not out.isascii() and _BEYOND_BMP.search(out) else out


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def format_ts(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC; a naive datetime is refused (its zone is unknown)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidEntry(f"timestamp {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC).strftime(TS_FORMAT)


def parse_ts(text: str) -> datetime:
    """The UTC datetime of a timestamp in the entry form (exactly that form, nothing else)."""
    if not isinstance(text, str) or not TS_RE.fullmatch(text):
        raise InvalidEntry(f"timestamp {text!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
    try:  # the form is fixed above; fromisoformat (C) checks the ranges strptime would
        return datetime.fromisoformat(text)
    except ValueError as e:
        raise InvalidEntry(f"timestamp {text!r}: {e}") from e


def key_id(public_key_bytes: bytes) -> str:
    """The first 16 hex digits of SHA-256 of the raw 32-byte Ed25519 public key."""
    if len(public_key_bytes) != 32:
        raise InvalidEntry(f"an Ed25519 public key has 32 bytes, not {len(public_key_bytes)}")
    return sha256_hex(public_key_bytes)[:16]


def idempotency_key(reason: str, settlement_id: str, account: str) -> str:
    """SHA-256 hex of ``reason 0x00 settlement_id 0x00 account`` (each UTF-8).

    None of the three may contain a NUL byte, so the encoding is injective: two different
    triples can never produce the same bytes.
    """
    parts = (reason, settlement_id, account)
    if any("\x00" in part for part in parts):
        raise InvalidEntry("reason, settlement_id and account may not contain NUL")
    return sha256_hex(b"\x00".join(part.encode("utf-8") for part in parts))


def json_safe(value: Any, where: str) -> JsonValue:
    """``value`` as plain JSON data (dicts, lists, str, int, bool, None), or InvalidEntry.

    Floats are refused (no decimals anywhere in an entry), so are integers beyond
    2^53 - 1, strings PostgreSQL's jsonb cannot hold (NUL) and non-string keys.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise InvalidEntry(f"{where}: integer {value} exceeds 2^53 - 1")
        return int(value)
    if isinstance(value, str):
        return checked_text(value, where)
    if isinstance(value, Mapping):
        return {checked_key(k, where): json_safe(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise InvalidEntry(f"{where}: {type(value).__name__} is not allowed (integers and strings only)")


def plain_json(value: Any, *, tuples: bool = True) -> bool:
    """Whether :func:`json_safe` accepts ``value`` as it is, by a quick walk over exact types.

    True only for dicts with string keys, lists, tuples, ``str`` without NUL or lone
    surrogates, ``int`` within 2^53 - 1, ``bool`` and ``None`` — what a JSON parser returns for
    a good entry (``tuples=False``: lists only, so that the value is what :func:`json_safe`
    returns). False means "not sure": :func:`json_safe` decides and names the problem.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            if not _plain_members(item, stack, tuples):
                return False
        elif kind is list or (kind is tuple and tuples):
            stack.extend(item)
        elif not _plain_scalar(item):
            return False
    return True


def _plain_members(mapping: dict[Any, Any], stack: list[Any], tuples: bool) -> bool:
    """A dict's keys and scalar values are plain; its containers go on ``stack``."""
    for key, inner in mapping.items():
        if type(key) is not str or not _plain_text(key):
            return False
        kind = type(inner)
        if kind is dict or kind is list or (kind is tuple and tuples):
            stack.append(inner)
        elif not _plain_scalar(inner):
            return False
    return True


def _plain_scalar(item: Any) -> bool:
    kind = type(item)
    if kind is str:
        return _plain_text(item)
    if kind is int:
        return bool(-MAX_SAFE_INT <= item <= MAX_SAFE_INT)
    return item is None or kind is bool


def _plain_text(text: str) -> bool:
    """No NUL, and UTF-8 can encode it (no lone surrogate)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_sources(sources: Any) -> None:
    """Raise InvalidEntry unless :func:`normalise_sources` accepts ``sources`` (fast for plain JSON)."""
    kind = type(sources)
    listed = (kind is list or kind is tuple) and sources and all(type(s) is dict for s in sources)
    if not (listed and plain_json(sources)):
        normalise_sources(sources)


def checked_key(key: Any, where: str) -> str:
    """A mapping key: a string jsonb can store."""
    if not isinstance(key, str):
        raise InvalidEntry(f"{where}: key {key!r} is not a string")
    return checked_text(key, where)


def checked_text(text: str, where: str) -> str:
    """A string that survives UTF-8 and jsonb unchanged (no NUL, no lone surrogate)."""
    if "\x00" in text:
        raise InvalidEntry(f"{where}: strings may not contain NUL")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidEntry(f"{where}: not encodable as UTF-8") from e
    return text


def normalise_sources(sources: Any) -> list[dict[str, JsonValue]]:
    """The sources as a JSON array of objects, validated (see :func:`json_safe`); at least one."""
    if isinstance(sources, str | bytes) or not isinstance(sources, Sequence) or not sources:
        raise InvalidEntry("sources: a non-empty sequence of objects is required")
    if all(type(source) is dict and plain_json(source, tuples=False) for source in sources):
        return [dict(source) for source in sources]  # already what json_safe would return
    normalised: list[dict[str, JsonValue]] = []
    for i, source in enumerate(sources):
        if not isinstance(source, Mapping):
            raise InvalidEntry(f"sources[{i}]: an object is required")
        normalised.append(
            {checked_key(k, f"sources[{i}]"): json_safe(v, f"sources[{i}].{k}") for k, v in source.items()}
        )
    return normalised


@dataclass(frozen=True)
class NewEntry:
    """An entry the rewards engine (or an operator's command) asks the journal to append.

    Its kind and reason follow :data:`REASONS_BY_KIND`: a ``correction`` burn names the entry
    it reverses in ``corrects_seq`` (nothing else does); a ``record`` has no token and an
    amount of 0. New entries are always of :data:`CURRENT_FORMAT`.
    """

    kind: Kind
    token: Token | None
    account: str
    amount_micro: int
    reason: Reason
    settlement_id: str
    sources: tuple[Mapping[str, Any], ...]
    policy: str
    corrects_seq: int | None = None
    adopted_by: str | None = None  # the proposal that adopted ``policy`` (a governed co-op, SPEC §14)

    def __post_init__(self) -> None:
        check_new_entry(self)

    @property
    def idempotency_key(self) -> str:
        """SHA-256(reason ‖ settlement_id ‖ account), see :func:`idempotency_key`."""
        return idempotency_key(self.reason, self.settlement_id, self.account)


def check_new_entry(entry: NewEntry) -> None:
    """Raise InvalidEntry naming the first field of ``entry`` that breaks SPEC §5/§8/§13."""
    check_choice("kind", entry.kind, KINDS)
    check_kind_and_reason(entry.kind, entry.reason, CURRENT_FORMAT)
    if not isinstance(entry.account, str) or not ACCOUNT_RE.fullmatch(entry.account):
        raise InvalidEntry(f"account {entry.account!r} is not a valid account id")
    check_token_and_amount(entry.kind, entry.token, entry.amount_micro)
    check_label("settlement_id", entry.settlement_id)
    check_label("policy", entry.policy)
    if entry.adopted_by is not None:
        check_label("adopted_by", entry.adopted_by)
    check_sources(entry.sources)
    check_correction_shape(entry.kind, entry.reason, entry.corrects_seq)


def check_choice(field: str, value: object, choices: tuple[str, ...]) -> None:
    """``value`` is one of ``choices``."""
    if value not in choices:
        raise InvalidEntry(f"{field} {value!r} is not one of {', '.join(choices)}")


def check_kind_and_reason(kind: str, reason: object, entry_format: int) -> None:
    """The reason is one the kinds-and-reasons table allows for the kind, in this format."""
    if not isinstance(reason, str):
        raise InvalidEntry(f"reason {reason!r} is not a string")
    if entry_format == FORMAT_1:
        allowed = FORMAT_1_REASONS.get(kind)
        if allowed is None:
            raise InvalidEntry(f"kind {kind!r} does not exist in format 1")
        check_choice("reason", reason, allowed)
        return
    if kind == "record" and reason.startswith(RECORD_FAMILIES):
        if not RECORD_REASON_RE.fullmatch(reason):
            raise InvalidEntry(f"record reason {reason!r} is not a dotted lowercase name")
        return
    if reason not in REASONS_BY_KIND[kind]:
        families = " or ".join(f"{f}*" for f in RECORD_FAMILIES) if kind == "record" else ""
        choices = ", ".join(REASONS_BY_KIND[kind]) + (f", {families}" if families else "")
        raise InvalidEntry(f"reason {reason!r} is not one of a {kind}'s reasons ({choices})")


def check_token_and_amount(kind: str, token: object, amount: object) -> None:
    """A record has no token and amount 0; a mint or burn a token and 1 ≤ amount ≤ 2^53 - 1."""
    if kind == "record":
        if token is not None or type(amount) is not int or amount != 0:
            raise InvalidEntry("a record has token null and amount_micro 0")
        return
    check_choice("token", token, TOKENS)
    check_amount(amount)


def check_amount(amount: object) -> None:
    """An amount is an integer of micro-units, 1 ≤ amount ≤ 2^53 - 1."""
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_SAFE_INT:
        raise InvalidEntry(f"amount_micro {amount!r} must be an integer in 1..2^53-1")


def check_label(field: str, value: object) -> None:
    """Settlement ids and policy versions: 1-200 printable ASCII characters."""
    if not isinstance(value, str) or not LABEL_RE.fullmatch(value):
        raise InvalidEntry(f"{field} {value!r} must be 1-200 printable ASCII characters")


def check_correction_shape(kind: str, reason: str, corrects_seq: object) -> None:
    """A correction burn names the entry it reverses; no other entry names one."""
    if corrects_seq is not None and (
        not isinstance(corrects_seq, int) or isinstance(corrects_seq, bool) or corrects_seq < 1
    ):
        raise InvalidEntry(f"corrects_seq {corrects_seq!r} must be a positive integer")
    is_correction = kind == "burn" and reason == "correction"
    if is_correction and corrects_seq is None:
        raise InvalidEntry("a correction must name the entry it corrects (corrects_seq)")
    if not is_correction and corrects_seq is not None:
        raise InvalidEntry(f"a {kind} with reason {reason!r} cannot name an entry it corrects")


def entry_body(entry: NewEntry, *, seq: int, ts: datetime, key_id: str, prev_hash: str) -> dict[str, Any]:
    """The body of ``entry`` at position ``seq``: every field but ``hash`` and ``sig``."""
    body = {
        "seq": seq,
        "ts": format_ts(ts),
        "kind": entry.kind,
        "token": entry.token,
        "account": entry.account,
        "amount_micro": entry.amount_micro,
        "reason": entry.reason,
        "settlement_id": entry.settlement_id,
        "sources": normalise_sources(entry.sources),
        "policy": entry.policy,
        "idempotency_key": entry.idempotency_key,
        "key_id": key_id,
        "prev_hash": prev_hash,
        "corrects_seq": entry.corrects_seq,
        "format": CURRENT_FORMAT,
    }
    if entry.adopted_by is not None:  # only governed co-ops' entries have it
        body["adopted_by"] = entry.adopted_by
    return body


def entry_hash(prev_hash_hex: str, body: Mapping[str, Any]) -> str:
    """``SHA-256(bytes.fromhex(prev_hash) || JCS(body))`` as lowercase hex."""
    return sha256_hex(bytes.fromhex(prev_hash_hex) + canonical_entry_json(body))


def entry_format(entry: Mapping[str, Any]) -> Any:
    """The format an export-form entry declares (an entry without ``format`` is of format 1)."""
    return entry.get("format", FORMAT_1)


def signed_body(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What was hashed and signed of an export-form entry of a known format.

    Format 2: every field but ``hash`` and ``sig``. Format 1: also without ``format``, which
    such entries were signed without (an export adds ``format: 1`` so every line says it).
    """
    dropped = (*UNSIGNED_FIELDS, "format") if entry_format(entry) == FORMAT_1 else UNSIGNED_FIELDS
    return {name: value for name, value in entry.items() if name not in dropped}


@dataclass(frozen=True)
class LedgerEntry:
    """An entry as the journal holds it: position, body, hash and signature."""

    seq: int
    ts: datetime
    kind: Kind
    token: Token | None
    account: str
    amount_micro: int
    reason: Reason
    settlement_id: str
    sources: tuple[dict[str, Any], ...]
    policy: str
    idempotency_key: str
    key_id: str
    prev_hash: str
    hash: str
    sig: str
    corrects_seq: int | None = None
    format: int = CURRENT_FORMAT
    adopted_by: str | None = None

    def body(self) -> dict[str, Any]:
        """The hashed part (SPEC §8): every field but ``hash`` and ``sig`` (format 1: and ``format``)."""
        names = FORMAT_1_FIELDS if self.format == FORMAT_1 else BODY_FIELDS
        values = {name: getattr(self, name) for name in names}
        values["ts"] = format_ts(self.ts)
        values["sources"] = [dict(source) for source in self.sources]
        if self.adopted_by is not None:
            values["adopted_by"] = self.adopted_by
        return values

    def to_dict(self) -> dict[str, Any]:
        """The export form: the SPEC §8 field names, ``format`` always stated, hash and sig."""
        return {**self.body(), "format": self.format, "hash": self.hash, "sig": self.sig}

    @property
    def signed_micro(self) -> int:
        """What the entry does to its account's balance: + for a mint, − for a burn, 0 for a record."""
        return {"mint": self.amount_micro, "burn": -self.amount_micro}.get(self.kind, 0)


def seal_entry(entry: NewEntry, *, seq: int, ts: datetime, prev_hash: str, signer: SignsBytes) -> LedgerEntry:
    """Chain ``entry`` after ``prev_hash`` at ``seq``: compute its hash and sign it."""
    body = entry_body(entry, seq=seq, ts=ts, key_id=signer.key_id, prev_hash=prev_hash)
    digest = entry_hash(prev_hash, body)
    signature = signer.sign(bytes.fromhex(digest)).hex()
    return entry_from_body(body, digest, signature)


def entry_from_body(body: Mapping[str, Any], digest: str, signature: str) -> LedgerEntry:
    """A :class:`LedgerEntry` from an entry's body plus its hash and signature."""
    values = {name: body[name] for name in BODY_FIELDS if name in body}
    values["ts"] = parse_ts(body["ts"])
    values["sources"] = tuple(body["sources"])
    values["format"] = body.get("format", FORMAT_1)
    values["adopted_by"] = body.get("adopted_by")
    return LedgerEntry(**values, hash=digest, sig=signature)


def entry_from_dict(data: Mapping[str, Any]) -> LedgerEntry:
    """A :class:`LedgerEntry` from its export form (no verification; see :mod:`verify`)."""
    optional = ("corrects_seq", "format")
    missing = [name for name in ENTRY_FIELDS if name not in data and name not in optional]
    if missing:
        raise InvalidEntry(f"entry {data.get('seq')!r} lacks {', '.join(missing)}")
    return entry_from_body(data, data["hash"], data["sig"])
