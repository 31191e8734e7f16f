"""Verify a ledger from its entries alone (database rows or an export), naming the first bad one.

Per entry, in ``seq`` order: its ``format`` is one this verifier knows (else "unsupported
format", never "malformed"), the fields have their SPEC §8/§13 form, ``seq`` follows its
predecessor without a gap, ``prev_hash`` is the predecessor's ``hash`` (64 zeros for the
first), ``hash`` is SHA-256(prev_hash || JCS(body)), the ``key_id`` is a known key, ``sig`` is
its Ed25519 signature of the hash, the idempotency key is the one its fields imply, a
correction reverses an earlier reward mint of the same account and token at most once, and
no burn takes an account below zero. The chain check stops at the first bad entry: what
follows it cannot be trusted to mean anything. Then, over the whole chain, every move
(transfer, dividend, floor) burns exactly what it mints. Checkpoints are checked against the
Merkle root of the entries they cover.

Signatures are checked for every entry by default, in worker processes for a large ledger
(:mod:`circulo.ledger.signatures`; the verdict is the one checking each in place gives). In
``checkpoints`` mode an entry covered by a checkpoint signed by a trusted key is authenticated
by that checkpoint instead of its own signature: its hash is still recomputed and linked, and
the checkpoint's root must be that of the recomputed hashes (docs/ledger.md#signature-modes
says what each mode guarantees).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature

from circulo.certificates.replay import CertificateLedger
from circulo.governance.state import GovernanceProblem, GovernanceState
from circulo.ledger import merkle
from circulo.ledger.checkpoint import Checkpoint, checkpoint_signature_holds
from circulo.ledger.entries import (
    ACCOUNT_RE,
    BODY_FIELDS,
    CORRECTABLE_REASONS,
    FORMAT_1,
    FORMAT_1_FIELDS,
    FORMAT_2,
    FORMATS,
    GENESIS_PREV_HASH,
    HASH_RE,
    KEY_ID_RE,
    KINDS,
    MOVE_REASONS,
    SIG_RE,
    UNSIGNED_FIELDS,
    check_choice,
    check_correction_shape,
    check_kind_and_reason,
    check_label,
    check_sources,
    check_token_and_amount,
    entry_format,
    entry_hash,
    idempotency_key,
    json_safe,
    key_id,
    parse_ts,
    plain_json,
    sha256_hex,
    signed_body,
)
from circulo.ledger.errors import InvalidEntry
from circulo.ledger.requests import TRANSFER_DOMAIN, domain_message
from circulo.ledger.signatures import SignaturePool, default_workers, public_key_of

BalanceKey = tuple[str, str]  # (account, token)
SignatureMode = Literal["every", "checkpoints"]
SIGNATURE_MODES: tuple[str, ...] = ("every", "checkpoints")
# Reads the entries anew from the first, in order, each time it is called (a replay needs two reads).
EntrySource = Callable[[], Iterable[Mapping[str, Any]]]
Progress = Callable[[int], None]
PROGRESS_EVERY = 100_000


@dataclass(frozen=True)
class Finding:
    """One thing wrong: the entry (``seq``; None for the ledger as a whole), a problem code, detail."""

    seq: int | None
    problem: str
    detail: str

    def __str__(self) -> str:
        where = f"entry {self.seq}" if self.seq is not None else "ledger"
        return f"{where}: {self.problem}: {self.detail}"


@dataclass(frozen=True)
class VerifyResult:
    """What a verification found: entries that held, the head, computed balances, findings."""

    verified: int
    head_hash: str
    balances: Mapping[BalanceKey, int]
    leaf_hashes: Sequence[bytes] = field(repr=False)
    findings: tuple[Finding, ...]
    root: str | None = None  # the Merkle root of the verified entries, when already computed

    @property
    def ok(self) -> bool:
        """True when nothing at all was found wrong."""
        return not self.findings

    @property
    def first_bad(self) -> Finding | None:
        """The first finding (the first bad entry when the chain broke)."""
        return self.findings[0] if self.findings else None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        first = self.first_bad
        return {
            "ok": self.ok,
            "verified_entries": self.verified,
            "head_hash": self.head_hash,
            "root": self.root if self.root is not None else merkle.root_of_hashes(self.leaf_hashes).hex(),
            "first_bad_seq": first.seq if first else None,
            "findings": [{"seq": f.seq, "problem": f.problem, "detail": f.detail} for f in self.findings],
        }


class ChainVerifier:
    """Feed entries (export-form mappings) in order; the first bad one stops the chain check.

    With a ``pool``, signatures are queued to it instead of checked in place (see
    :func:`verify_chain`, which turns that back into the in-place verdict). Entries up to
    ``signed_until`` are not signature-checked here: a first pass found their signatures good,
    or a signed checkpoint covers them (its root is checked after the chain).
    """

    def __init__(
        self,
        public_keys: Mapping[str, str],
        *,
        rotations: Collection[tuple[str, str]] | None = None,
        pool: SignaturePool | None = None,
        signed_until: int = 0,
    ) -> None:
        self.public_keys = dict(public_keys)
        self.rotations = None if rotations is None else set(rotations)
        self.pool = pool
        self.signed_until = signed_until
        self.prev_hash = GENESIS_PREV_HASH
        self.prev_key_id: str | None = None
        self.leaf_hashes: list[bytes] = []
        self.balances: dict[BalanceKey, int] = defaultdict(int)
        self.mints: dict[int, tuple[str, str, int, str]] = {}
        self.corrected: set[int] = set()
        self.moves: dict[str, MoveTally] = {}
        self.governance = GovernanceState()
        self.certificates = CertificateLedger()
        self.newest_format = FORMAT_1
        self.failure: Finding | None = None

    @property
    def next_seq(self) -> int:
        """The seq the next entry must have."""
        return len(self.leaf_hashes) + 1

    def feed(self, entry: Mapping[str, Any]) -> Finding | None:
        """Check one entry; returns (and keeps) the finding if it is the first bad one."""
        if self.failure is None:
            self.failure = self.check(entry)
            if self.failure is None:
                self.accept(entry)
        return self.failure

    def check(self, entry: Mapping[str, Any]) -> Finding | None:
        """The first thing wrong with ``entry`` at this point of the chain, if any."""
        seq = self.next_seq
        for check in (self.check_form, self.check_position, self.check_hash, self.check_signature):
            problem = check(entry)
            if problem is not None:
                return Finding(seq, *problem)
        problem = self.check_meaning(entry)
        return Finding(seq, *problem) if problem is not None else None

    def check_form(self, entry: Mapping[str, Any]) -> tuple[str, str] | None:
        """A known format, then every field present with its SPEC §8 form (no floats, lowercase hex)."""
        if not isinstance(entry, Mapping):  # an export line may be any JSON value
            return "malformed", "an entry is a JSON object"  # type: ignore[unreachable]
        declared = entry_format(entry)
        if type(declared) is not int or declared not in FORMATS:
            known = ", ".join(str(f) for f in FORMATS)
            return "unsupported format", f"format {declared!r} (this verifier knows formats {known})"
        if declared < self.newest_format:
            return "format regression", f"a format-{declared} entry after a format-{self.newest_format} one"
        try:
            check_entry_form(entry)
        except InvalidEntry as e:
            return "malformed", e.message
        return None

    def check_position(self, entry: Mapping[str, Any]) -> tuple[str, str] | None:
        """No seq gap, and prev_hash links to the previous entry's hash."""
        if entry["seq"] > self.next_seq:
            return "seq gap", f"entry {self.next_seq} is missing (the next entry has seq {entry['seq']})"
        if entry["seq"] != self.next_seq:
            return "seq out of order", f"expected seq {self.next_seq}, found {entry['seq']}"
        if entry["prev_hash"] != self.prev_hash:
            return "broken link", f"prev_hash {entry['prev_hash']} is not the previous hash {self.prev_hash}"
        return None

    def check_hash(self, entry: Mapping[str, Any]) -> tuple[str, str] | None:
        """The stored hash is SHA-256(prev_hash || JCS(body))."""
        computed = entry_hash(entry["prev_hash"], signed_body(entry))
        if computed != entry["hash"]:
            return "hash mismatch", f"stored {entry['hash']}, computed {computed}"
        return None

    def check_signature(self, entry: Mapping[str, Any]) -> tuple[str, str] | None:
        """The key is known (and its rotation recorded); the signature of the hash holds."""
        public_key = self.public_keys.get(entry["key_id"])
        if public_key is None:
            return "unknown key", f"key_id {entry['key_id']} is not among the trusted public keys"
        if entry["seq"] <= self.signed_until:
            pass
        elif self.pool is not None:
            self.pool.add(entry["seq"], public_key, entry["sig"], entry["hash"])
        elif not signature_verifies(public_key, entry["sig"], entry["hash"]):
            return "bad signature", f"sig does not verify under key {entry['key_id']}"
        changed = self.prev_key_id is not None and entry["key_id"] != self.prev_key_id
        if (
            changed
            and self.rotations is not None
            and (self.prev_key_id, entry["key_id"]) not in self.rotations
        ):
            return "unrecorded key change", f"key {self.prev_key_id} -> {entry['key_id']} has no rotation"
        return None

    def check_meaning(self, entry: Mapping[str, Any]) -> tuple[str, str] | None:
        """The idempotency key matches; a correction reverses a reward mint once; no overdraft;
        a certificate record is one the registry allowed (no Wh claimed twice)."""
        expected = idempotency_key(entry["reason"], entry["settlement_id"], entry["account"])
        if entry["idempotency_key"] != expected:
            return "bad idempotency key", f"expected {expected}"
        target = entry.get("corrects_seq")
        problem = None if target is None else self.correction_problem(entry, target)
        if problem is None and CertificateLedger.concerns(entry):
            problem = self.certificates.check(entry)
        if problem is None and entry["reason"] == "transfer":
            problem = transfer_problem(entry)
        if problem is None:
            problem = self.governance_problem(entry)
        if problem is None and entry["kind"] == "burn":
            held = self.balances.get((entry["account"], entry["token"]), 0)
            if entry["amount_micro"] > held:
                detail = f"{entry['account']} holds {held} µ{entry['token']}, burns {entry['amount_micro']}"
                problem = ("overdrawn", detail)
        return problem

    def governance_problem(self, entry: Mapping[str, Any]) -> tuple[str, str] | None:
        """Governance records hold (signers, ledger, timing, tallies recounted); green mints of a
        governed co-op name the policy it adopted for their hour (SPEC §14)."""
        try:
            self.governance.feed(entry)
        except GovernanceProblem as e:
            return "bad governance record", str(e)
        return policy_problem(self.governance, entry)

    def correction_problem(self, entry: Mapping[str, Any], target: int) -> tuple[str, str] | None:
        """A correction reverses an earlier reward mint of this account and token, once, at most in full."""
        mint = self.mints.get(target)
        if (
            mint is None
            or mint[:2] != (entry["account"], entry["token"])
            or entry["amount_micro"] > mint[2]
            or mint[3] not in CORRECTABLE_REASONS
        ):
            return (
                "bad correction",
                f"entry {target} is no earlier reward mint of this account and token covering it",
            )
        if target in self.corrected:
            return "bad correction", f"entry {target} was already corrected"
        return None

    def accept(self, entry: Mapping[str, Any]) -> None:
        """Move the chain past a good entry."""
        self.newest_format = max(self.newest_format, int(entry_format(entry)))
        self.prev_hash = entry["hash"]
        self.prev_key_id = entry["key_id"]
        self.leaf_hashes.append(merkle.leaf_hash(bytes.fromhex(entry["hash"])))
        if entry["kind"] == "record":
            if CertificateLedger.concerns(entry):
                self.certificates.accept()
            return
        sign = 1 if entry["kind"] == "mint" else -1
        self.balances[(entry["account"], entry["token"])] += sign * entry["amount_micro"]
        if entry["kind"] == "mint":
            mint = (entry["account"], entry["token"], entry["amount_micro"], entry["reason"])
            self.mints[entry["seq"]] = mint
        elif entry.get("corrects_seq") is not None:
            self.corrected.add(entry["corrects_seq"])
        if entry["reason"] in MOVE_REASONS:
            tally = self.moves.setdefault(entry["settlement_id"], MoveTally(entry["reason"], entry["seq"]))
            tally.add(entry["kind"], entry["account"], entry["token"], entry["amount_micro"])

    def move_findings(self) -> list[Finding]:
        """Every move burns exactly what it mints, in one token; a transfer between two accounts."""
        findings = []
        for settlement_id, tally in self.moves.items():
            problem = tally.problem()
            if problem is not None:
                findings.append(Finding(tally.first_seq, "unbalanced move", f"{settlement_id}: {problem}"))
        return findings

    def result(self, extra: Iterable[Finding] = (), *, root: str | None = None) -> VerifyResult:
        """The result so far, with the chain's failure (if any) first, then moves, then ``extra``."""
        moves = tuple(self.move_findings()) if self.failure is None else ()
        findings = ((self.failure,) if self.failure else ()) + moves + tuple(extra)
        return VerifyResult(
            verified=len(self.leaf_hashes),
            head_hash=self.prev_hash,
            balances=dict(self.balances),
            leaf_hashes=self.leaf_hashes,
            findings=findings,
            root=root,
        )


