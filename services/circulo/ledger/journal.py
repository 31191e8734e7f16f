"""The journal in PostgreSQL: append under the head lock, balances in step, keys and rotations.

Every function runs inside the caller's transaction and never commits: the rewards engine
commits claims, mints, balances and progress marks together (SPEC §5).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from circulo.errors import NotFound
from circulo.ledger import queries
from circulo.ledger.entries import (
    CORRECTABLE_REASONS,
    LedgerEntry,
    NewEntry,
    SignsBytes,
    canonical_json,
    format_ts,
    normalise_sources,
    seal_entry,
)
from circulo.ledger.errors import DuplicateEntry, InsufficientFunds, InvalidEntry, KeyMismatch
from circulo.ledger.keys import Signer

PAGE_SIZE = 2000
STREAM_ROWS = 5000  # rows a server-side cursor fetches at a time
_cursor_names = itertools.count(1)


@dataclass(frozen=True)
class Head:
    """The chain head: the last entry's seq and hash, and the key that signed it."""

    seq: int
    hash: str
    key_id: str | None


@dataclass(frozen=True)
class Balance:
    """Mints minus burns of one token for one account, in micro-units."""

    account: str
    token: str
    amount_micro: int


@dataclass(frozen=True)
class KeyRotation:
    """A recorded change of signing key after entry ``after_seq``."""

    old_key_id: str
    new_key_id: str
    new_public_key: str
    after_seq: int
    ts: str
    statement_sig: str | None
    note: str

    def statement(self) -> bytes:
        """What the old key signs: JCS of the rotation's facts."""
        return rotation_statement(
            self.old_key_id, self.new_key_id, self.new_public_key, self.after_seq, self.ts
        )


def rotation_statement(
    old_key_id: str, new_key_id: str, new_public_key: str, after_seq: int, ts: str
) -> bytes:
    """JCS of ``{after_seq, new_key_id, new_public_key, old_key_id, ts}``."""
    return canonical_json(
        {
            "after_seq": after_seq,
            "new_key_id": new_key_id,
            "new_public_key": new_public_key,
            "old_key_id": old_key_id,
            "ts": ts,
        }
    )


@contextmanager
def snapshot(conn: psycopg.Connection) -> Iterator[None]:
    """One consistent view: a REPEATABLE READ transaction when the connection is idle, else the caller's."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with conn.transaction():
            yield
        return
    saved = conn.isolation_level
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with conn.transaction():
            yield
    finally:
        conn.isolation_level = saved


def append_entries(
    conn: psycopg.Connection, entries: Sequence[NewEntry], signer: Signer, *, now: datetime | None = None
) -> list[LedgerEntry]:
    """Append ``entries`` in order inside the caller's open transaction (no commit).

    Locks the chain head, assigns the next gapless seqs, hashes and signs, inserts, moves
    the balances and the head. A repeated idempotency key raises DuplicateEntry and leaves
    the transaction failed: the caller must roll back.
    """
    if not entries:
        return []
    head = lock_head(conn)
    check_signer(conn, head, signer)
    ts = now or datetime.now(UTC)
    for entry in entries:
        if entry.corrects_seq is not None:
            check_correction_target(conn, entry)
    check_funds(conn, entries)
    sealed = seal_all(entries, head, ts, signer)
    insert_entries(conn, sealed)
    add_to_balances(conn, sealed)
    conn.execute(queries.MOVE_HEAD, (sealed[-1].seq, sealed[-1].hash, signer.key_id))
    return sealed


def lock_head(conn: psycopg.Connection) -> Head:
    """The chain head, locked until the transaction ends (concurrent writers queue here)."""
    row = conn.execute(queries.LOCK_HEAD).fetchone()
    if row is None:
        raise NotFound("ledger_head row missing: is the database migrated (circulo db upgrade)?")
    return Head(*row)


def read_head(conn: psycopg.Connection) -> Head:
    """The chain head, without a lock."""
    row = conn.execute(queries.READ_HEAD).fetchone()
    if row is None:
        raise NotFound("ledger_head row missing: is the database migrated (circulo db upgrade)?")
    return Head(*row)


def check_signer(conn: psycopg.Connection, head: Head, signer: SignsBytes) -> None:
    """The signer is the head's key, or a rotation to it is recorded; the first key is registered."""
    if head.key_id is None:
        register_key(conn, signer)
    elif head.key_id != signer.key_id and not rotation_recorded(conn, head.key_id, signer.key_id):
        raise key_mismatch(head.key_id, signer.key_id)


