"""`circulo ledger verify` over a generated ledger in the database, against the verifier as it was.

Run: .venv/bin/python bench/bench_ledger_db.py [--entries 1000000] [--sample 30000] [--old-ref REF]

A throwaway durable TimescaleDB is migrated and filled (COPY) with ``--entries`` entries of a
co-op's ordinary life (bench/ledger_gen.py), their balances, head and a signed checkpoint
every 250,000 entries and at the end. Timed, end to end from the same database:

- **new, every signature**: ``audit.verify_database`` as ``circulo ledger verify`` runs it
  (rows streamed through a server-side cursor, signatures in one process per core);
- **new, checkpoints mode** (``--signatures checkpoints``);
- **old path**: the verifier of ``--old-ref`` (git; default: the commit before this work) run
  from a copy of its sources in a child process, on a database holding the first ``--sample``
  entries (it takes ~0.2 ms an entry: extrapolated, and said so), and the new one on that
  same sample for a like-for-like ratio.

Times are wall clock and CPU seconds (this process and its children; the database server's CPU
is not counted). Other work on the machine moves the wall clock: the CPU times say what the
verifier itself cost.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.ledger_gen import Generator, signed_rows
from circulo.ledger import audit, merkle
from circulo.ledger.checkpoint import sign_checkpoint
from circulo.ledger.entries import parse_ts
from circulo.ledger.keys import Signer
from circulo.localstack.postgres import PostgresCluster
from circulo.localstack.procs import free_port

COLUMNS = (
    "seq", "ts", "kind", "token", "account", "amount_micro", "reason", "settlement_id", "sources", "policy",
    "idempotency_key", "key_id", "prev_hash", "hash", "sig", "corrects_seq", "format", "adopted_by",
)  # fmt: skip
CHECKPOINT_EVERY = 250_000
SIGNED = "CASE kind WHEN 'mint' THEN amount_micro ELSE -amount_micro END"
BALANCES_FROM_ENTRIES = (
    "INSERT INTO ledger_balance (account, token, amount_micro, last_seq) "
    f"SELECT account, token, sum({SIGNED}), %s FROM ledger_entry WHERE token IS NOT NULL "
    f"GROUP BY account, token HAVING sum({SIGNED}) <> 0"
)
OLD_REF = "38a4b38"
REPO = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (user + system)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(label: str, work: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall s, CPU s, result) of ``work``, printed."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = work()
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    print(f"{label:<46} {wall:8.1f} s wall {cpu:8.1f} s CPU", flush=True)
    return wall, cpu, result


def load(url: str, signer: Signer, private: Ed25519PrivateKey, count: int) -> list[bytes]:
    """Fill the journal with ``count`` generated entries; returns their hashes (bytes)."""
    generator = Generator(signer.key_id)
    hashes: list[bytes] = []
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO ledger_signing_key (key_id, public_key) VALUES (%s, %s)",
            (signer.key_id, signer.public_key_hex),
        )
        with conn.cursor() as cur, cur.copy(f"COPY ledger_entry ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for body, digest, sig in signed_rows(generator, private, count):
                copy.write_row(row_of(body, digest, sig))
                hashes.append(bytes.fromhex(digest))
                if len(hashes) % 100_000 == 0:
                    rate = len(hashes) / (time.perf_counter() - started)
                    print(f"  generated {len(hashes):>9,} entries ({rate:,.0f}/s)", flush=True)
        conn.execute(BALANCES_FROM_ENTRIES, (count,))
        conn.execute(
            "UPDATE ledger_head SET seq = %s, hash = %s, key_id = %s",
            (count, hashes[-1].hex(), signer.key_id),
        )
        sizes = [*range(CHECKPOINT_EVERY, count, CHECKPOINT_EVERY), count]
        roots = merkle.roots_at([merkle.leaf_hash(h) for h in hashes], sizes)
        for size in sizes:
            cp = sign_checkpoint(size, roots[size].hex(), datetime.now(UTC), signer)
            conn.execute(
                "INSERT INTO ledger_checkpoint (size, root, ts, key_id, sig) VALUES (%s, %s, %s, %s, %s)",
                (cp.size, cp.root, cp.ts, cp.key_id, cp.sig),
            )
    return hashes


def row_of(body: dict[str, Any], digest: str, sig: str) -> tuple[Any, ...]:
    values = {
        **body,
        "ts": parse_ts(body["ts"]),
        "sources": Jsonb(body["sources"]),
        "hash": digest,
        "sig": sig,
    }
    return tuple(values.get(name) for name in COLUMNS)


def copy_sample(pg: PostgresCluster, source_url: str, size: int) -> str:
    """A second database with the first ``size`` entries, their balances, head and a checkpoint."""
    url = pg.fresh_database("ledger_sample", migrated=True)
    with psycopg.connect(source_url) as src, psycopg.connect(url) as dst:
        for key_id, public_key in src.execute("SELECT key_id, public_key FROM ledger_signing_key"):
            dst.execute(
                "INSERT INTO ledger_signing_key (key_id, public_key) VALUES (%s, %s)", (key_id, public_key)
            )
        query = (
            f"COPY (SELECT {', '.join(COLUMNS)} FROM ledger_entry WHERE seq <= {size} ORDER BY seq) TO STDOUT"
        )
        with (
            src.cursor().copy(query) as out,
            dst.cursor().copy(f"COPY ledger_entry ({', '.join(COLUMNS)}) FROM STDIN") as into,
        ):
            for chunk in out:
                into.write(chunk)
        dst.execute(BALANCES_FROM_ENTRIES, (size,))
        head = dst.execute("SELECT hash, key_id FROM ledger_entry WHERE seq = %s", (size,)).fetchone()
        assert head is not None
        dst.execute("UPDATE ledger_head SET seq = %s, hash = %s, key_id = %s", (size, *head))
    return url


OLD_VERIFY = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from circulo.ledger import audit
from circulo.store.db import connect
start = time.perf_counter()
with connect(sys.argv[2]) as conn:
    result = audit.verify_database(conn)
print(json.dumps({"ok": result.ok, "verified": result.verified, "s": time.perf_counter() - start,
                  "module": audit.__file__}))
"""