def signature_verifies(public_key_hex: str, sig_hex: str, hash_hex: str) -> bool:
    """Whether ``sig_hex`` is the key's Ed25519 signature of the 32 bytes of ``hash_hex``."""
    key = public_key_of(public_key_hex)
    try:
        if key is None:
            return False
        key.verify(bytes.fromhex(sig_hex), bytes.fromhex(hash_hex))
    except (ValueError, InvalidSignature):
        return False
    return True


def feed_all(
    verifier: ChainVerifier, entries: Iterable[Mapping[str, Any]], *, until: int | None = None,
    progress: Progress | None = None,
) -> None:  # fmt: skip
    """Feed entries until the first bad one (or past ``until``, or past a bad signature found)."""
    pool = verifier.pool
    for entry in entries:
        if verifier.feed(entry) is not None:
            return
        done = verifier.next_seq - 1
        if until is not None and done >= until:
            return
        if pool is not None and pool.bad and done >= min(pool.bad):
            return  # nothing after a bad signature counts
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done)


def verify_chain(
    read: EntrySource,
    public_keys: Mapping[str, str],
    *,
    rotations: Collection[tuple[str, str]] | None = None,
    workers: int = 0,
    signed_until: int = 0,
    progress: Progress | None = None,
) -> ChainVerifier:
    """The chain checked as :meth:`ChainVerifier.feed` checks it entry by entry, signatures in
    ``workers`` processes (0: in place).

    When a signature fails before (or at) the chain's first other problem, that signature is
    the finding, exactly as in place: the entries are read again up to it, their signatures
    known good, so balances, moves and the head are those before the bad entry.
    """
    if workers < 1:
        verifier = ChainVerifier(public_keys, rotations=rotations, signed_until=signed_until)
        feed_all(verifier, read(), progress=progress)
        return verifier
    with SignaturePool(workers) as pool:
        verifier = ChainVerifier(public_keys, rotations=rotations, pool=pool, signed_until=signed_until)
        feed_all(verifier, read(), progress=progress)
        bad = pool.first_bad()
    failed_at = verifier.failure.seq if verifier.failure is not None else None
    if bad is None or (failed_at is not None and failed_at < bad):
        return verifier
    replay = ChainVerifier(public_keys, rotations=rotations, signed_until=max(signed_until, bad - 1))
    feed_all(replay, read(), until=bad)
    return replay