def ensure_signer_matches(conn: psycopg.Connection, signer: SignsBytes) -> None:
    """Raise KeyMismatch unless ``signer`` may continue the chain (the engine checks at start)."""
    head = read_head(conn)
    if head.key_id not in (None, signer.key_id) and not rotation_recorded(
        conn, str(head.key_id), signer.key_id
    ):
        raise key_mismatch(str(head.key_id), signer.key_id)


def key_mismatch(head_key_id: str, signer_key_id: str) -> KeyMismatch:
    """The error for a signer that may not continue the chain."""
    return KeyMismatch(
        f"signing key {signer_key_id} is not the key of the ledger's latest entry ({head_key_id}) "
        "and no rotation is recorded; run circulo ledger keygen --rotate"
    )


def rotation_recorded(conn: psycopg.Connection, old_key_id: str, new_key_id: str) -> bool:
    """Whether a rotation from ``old_key_id`` to ``new_key_id`` is in the registry."""
    return conn.execute(queries.ROTATION_EXISTS, (old_key_id, new_key_id)).fetchone() is not None


def register_key(conn: psycopg.Connection, signer: Signer | SignsBytes) -> None:
    """Add the signer's public key to the key registry (a no-op when it is there)."""
    public_key = getattr(signer, "public_key_hex", None)
    if public_key is None:
        raise InvalidEntry("the signer does not expose its public key")
    conn.execute(queries.REGISTER_KEY, (signer.key_id, public_key))


def check_correction_target(conn: psycopg.Connection, entry: NewEntry) -> None:
    """A correction reverses an existing mint of the same account and token, once, at most in full."""
    target = entry_by_seq(conn, entry.corrects_seq or 0)
    if target.kind != "mint" or (target.account, target.token) != (entry.account, entry.token):
        raise InvalidEntry(f"entry {target.seq} is not a {entry.token} mint of {entry.account}")
    if target.reason not in CORRECTABLE_REASONS:
        raise InvalidEntry(
            f"entry {target.seq} is a {target.reason} mint: a move is reversed by another move, not corrected"
        )
    if entry.amount_micro > target.amount_micro:
        raise InvalidEntry(f"a correction of entry {target.seq} cannot exceed its {target.amount_micro} µ")
    corrected = conn.execute(queries.CORRECTION_OF, (target.seq,)).fetchone()
    if corrected is not None:
        raise DuplicateEntry(f"entry {target.seq} was already corrected by entry {corrected[0]}")


def check_funds(conn: psycopg.Connection, entries: Sequence[NewEntry]) -> None:
    """No burn may take an account below zero (checked in order, under the head lock).

    Every append holds the head lock, so the balances read here cannot move before this
    transaction commits: two transfers racing for the last tokens serialise, and the second
    sees what the first left. The ``ledger_balance`` CHECK (amount ≥ 0) is the last guard.
    """
    moving = [(e.account, e.token) for e in entries if e.kind == "burn" and e.token is not None]
    if not moving:
        return
    rows = conn.execute(queries.BALANCES_OF, ([a for a, _ in moving], [t for _, t in moving])).fetchall()
    held: dict[tuple[str, str], int] = {(account, token): amount for account, token, amount in rows}
    for entry in entries:
        if entry.token is None or entry.kind == "record":
            continue
        key = (entry.account, entry.token)
        before = held.get(key, 0)
        if entry.kind == "burn" and entry.amount_micro > before:
            raise InsufficientFunds(entry.account, entry.token, before, entry.amount_micro, burn_label(entry))
        held[key] = before + (entry.amount_micro if entry.kind == "mint" else -entry.amount_micro)


def burn_label(entry: NewEntry) -> str:
    """How an error names the burn it refuses."""
    if entry.reason == "correction":
        return f"the correction of entry {entry.corrects_seq} is refused"
    return f"the {entry.reason} {entry.settlement_id} is refused"


