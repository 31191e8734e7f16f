"""What replay bookkeeping (SPEC §11) costs the ingest: drain rate with it on and off.

Run: .venv/bin/python bench/bench_replay.py [--messages 60000] [--rounds 3] [--workers 1]

The drain of bench_ingest.py (N messages of 1,000 devices queued in the broker for the
ingest's persistent session, timed from its broker connection to the last row committed),
with every payload carrying a boot ``epoch``, in two streams:
- in order: every device's seq +1 per message (no gap ever opens);
- ~1 % gaps: one message in a hundred never sent (each a gap of one, opened and kept open,
  as after a broker crash; replay_after is left at 30 s, so none is requested mid-drain).
Each stream is drained with ``replay`` on (gap ranges in ``replay_gap``, in the batch's
transaction) and off (``CIRCULO_REPLAY=false``: seq loss counted the old way), alternately
in rounds in the same process tree, so a slow moment of the shared machine hits both alike.
Reported per round: messages/s (wall clock, from the broker connection to the last row), and
the ingest workers' CPU time per 1,000 messages (``RUSAGE_CHILDREN``: only the workers are
children that end, so the broker's, PostgreSQL's and other helpers' work is not in it — the
steadier figure on a shared machine); then medians, ranges, and on/off ratios of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_ingest import (
    RESULTS,
    Ingest,
    message,
    publish,
    register_fleet,
    wait_committed,
    wait_heartbeat,
)
from bench.stack import BenchStack, start_stack

GAP_EVERY = 100  # one message in a hundred never sent: ~1 % gaps


def with_epoch(topic_payload: tuple[str, bytes], epoch: int = 1) -> tuple[str, bytes]:
    """The message as firmware with a replay buffer sends it (``epoch`` after ``seq``)."""
    topic, payload = topic_payload
    body = json.loads(payload)
    ordered = {"v": body.pop("v"), "ts": body.pop("ts"), "seq": body.pop("seq"), "epoch": epoch, **body}
    return topic, json.dumps(ordered).encode()


def streams(n: int, start: datetime) -> dict[str, list[tuple[str, bytes]]]:
    every = [with_epoch(message(i, start)) for i in range(n)]
    # the i-th message is device i % 1000's (i // 1000)-th: every 101st is a gap of one seq
    gapped = [m for i, m in enumerate(every) if i % (GAP_EVERY + 1) != GAP_EVERY // 2]
    return {"in_order": every, "gaps_1pct": gapped}


@dataclass(frozen=True)
class Drain:
    """One drain: messages/s (wall), and the ingest workers' CPU milliseconds per 1,000 messages."""

    rate: float
    cpu_ms: float


def drain(
    stack: BenchStack, messages: list[tuple[str, bytes]], name: str, *, replay: bool, workers: int
) -> Drain:
    """One drain of ``messages`` by fresh workers on a fresh database; messages/s."""
    db_url = stack.fresh_database(name)
    register_fleet(db_url)
    os.environ["CIRCULO_REPLAY"] = "true" if replay else "false"
    group = f"{name}grp" if workers > 1 else None
    procs = [Ingest(stack, db_url, f"{name}-w{i}", group, stack.base) for i in range(workers)]
    for p in procs:
        p.start()
    wait_heartbeat(db_url, [f"{name}-w{i}" for i in range(workers)])
    for p in procs:
        p.wait_subscribed()
    for p in procs:
        p.stop()
    publish(stack.mqtt_url("publisher"), messages)
    cpu_before = children_cpu_s()
    for p in procs:
        p.start()
    done = wait_committed(db_url, len(messages))
    done_wall = datetime.now(UTC) - timedelta(seconds=time.perf_counter() - done)
    first_connect = min(p.connected_at() for p in procs)
    for p in procs:
        p.stop()
    cpu_ms = 1000 * (children_cpu_s() - cpu_before) / (len(messages) / 1000)
    check_gaps(db_url, replay, len(messages))
    stack.pg.drop_database(name)
    return Drain(len(messages) / (done_wall - first_connect).total_seconds(), cpu_ms)


def children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's ended and waited-for children: the ingest
    workers (the broker and PostgreSQL run on until the end of the benchmark)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check_gaps(db_url: str, replay: bool, n: int) -> None:
    """The bookkeeping did its work (or none, when off)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        gaps = conn.execute("SELECT count(*), COALESCE(sum(missing), 0) FROM replay_gap").fetchone()
        missing = conn.execute("SELECT sum(seq_missing) FROM device_state").fetchone()
    print(
        f"    {n} messages, replay {'on ' if replay else 'off'}: gaps {gaps}, seq_missing {missing}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    stack = start_stack()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    drains: dict[str, dict[str, list[Drain]]] = {}
    try:
        for round_no in range(args.rounds):
            for stream_name, messages in streams(args.messages, start).items():
                for replay in (True, False) if round_no % 2 == 0 else (False, True):
                    label = "on" if replay else "off"
                    name = f"r{round_no}_{stream_name}_{label}".lower()
                    got = drain(stack, messages, name, replay=replay, workers=args.workers)
                    drains.setdefault(stream_name, {}).setdefault(label, []).append(got)
                    print(
                        f"round {round_no + 1} {stream_name} replay {label}: {got.rate:,.0f} messages/s, "
                        f"ingest CPU {got.cpu_ms:.0f} ms per 1,000 messages",
                        flush=True,
                    )
    finally:
        stack.stop()
    report(drains, args)


def spread(values: list[float], fmt: str = ",.0f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def report(drains: dict[str, dict[str, list[Drain]]], args: argparse.Namespace) -> None:
    results: dict[str, Any] = {"messages": args.messages, "rounds": args.rounds, "workers": args.workers}
    print("\nstream      messages/s on (median, range) / off      on/off   CPU ms/1,000 on / off   on/off")
    for stream_name, by in drains.items():
        rate = {k: [d.rate for d in v] for k, v in by.items()}
        cpu = {k: [d.cpu_ms for d in v] for k, v in by.items()}
        rate_ratio = statistics.median(rate["on"]) / statistics.median(rate["off"])
        cpu_ratio = statistics.median(cpu["on"]) / statistics.median(cpu["off"])
        results[stream_name] = {
            "rate": rate,
            "cpu_ms_per_1000": cpu,
            "rate_ratio": rate_ratio,
            "cpu_ratio": cpu_ratio,
        }
        print(
            f"{stream_name:11} {spread(rate['on'])} / {spread(rate['off'])}   {rate_ratio:.2f}"
            f"   {spread(cpu['on'])} / {spread(cpu['off'])}   {cpu_ratio:.2f}"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"replay{'' if args.workers == 1 else f'_{args.workers}w'}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