def checkpoint_cover(checkpoints: Iterable[Checkpoint], public_keys: Mapping[str, str]) -> int:
    """The size of the largest checkpoint signed by a trusted key (0: none): in ``checkpoints``
    mode the entries up to it are authenticated by its signature and root, not their own."""
    return max((cp.size for cp in checkpoints if checkpoint_signature_holds(cp, public_keys)), default=0)


@dataclass
class MoveTally:
    """What one move settlement (transfer, dividend, floor) burned and minted, per token."""

    reason: str
    first_seq: int
    burned: dict[str, int] = field(default_factory=dict)
    minted: dict[str, int] = field(default_factory=dict)
    accounts: dict[str, set[str]] = field(default_factory=lambda: {"burn": set(), "mint": set()})
    burns: int = 0

    def add(self, kind: str, account: str, token: str, amount: int) -> None:
        """Count one entry of the settlement."""
        self.burns += kind == "burn"
        side = self.burned if kind == "burn" else self.minted
        side[token] = side.get(token, 0) + amount
        self.accounts[kind].add(account)

    def problem(self) -> str | None:
        """Why the move does not balance, or None."""
        if self.burned != self.minted:
            return f"burns {self.burned} but mints {self.minted}"
        if len(self.burned) != 1:
            return "a move is in exactly one token"
        burners, receivers = self.accounts["burn"], self.accounts["mint"]
        if self.burns != 1 or burners & receivers:
            return "a move is one burn from a payer who receives none of it"
        if self.reason == "transfer" and len(receivers) != 1:
            return "a transfer mints to exactly one other account"
        return None