def seal_all(entries: Sequence[NewEntry], head: Head, ts: datetime, signer: SignsBytes) -> list[LedgerEntry]:
    """Chain ``entries`` after ``head``."""
    sealed: list[LedgerEntry] = []
    prev_seq, prev_hash = head.seq, head.hash
    for entry in entries:
        prev_seq += 1
        sealed.append(seal_entry(entry, seq=prev_seq, ts=ts, prev_hash=prev_hash, signer=signer))
        prev_hash = sealed[-1].hash
    return sealed


def insert_entries(conn: psycopg.Connection, sealed: Sequence[LedgerEntry]) -> None:
    """Insert sealed entries; a unique violation on the idempotency key is a DuplicateEntry."""
    rows = [entry_row(entry) for entry in sealed]
    try:
        with conn.cursor() as cur:
            cur.executemany(queries.INSERT_ENTRY, rows)
    except psycopg.errors.UniqueViolation as e:
        constraint = e.diag.constraint_name or "a unique constraint"
        raise DuplicateEntry(f"ledger entry refused by {constraint}: already in the journal") from e


def entry_row(entry: LedgerEntry) -> tuple[Any, ...]:
    """The column values of an entry, sources as jsonb (re-read, they hash the same: JCS)."""
    return (
        entry.seq, entry.ts, entry.kind, entry.token, entry.account, entry.amount_micro, entry.reason,
        entry.settlement_id, Jsonb(normalise_sources(entry.sources)), entry.policy, entry.idempotency_key,
        entry.key_id, entry.prev_hash, entry.hash, entry.sig, entry.corrects_seq, entry.format,
        entry.adopted_by,
    )  # fmt: skip


def add_to_balances(conn: psycopg.Connection, sealed: Sequence[LedgerEntry]) -> None:
    """Move the balances by the entries' mints and burns, one upsert per account and token."""
    deltas: dict[tuple[str, str], int] = defaultdict(int)
    for entry in sealed:
        if entry.token is not None:
            deltas[(entry.account, entry.token)] += entry.signed_micro
    if not deltas:
        return
    last_seq = sealed[-1].seq
    moves = sorted(deltas.items())
    with conn.cursor() as cur:
        up = [(account, token, delta, last_seq) for (account, token), delta in moves if delta >= 0]
        down = [(delta, last_seq, account, token) for (account, token), delta in moves if delta < 0]
        if up:
            cur.executemany(queries.ADD_TO_BALANCE, up)
        if down:
            cur.executemany(queries.SUBTRACT_FROM_BALANCE, down)


def entry_from_row(row: Sequence[Any]) -> LedgerEntry:
    """A :class:`LedgerEntry` from a ``queries.ENTRY_COLUMNS`` row."""
    (seq, ts, kind, token, account, amount, reason, settlement_id, sources, policy, key, kid, prev_hash,
     digest, sig, corrects_seq, entry_format, adopted_by) = row  # fmt: skip
    return LedgerEntry(
        seq=seq, ts=ts, kind=kind, token=token, account=account, amount_micro=amount, reason=reason,
        settlement_id=settlement_id, sources=tuple(sources), policy=policy, idempotency_key=key, key_id=kid,
        prev_hash=prev_hash, hash=digest, sig=sig, corrects_seq=corrects_seq, format=entry_format,
        adopted_by=adopted_by,
    )  # fmt: skip


def entry_by_seq(conn: psycopg.Connection, seq: int) -> LedgerEntry:
    """The entry at ``seq``, or NotFound."""
    row = conn.execute(queries.ENTRY_BY_SEQ, (seq,)).fetchone()
    if row is None:
        raise NotFound(f"no ledger entry {seq}")
    return entry_from_row(row)


def iter_entries(conn: psycopg.Connection, from_seq: int = 0) -> Iterator[LedgerEntry]:
    """Entries with ``seq > from_seq`` in order, read a page at a time."""
    after = from_seq
    while True:
        rows = conn.execute(queries.ENTRIES_AFTER, (after, PAGE_SIZE)).fetchall()
        for row in rows:
            yield entry_from_row(row)
        if len(rows) < PAGE_SIZE:
            return
        after = rows[-1][0]


