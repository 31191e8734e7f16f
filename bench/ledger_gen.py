"""A generated ledger of a co-op's ordinary life, sealed and signed, for the verification benchmark.

Each co-op hour settles like the rewards engine's: one ``green.energy`` mint per producing
member (a ``split`` and an ``evidence`` source each, the engine's shapes), now and then a
``recycle.deposit`` or ``repair`` mint with its collection or repair source, an operator's
treasury transfer (burn and mint carrying the request) and a correction of an earlier mint.
Entries of one settlement share their ``ts`` (one append). Not generated: records
(certificates, governance), whose replay needs a registry history of its own; they are a
few per cent of a real ledger's entries.

Bodies and hashes are chained here in order (fast JCS); signatures, which are independent
once the hashes are known, are made in worker processes.
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from circulo.ledger.entries import GENESIS_PREV_HASH, NewEntry, entry_body, entry_hash, sha256_hex
from circulo.ledger.requests import TransferRequest
from circulo.rewards.plans.moves import transfer_settlement

START = datetime(2025, 1, 1, tzinfo=UTC)
MEMBERS = 50
SIGN_BATCH = 5000


@dataclass
class Sealed:
    """A chained entry without its signature yet: the body and its hash."""

    body: dict[str, Any]
    hash: str


@dataclass
class Generator:
    """Settlements hour by hour, chained as they come."""

    key_id: str
    coop: str = "coop1"
    rng: random.Random = field(default_factory=lambda: random.Random(20))
    prev: str = GENESIS_PREV_HASH
    seq: int = 0
    balances: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    mints: list[tuple[int, str, int]] = field(default_factory=list)  # (seq, account, amount) of GRN

    def members(self) -> list[str]:
        return [f"member-{i:03d}@{self.coop}" for i in range(MEMBERS)]

    def seal(self, entries: tuple[NewEntry, ...], ts: datetime) -> Iterator[Sealed]:
        for entry in entries:
            self.seq += 1
            body = entry_body(entry, seq=self.seq, ts=ts, key_id=self.key_id, prev_hash=self.prev)
            self.prev = entry_hash(self.prev, body)
            sign = {"mint": 1, "burn": -1}.get(entry.kind, 0)
            if entry.token is not None:
                self.balances[(entry.account, entry.token)] += sign * entry.amount_micro
            if entry.kind == "mint" and entry.reason == "green.energy":
                self.mints.append((self.seq, entry.account, entry.amount_micro))
            yield Sealed(body, self.prev)

    def hour(self, n: int) -> Iterator[Sealed]:
        """One settled hour: green mints, and sometimes a deposit, a repair, a transfer, a correction."""
        moment = START + timedelta(hours=n)
        label = moment.strftime("%Y-%m-%dT%H:00Z")
        sid = f"green:{self.coop}:{label}"
        credited = self.rng.randint(20_000, 90_000)
        evidence = {
            "type": "evidence",
            "sha256": sha256_hex(sid.encode()),
            "sources": 200,
            "credited_wh": credited,
        }
        receivers = [*self.rng.sample(self.members(), self.rng.randint(25, 45)), f"treasury@{self.coop}"]
        mints = tuple(
            NewEntry("mint", "GRN", account, self.rng.randint(10_000, 2_000_000), "green.energy", sid,
                     ({"type": "split", "coop_id": self.coop, "credited_wh": credited, "grn_per_kwh": "1",
                       "amount_micro": credited * 1000, "treasury_bp": 1000, "treasury_micro": credited * 100,
                       "account_shares": self.rng.randint(1, 5), "total_shares": 150}, evidence),
                     "rewards-v2")
            for account in sorted(receivers)
        )  # fmt: skip
        settled = moment + timedelta(hours=1, minutes=5)
        yield from self.seal(mints, settled)
        if n % 3 == 0:
            yield from self.seal((self.deposit(n, moment),), settled + timedelta(seconds=10))
        if n % 11 == 0:
            yield from self.seal((self.repair(n, moment),), settled + timedelta(seconds=20))
        if n % 7 == 0:
            yield from self.seal(self.transfer(n, moment), settled + timedelta(seconds=30))
        if n % 29 == 0 and self.mints:
            yield from self.seal(self.correction(), settled + timedelta(seconds=40))

    def deposit(self, n: int, moment: datetime) -> NewEntry:
        device, event = f"bin-{n % 40:03d}", f"ev-{n:08d}"
        grams = self.rng.randint(100, 5000)
        source = {"type": "collection", "coop_id": self.coop, "device_id": device, "event_id": event,
                  "material": "PET", "grams": grams, "ts": moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                  "account": f"member-{n % MEMBERS:03d}@{self.coop}"}  # fmt: skip
        return NewEntry("mint", "RCY", source["account"], grams * 100, "recycle.deposit",
                        f"deposit:{device}:{event}", (source,), "rewards-v2")  # fmt: skip

    def repair(self, n: int, moment: datetime) -> NewEntry:
        device, event = f"repair-{n % 5}", f"rp-{n:08d}"
        source = {"type": "repair", "coop_id": self.coop, "device_id": device, "event_id": event,
                  "item": "toaster", "ts": moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                  "account": f"member-{n % MEMBERS:03d}@{self.coop}"}  # fmt: skip
        return NewEntry("mint", "RCY", source["account"], 5_000_000, "repair", f"repair:{device}:{event}",
                        (source,), "rewards-v2")  # fmt: skip

    def transfer(self, n: int, moment: datetime) -> tuple[NewEntry, ...]:
        request = TransferRequest(
            ledger="ab" * 32, coop=self.coop, from_account=f"treasury@{self.coop}",
            to_account=f"member-{n % MEMBERS:03d}@{self.coop}", token="GRN", amount_micro=1000,
            nonce=f"{n:032x}", expires=moment + timedelta(days=1),
        )  # fmt: skip
        authorised = {"by": "operator", "operator": "bench@localhost", "key_id": self.key_id}
        return transfer_settlement(request, authorised, policy="moves-v1").entries

    def correction(self) -> tuple[NewEntry, ...]:
        seq, account, amount = self.mints.pop(self.rng.randrange(len(self.mints)))
        amount = min(amount, self.balances[(account, "GRN")])
        if amount < 1:
            return ()
        source = {"type": "correction", "why": "meter replaced"}
        correction = NewEntry("burn", "GRN", account, amount, "correction", f"correction:{seq}", (source,),
                              "rewards-v2", corrects_seq=seq)  # fmt: skip
        return (correction,)

    def entries(self, count: int) -> Iterator[Sealed]:
        n = 0
        while self.seq < count:
            for sealed in self.hour(n):
                if sealed.body["seq"] > count:
                    return
                yield sealed
            n += 1


_key: Ed25519PrivateKey | None = None


def _init_signer(private_bytes: bytes) -> None:
    global _key  # noqa: PLW0603 - one key per worker process
    _key = Ed25519PrivateKey.from_private_bytes(private_bytes)


def _sign_batch(hashes: list[str]) -> list[str]:
    assert _key is not None
    return [_key.sign(bytes.fromhex(h)).hex() for h in hashes]


def signed_rows(
    generator: Generator, private_key: Ed25519PrivateKey, count: int, workers: int | None = None
) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(body, hash, sig) for ``count`` entries, signed in ``workers`` processes, in order."""
    raw = private_key.private_bytes_raw()
    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(workers, initializer=_init_signer, initargs=(raw,)) as pool:
        pending: list[tuple[list[Sealed], Any]] = []
        batch: list[Sealed] = []
        for sealed in generator.entries(count):
            batch.append(sealed)
            if len(batch) == SIGN_BATCH:
                pending.append((batch, pool.submit(_sign_batch, [s.hash for s in batch])))
                batch = []
                while len(pending) > 2 * workers:
                    done, future = pending.pop(0)
                    yield from ((s.body, s.hash, sig) for s, sig in zip(done, future.result(), strict=True))
        if batch:
            pending.append((batch, pool.submit(_sign_batch, [s.hash for s in batch])))
        for done, future in pending:
            yield from ((s.body, s.hash, sig) for s, sig in zip(done, future.result(), strict=True))