def policy_problem(state: GovernanceState, entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """A reward mint names the policy in force for its co-op when its source happened.

    A green mint's settlement id names co-op and hour; a deposit mint's collection source and
    a repair mint's repair source carry ``coop_id`` and ``ts`` (mints written before they did
    are not judged).
    """
    if entry["kind"] != "mint":
        return None
    found = policy_moment(entry)
    if found is None:
        return None
    coop_id, moment, label = found
    coop = state.coops.get(coop_id)
    period = coop.period_at(moment) if coop is not None else None
    governed = period is not None and period.policy_toml is not None
    wanted = (period.policy_version, period.adopted_by) if governed and period else (entry["policy"], None)
    if (entry["policy"], entry.get("adopted_by")) != wanted:
        return "bad policy", f"the co-op's policy for {label} is {wanted[0]} (adopted by {wanted[1]})"
    return None


# the source whose co-op and ts pick the policy of each reward reason
POLICY_SOURCES = {"recycle.deposit": "collection", "repair": "repair"}


def policy_moment(entry: Mapping[str, Any]) -> tuple[str, datetime, str] | None:
    """(co-op, moment, label) whose policy a reward mint must follow; None when not judged."""
    parts = str(entry["settlement_id"]).split(":", 2)
    if parts[0] == "green" and len(parts) == 3:
        hour = green_hour(parts[2])
        return None if hour is None else (parts[1], hour, parts[2])
    wanted = POLICY_SOURCES.get(entry["reason"])
    for source in entry["sources"] if wanted else ():
        if isinstance(source, Mapping) and source.get("type") == wanted and "coop_id" in source:
            try:
                return str(source["coop_id"]), parse_ts(str(source["ts"])), f"{wanted} at {source['ts']}"
            except (KeyError, ValueError):
                return None
    return None


@functools.lru_cache(maxsize=4096)
def green_hour(text: str) -> datetime | None:
    """The hour a green settlement id names (``…:2025-03-01T11:00Z``), parsed once per hour."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:00Z").replace(tzinfo=UTC)
    except ValueError:
        return None


def transfer_problem(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """A transfer's source is the request it carries out: its hash names the settlement, its
    parties and amount are the entry's (the member's signature is re-checked against the key the
    ``member.key`` record registered, by whoever holds that record)."""
    source = entry["sources"][0] if entry["sources"] else {}
    document = source.get("request") if isinstance(source, Mapping) else None
    if source.get("type") != "transfer_request" or not isinstance(document, Mapping):
        return "bad transfer", "its first source is not the transfer_request it carries out"
    digest = sha256_hex(domain_message(TRANSFER_DOMAIN, document))
    if entry["settlement_id"] != f"transfer:{digest}":
        return "bad transfer", f"the request hashes to {digest}, not the settlement id"
    party = document.get("from") if entry["kind"] == "burn" else document.get("to")
    wanted = (party, document.get("token"), document.get("amount_micro"))
    if (entry["account"], entry["token"], entry["amount_micro"]) != wanted:
        return "bad transfer", f"the entry does not carry out its request ({wanted})"
    return None


def check_entry_form(entry: Mapping[str, Any]) -> None:
    """Raise InvalidEntry naming the first field of an export-form entry that is malformed."""
    entry_fmt = entry_format(entry)
    required = FORMAT_1_FIELDS if entry_fmt == FORMAT_1 else BODY_FIELDS
    missing = [name for name in (*required, *UNSIGNED_FIELDS) if name not in entry]
    if missing:
        raise InvalidEntry(f"missing fields: {', '.join(missing)}")
    if not isinstance(entry["seq"], int) or isinstance(entry["seq"], bool) or entry["seq"] < 1:
        raise InvalidEntry(f"seq {entry['seq']!r} is not a positive integer")
    parse_ts(entry["ts"])
    check_choice("kind", entry["kind"], KINDS)
    check_kind_and_reason(entry["kind"], entry["reason"], FORMAT_1 if entry_fmt == FORMAT_1 else FORMAT_2)
    if not isinstance(entry["account"], str) or not ACCOUNT_RE.fullmatch(entry["account"]):
        raise InvalidEntry(f"account {entry['account']!r} is not a valid account id")
    check_token_and_amount(entry["kind"], entry["token"], entry["amount_micro"])
    check_label("settlement_id", entry["settlement_id"])
    check_label("policy", entry["policy"])
    check_sources(entry["sources"])
    check_correction_shape(entry["kind"], entry["reason"], entry["corrects_seq"])
    check_extra_fields(entry)
    check_hex_fields(entry)


ENTRY_FIELD_SET = frozenset({*BODY_FIELDS, *UNSIGNED_FIELDS})


def check_extra_fields(entry: Mapping[str, Any]) -> None:
    """Fields beyond SPEC §8 are allowed (they are hashed) but must be JSON-safe too."""
    for name in entry.keys() - ENTRY_FIELD_SET:
        if not plain_json(entry[name]):
            json_safe(entry[name], name)


def check_hex_fields(entry: Mapping[str, Any]) -> None:
    """Hashes, key ids and signatures are lowercase hex of their exact lengths."""
    for name, pattern in (
        ("idempotency_key", HASH_RE),
        ("key_id", KEY_ID_RE),
        ("prev_hash", HASH_RE),
        ("hash", HASH_RE),
        ("sig", SIG_RE),
    ):
        if not isinstance(entry[name], str) or not pattern.fullmatch(entry[name]):
            raise InvalidEntry(f"{name} {entry[name]!r} is not lowercase hex of the right length")


def check_public_keys(public_keys: Mapping[str, str]) -> list[Finding]:
    """Each trusted key's id is the one its public key implies (SPEC §8)."""
    findings = []
    for kid, public_key in public_keys.items():
        try:
            ok = key_id(bytes.fromhex(public_key)) == kid
        except (ValueError, InvalidEntry):
            ok = False
        if not ok:
            findings.append(Finding(None, "bad public key", f"{public_key!r} does not have key_id {kid}"))
    return findings