def stream_export_entries(conn: psycopg.Connection, *, until: int | None = None) -> Iterator[dict[str, Any]]:
    """Entries 1.. (``until``) in seq order, in the export form (what ``LedgerEntry.to_dict``
    gives), straight from the rows through a server-side cursor: a verifier's read of a whole
    journal without a query per page or an object per entry. Needs the caller's transaction."""
    name = f"circulo_ledger_stream_{next(_cursor_names)}"
    texts: dict[datetime, str] = {}  # the entries of one append share their ts
    with conn.cursor(name=name) as cur:
        cur.itersize = STREAM_ROWS
        cur.execute(queries.ENTRIES_UNTIL, (until if until is not None else queries.MAX_SEQ,))
        for row in cur:
            (seq, ts, kind, token, account, amount, reason, settlement_id, sources, policy, key, kid,
             prev_hash, digest, sig, corrects_seq, entry_format, adopted_by) = row  # fmt: skip
            text = texts.get(ts)
            if text is None:
                if len(texts) > 4096:
                    texts.clear()
                text = texts[ts] = format_ts(ts)
            entry = {
                "seq": seq, "ts": text, "kind": kind, "token": token, "account": account,
                "amount_micro": amount, "reason": reason, "settlement_id": settlement_id, "sources": sources,
                "policy": policy, "idempotency_key": key, "key_id": kid, "prev_hash": prev_hash,
                "corrects_seq": corrects_seq, "format": entry_format,
            }  # fmt: skip
            if adopted_by is not None:
                entry["adopted_by"] = adopted_by
            entry["hash"], entry["sig"] = digest, sig
            yield entry


def history(conn: psycopg.Connection, account: str) -> list[LedgerEntry]:
    """Every entry of ``account``, oldest first."""
    return [entry_from_row(row) for row in conn.execute(queries.ENTRIES_OF_ACCOUNT, (account,))]


def balances(conn: psycopg.Connection) -> list[Balance]:
    """Mints minus burns per account and token, from the balances kept in step with the journal."""
    return [Balance(*row) for row in conn.execute(queries.BALANCES)]


def records(conn: psycopg.Connection, reasons: Sequence[str]) -> list[LedgerEntry]:
    """The record entries of these reasons, in seq order."""
    return [entry_from_row(row) for row in conn.execute(queries.RECORDS_OF, (list(reasons),))]


def genesis_hash(conn: psycopg.Connection) -> str | None:
    """The hash of entry 1: names this ledger in signed requests (None while it is empty)."""
    row = conn.execute(queries.GENESIS_HASH).fetchone()
    return None if row is None else str(row[0])


def public_keys(conn: psycopg.Connection) -> dict[str, str]:
    """Every key that ever signed (or was rotated to): key_id -> public key hex."""
    return dict(conn.execute(queries.PUBLIC_KEYS).fetchall())


def rotations(conn: psycopg.Connection) -> list[KeyRotation]:
    """Recorded key rotations, oldest first."""
    return [
        KeyRotation(old, new, public_key, after_seq, ts, sig, note)
        for old, new, after_seq, ts, sig, note, public_key in conn.execute(queries.ROTATIONS)
    ]


def record_key_rotation(
    conn: psycopg.Connection,
    old: Signer | str,
    new_signer: Signer,
    *,
    note: str = "",
    now: datetime | None = None,
) -> KeyRotation:
    """Record that ``new_signer`` continues the chain after the head's key (no commit).

    With the old key at hand (a Signer), it signs the rotation statement; with only its
    key_id (the key was lost), the rotation is recorded unsigned, on the operator's word.
    """
    head = lock_head(conn)
    old_key_id = old if isinstance(old, str) else old.key_id
    if head.key_id is None:
        raise KeyMismatch("the ledger has no entries yet: nothing to rotate from")
    if head.key_id != old_key_id:
        raise KeyMismatch(f"the latest entry is signed by {head.key_id}, not {old_key_id}")
    register_key(conn, new_signer)
    ts = format_ts(now or datetime.now(UTC))
    statement = rotation_statement(old_key_id, new_signer.key_id, new_signer.public_key_hex, head.seq, ts)
    sig = None if isinstance(old, str) else old.sign(statement).hex()
    conn.execute(queries.INSERT_ROTATION, (old_key_id, new_signer.key_id, head.seq, ts, sig, note))
    return KeyRotation(old_key_id, new_signer.key_id, new_signer.public_key_hex, head.seq, ts, sig, note)
