"""Entry signatures checked in worker processes while the chain is checked in order.

An entry's Ed25519 signature covers only its own 32 hash bytes, so once the verifier has
recomputed and linked the hash, the signature check no longer depends on anything before
it: batches of (seq, key, sig, hash) go to a pool of processes (one per core) and come back
as the seqs whose signature fails. The verifier (:mod:`circulo.ledger.verify`) then decides
as if it had checked each signature in place: the first bad signature before the chain's own
first problem is the finding, and the state at that point is rebuilt by replaying the entries
up to it. Checking signatures is two thirds of a verification's CPU time: this is what lets a
million entries verify in a minute on two cores.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

BATCH = 4096  # signatures per task: a few ms of pickling against ~0.2 s of checking
PARALLEL_FROM = 20_000  # fewer entries than this are checked in place (no processes to start)
Job = tuple[int, str, str, str]  # (seq, public key hex, sig hex, hash hex)


@functools.lru_cache(maxsize=64)
def public_key_of(public_key_hex: str) -> Ed25519PublicKey | None:
    """The key, parsed once per process (None when it is not one)."""
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
    except ValueError:
        return None


def failed_seqs(jobs: list[Job]) -> list[int]:
    """The seqs of ``jobs`` whose signature does not verify (run in a worker process)."""
    bad = []
    for seq, public_key_hex, sig_hex, hash_hex in jobs:
        key = public_key_of(public_key_hex)
        try:
            if key is None:
                raise InvalidSignature
            key.verify(bytes.fromhex(sig_hex), bytes.fromhex(hash_hex))
        except (ValueError, InvalidSignature):
            bad.append(seq)
    return bad


def default_workers(entries: int) -> int:
    """Worker processes for a verification of ``entries``: one per core, none for small ledgers."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores if entries >= PARALLEL_FROM and cores > 1 else 0


class SignaturePool:
    """Signature checks deferred to worker processes; :meth:`first_bad` waits for them all.

    Use as a context manager. Fresh interpreters (``spawn``): nothing of the caller (a
    database connection, threads) is inherited.
    """

    def __init__(self, workers: int, *, batch: int = BATCH) -> None:
        self.workers = workers
        self.batch_size = batch
        self.batch: list[Job] = []
        self.pending: deque[Future[list[int]]] = deque()
        self.bad: list[int] = []
        self.executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> SignaturePool:
        context = multiprocessing.get_context("spawn")
        self.executor = ProcessPoolExecutor(self.workers, mp_context=context)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None

    def add(self, seq: int, public_key_hex: str, sig_hex: str, hash_hex: str) -> None:
        """Queue one entry's check; blocks while the workers are a few batches behind."""
        self.batch.append((seq, public_key_hex, sig_hex, hash_hex))
        if len(self.batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        if self.executor is None:
            raise RuntimeError("a SignaturePool is used as a context manager")
        self.pending.append(self.executor.submit(failed_seqs, self.batch))
        self.batch = []
        while len(self.pending) > 3 * self.workers or (self.pending and self.pending[0].done()):
            self.bad.extend(self.pending.popleft().result())

    @property
    def earliest_bad(self) -> int | None:
        """The first bad signature found so far (the caller may stop reading past it)."""
        return min(self.bad) if self.bad else None

    def first_bad(self) -> int | None:
        """Wait for every queued check; the smallest seq whose signature failed, or None."""
        self.flush()
        while self.pending:
            self.bad.extend(self.pending.popleft().result())
        return self.earliest_bad