def check_checkpoint(
    checkpoint: Checkpoint,
    leaf_hashes: Sequence[bytes],
    public_keys: Mapping[str, str],
    roots: Mapping[int, bytes] | None = None,
) -> Finding | None:
    """A checkpoint is signed by a trusted key and its root is that of the entries it covers
    (taken from ``roots`` by size when given: see :func:`check_checkpoints`)."""
    where = f"checkpoint of size {checkpoint.size} at {checkpoint.ts}"
    if not checkpoint_signature_holds(checkpoint, public_keys):
        return Finding(None, "bad checkpoint signature", where)
    if checkpoint.size > len(leaf_hashes):
        return Finding(len(leaf_hashes) + 1, "entries missing", f"{where} covers more entries than verified")
    root = roots.get(checkpoint.size) if roots is not None else None
    if root is None:
        root = merkle.root_of_hashes(leaf_hashes[: checkpoint.size])
    computed = root.hex()
    if computed != checkpoint.root:
        return Finding(None, "history rewritten", f"{where}: root {checkpoint.root}, entries give {computed}")
    return None


def check_checkpoints(
    checkpoints: Sequence[Checkpoint], leaf_hashes: Sequence[bytes], public_keys: Mapping[str, str]
) -> tuple[list[Finding], str]:
    """Every checkpoint checked, and the root of all the leaves: every root in one pass over them
    (a checkpoint a day over a year of entries would otherwise hash the tree once each)."""
    sizes = {cp.size for cp in checkpoints if cp.size <= len(leaf_hashes)} | {len(leaf_hashes)}
    roots = merkle.roots_at(leaf_hashes, sizes)
    found = (check_checkpoint(cp, leaf_hashes, public_keys, roots) for cp in checkpoints)
    return [finding for finding in found if finding is not None], roots[len(leaf_hashes)].hex()