def old_sources(ref: str) -> Path:
    """The ``services`` tree of ``ref``, unpacked in a temporary directory (removed at exit)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "services"], check=True, capture_output=True
    )
    target = Path(tempfile.mkdtemp(prefix="circulo-old-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target / "services"


def run_old(ref: str, url: str) -> dict[str, Any]:
    sources = old_sources(ref)
    out = subprocess.run(
        [sys.executable, "-c", OLD_VERIFY, str(sources), url], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(out.stdout)
    assert result["module"].startswith(str(sources)), result["module"]
    return result


def verify(url: str, **options: Any) -> audit.VerifyResult:
    def progress(done: int) -> None:
        print(f"  verified {done:>9,} entries", flush=True)

    with psycopg.connect(url) as conn:
        result = audit.verify_database(conn, progress=progress, **options)
    assert result.ok, result.findings[:3]
    return result


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(args: argparse.Namespace) -> None:
    print(
        f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.entries:,} entries", flush=True
    )
    base = Path(tempfile.mkdtemp(prefix="circulo-bench-ledger-"))
    pg = PostgresCluster(base / "pg", free_port(), durable=True)
    pg.start()
    try:
        url = pg.fresh_database("ledger_bench", migrated=True)
        private = Ed25519PrivateKey.generate()
        signer = Signer(private)
        timed(f"generate and COPY {args.entries:,} entries", lambda: load(url, signer, private, args.entries))
        with psycopg.connect(url) as conn:
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE ledger_entry")
            size = conn.execute("SELECT pg_total_relation_size('ledger_entry')").fetchone()
        print(f"ledger_entry: {size[0] / 2**20:,.0f} MiB with indexes" if size else "", flush=True)
        sample_url = copy_sample(pg, url, min(args.sample, args.entries))
        results: dict[str, Any] = {"entries": args.entries, "sample": args.sample, "load": os.getloadavg()}
        for label, options in (("every", {}), ("checkpoints", {"signatures": "checkpoints"})):
            wall, cpu, _ = timed(
                f"new, {label} signature(s), {args.entries:,}", lambda o=options: verify(url, **o)
            )
            results[f"new_{label}"] = {"wall_s": wall, "cpu_s": cpu}
        wall, cpu, _ = timed(f"new, every signature, sample {args.sample:,}", lambda: verify(sample_url))
        results["new_sample"] = {"wall_s": wall, "cpu_s": cpu}
        wall_old, cpu_old, old = timed(
            f"old ({args.old_ref}), sample {args.sample:,}", lambda: run_old(args.old_ref, sample_url)
        )
        assert old["ok"] and old["verified"] == args.sample, old
        results["old_sample"] = {"wall_s": wall_old, "cpu_s": cpu_old}
        per_old = wall_old / args.sample
        new_all = results["new_every"]["wall_s"]
        print(
            f"old path {per_old * 1e6:.0f} µs/entry → {per_old * args.entries:,.0f} s for {args.entries:,} "
            f"(extrapolated); new, every signature: {new_all / args.entries * 1e6:.0f} µs/entry, "
            f"{new_all:.1f} s measured; ratio old/new on the sample "
            f"{wall_old / results['new_sample']['wall_s']:.1f}×, extrapolated old / measured new "
            f"{per_old * args.entries / new_all:.1f}×; peak RSS {peak_rss_mib():,.0f} MiB",
            flush=True,
        )
        results["peak_rss_mib"] = peak_rss_mib()
        results["load_end"] = os.getloadavg()
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=30_000)
    parser.add_argument("--old-ref", default=OLD_REF)
    parser.add_argument("--json", help="write the figures to this file")
    main(parser.parse_args())