def check_balances(computed: Mapping[BalanceKey, int], stored: Mapping[BalanceKey, int]) -> list[Finding]:
    """The balances table agrees with mints minus burns over the journal."""
    findings = []
    for account, token in sorted(computed.keys() | stored.keys()):
        want, have = computed.get((account, token), 0), stored.get((account, token), 0)
        if want != have:
            detail = f"{account} {token}: table says {have}, journal gives {want}"
            findings.append(Finding(None, "balance mismatch", detail))
    return findings


def verify_entries(
    entries: Iterable[Mapping[str, Any]],
    public_keys: Mapping[str, str],
    *,
    rotations: Collection[tuple[str, str]] | None = None,
    checkpoints: Sequence[Checkpoint] = (),
    signatures: SignatureMode = "every",
    workers: int | None = None,
    progress: Progress | None = None,
) -> VerifyResult:
    """Verify a whole chain of export-form entries and the checkpoints over it.

    ``workers``: signature-checking processes (None: one per core for a large ledger, 0: none).
    """
    listed = entries if isinstance(entries, Sequence) else list(entries)
    workers = default_workers(len(listed)) if workers is None else workers
    signed_until = checkpoint_cover(checkpoints, public_keys) if signatures == "checkpoints" else 0
    verifier = verify_chain(
        lambda: listed, public_keys, rotations=rotations, workers=workers, signed_until=signed_until,
        progress=progress,
    )  # fmt: skip
    extra = check_public_keys(public_keys)
    root = None
    if verifier.failure is None:
        found, root = check_checkpoints(checkpoints, verifier.leaf_hashes, public_keys)
        extra += found
    return verifier.result(extra, root=root)
