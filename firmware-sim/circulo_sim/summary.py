"""What a run did, counted: per message type, per fault, per expected ingest outcome.

Counters are updated from the MQTT threads (thread-safe) and turned into a summary
(:meth:`RunStats.summary`) that a test or the demo reconciles with the ingest's outcomes:
every message the broker acknowledged is expected *stored*, *duplicate*, *ignored* (a
profiled meter's non-data messages) or *quarantined* with a reason; refusals, drops and
messages still unacknowledged at the end are counted apart. An optional message log (JSON
lines) names every message and its fate.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from circulo_schemas.encode import format_timestamp
from circulo_sim.faults import FAULTS
from circulo_sim.plan import Publish
from circulo_sim.wire import MESSAGE_TYPES

FATES = ("acked", "refused", "dropped", "unacked")
# commands: valid replay commands received; invalid: logged and ignored; republished: messages
# sent again with their original bytes; unavailable_events: replay_unavailable events sent,
# unavailable_seqs: how many seqs they cover
REPLAY_COUNTERS = ("commands", "invalid", "republished", "unavailable_events", "unavailable_seqs")


@dataclass(frozen=True)
class Progress:
    """A snapshot for the live progress line."""

    connected: int
    devices: int
    sent: int
    buffered: int
    faults: int
    dropped: int
    refused: int


def injected_fault(publish: Publish) -> str | None:
    """The fault this publish injects, counted once per injection.

    A duplicate is counted on its second copy, an impersonation on the copy sent to the
    other device's topic, an outage when it starts (not on the messages it buffers).
    """
    fault, expected = publish.label.fault, publish.label.expected
    if fault is None or fault == "offline":
        return None
    if fault == "duplicate":
        return fault if expected == "duplicate" else None
    if fault == "impersonate":
        return fault if expected == "refused" else None
    return fault


class RunStats:
    """Thread-safe counters of one run, and the optional per-message log."""

    def __init__(self, message_log: IO[str] | None = None) -> None:
        self._lock = threading.Lock()
        self.published: Counter[str] = Counter()  # handed to the broker connection, by type
        self.fates: Counter[tuple[str, str]] = Counter()  # (fate, message type)
        self.expected: Counter[str] = Counter()  # expected ingest outcome of acked messages
        self.faults: Counter[str] = Counter()
        self.buffered: Counter[str] = Counter()  # went through a store-and-forward buffer, by type
        self.surprises: Counter[str] = Counter()  # acked-but-should-be-refused and the reverse
        self.refusal_codes: Counter[str] = Counter()
        self.connects = 0
        self.reconnects = 0
        self.connect_failures: Counter[str] = Counter()
        self.no_subscribers = 0  # PUBACKs 0x10 on data messages, each kept and sent again (SPEC §11)
        self.resends = 0
        self.replay: Counter[str] = Counter()  # replay commands and what answered them
        self._log = message_log

    def planned(self, publish: Publish) -> None:
        injected = injected_fault(publish)
        with self._lock:
            self.published[publish.label.message_type] += 1
            if injected:
                self.faults[injected] += 1

    def fault(self, name: str) -> None:
        with self._lock:
            self.faults[name] += 1

    def was_buffered(self, publish: Publish) -> None:
        with self._lock:
            self.buffered[publish.label.message_type] += 1

    def acked(self, publish: Publish) -> None:
        with self._lock:
            self.fates["acked", publish.label.message_type] += 1
            if publish.label.expected == "refused":
                self.surprises["accepted_impersonation"] += 1  # the broker's ACLs are wrong
            else:
                self.expected[publish.label.expected] += 1
            self._write(publish, "acked")

    def refused(self, publish: Publish, reason: str) -> None:
        with self._lock:
            self.fates["refused", publish.label.message_type] += 1
            self.refusal_codes[reason] += 1
            if publish.label.expected != "refused":
                self.surprises["refused_own_topic"] += 1
            self._write(publish, "refused", reason)

    def lost(self, publish: Publish, fate: str) -> None:
        """A message dropped from a full buffer, or never acknowledged before the end."""
        with self._lock:
            self.fates[fate, publish.label.message_type] += 1
            self._write(publish, fate)

    def unheard(self, publish: Publish) -> None:
        """A PUBACK 0x10 (no matching subscribers): the message is kept for its next send."""
        with self._lock:
            self.no_subscribers += 1
            self._write(publish, "no_subscribers")

    def resent(self, publish: Publish) -> None:
        with self._lock:
            self.resends += 1

    def replay_event(self, name: str, count: int = 1) -> None:
        """One of REPLAY_COUNTERS: a command answered or refused, messages republished or not held."""
        with self._lock:
            self.replay[name] += count

    def connected(self, *, first: bool) -> None:
        with self._lock:
            self.connects += 1
            self.reconnects += 0 if first else 1

    def connect_failed(self, reason: str) -> None:
        with self._lock:
            self.connect_failures[reason] += 1

    def _write(self, publish: Publish, fate: str, detail: str | None = None) -> None:
        if self._log is None:
            return
        record = {
            "device_id": publish.device_id,
            "topic": publish.topic,
            "payload": publish.payload.decode("utf-8", "replace"),
            "payload_sha256": hashlib.sha256(publish.payload).hexdigest(),
            "at": format_timestamp(publish.at),
            "type": publish.label.message_type,
            "fault": publish.label.fault,
            "expected": publish.label.expected,
            "fate": fate,
            "detail": detail,
        }
        self._log.write(json.dumps(record, separators=(",", ":")) + "\n")

    def count(self, fate: str) -> int:
        with self._lock:
            return sum(n for (f, _), n in self.fates.items() if f == fate)

    def progress(self, connected: int, devices: int, buffered: int) -> Progress:
        with self._lock:
            sent = sum(n for (f, _), n in self.fates.items() if f == "acked")
            dropped = sum(n for (f, _), n in self.fates.items() if f == "dropped")
            refused = sum(n for (f, _), n in self.fates.items() if f == "refused")
            return Progress(connected, devices, sent, buffered, sum(self.faults.values()), dropped, refused)

    def summary(self) -> dict[str, Any]:
        """Counts per message type, fault, expected outcome and delivery fate (JSON-ready)."""
        with self._lock:
            by_type = {
                t: {"published": self.published[t], "buffered": self.buffered[t]}
                | {fate: self.fates[fate, t] for fate in FATES}
                for t in MESSAGE_TYPES
            }
            quarantined = {
                k.split(":", 1)[1]: n
                for k, n in sorted(self.expected.items())
                if k.startswith("quarantined:")
            }
            return {
                "messages": by_type,
                "sent": {t: self.fates["acked", t] for t in MESSAGE_TYPES},
                "faults": {f: self.faults[f] for f in FAULTS},
                "expected": {
                    "stored": self.expected["stored"],
                    "duplicate": self.expected["duplicate"],
                    "quarantined": quarantined,
                    "status": self.expected["status"],
                    "ignored": self.expected["ignored"],
                },
                "delivery": {fate: sum(n for (f, _), n in self.fates.items() if f == fate) for fate in FATES}
                | {
                    "buffered": sum(self.buffered.values()),
                    "connects": self.connects,
                    "reconnects": self.reconnects,
                    "connect_failures": dict(self.connect_failures),
                    "refusal_codes": dict(self.refusal_codes),
                    "no_subscribers": self.no_subscribers,
                    "resent": self.resends,
                },
                "replay": {name: self.replay[name] for name in REPLAY_COUNTERS},
                "surprises": dict(self.surprises),
            }


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    """Write the machine-readable summary file."""
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def describe(summary: dict[str, Any]) -> str:
    """The human summary printed at the end of a run."""
    window = summary["window"]
    lines = [
        f"co-op {summary['coop_id']}: {summary['devices_total']} devices ({_kinds(summary['devices'])}),"
        f" {summary['mode']} mode, seed {summary['seed']}",
        f"simulated {window['start']} → {window['reached']} ({window['mode']})"
        f" in {summary['wall_seconds']:.1f} s of wall time",
        "sent (acknowledged by the broker): " + _pairs(summary["sent"]),
    ]
    faults = {k: v for k, v in summary["faults"].items() if v}
    lines.append("faults injected: " + (_pairs(faults) if faults else "none"))
    expected = summary["expected"]
    quarantined = expected["quarantined"]
    lines.append(
        f"expected at ingest: {expected['stored']} stored, {expected['duplicate']} duplicate,"
        f" {sum(quarantined.values())} quarantined"
        + (f" ({_pairs(quarantined)})" if quarantined else "")
        + f", {expected['status']} status"
        + (
            f", {expected['ignored']} ignored (firmware boot and info messages)"
            if expected.get("ignored")
            else ""
        )
    )
    d = summary["delivery"]
    lines.append(
        f"delivery: {d['buffered']} buffered, {d['dropped']} dropped, {d['refused']} refused by the broker,"
        f" {d['unacked']} unacknowledged, {d['reconnects']} reconnects"
    )
    if d.get("no_subscribers"):
        lines.append(
            f"no subscriber (PUBACK 0x10): {d['no_subscribers']} kept and sent again ({d['resent']} resends)"
        )
    replay = summary.get("replay", {})
    if any(replay.values()):
        lines.append(
            f"replay: {replay['commands']} commands ({replay['invalid']} invalid ignored),"
            f" {replay['republished']} republished, {replay['unavailable_events']} replay_unavailable"
            f" covering {replay['unavailable_seqs']} seqs"
        )
    if summary["surprises"]:
        lines.append("SURPRISES: " + _pairs(summary["surprises"]))
    return "\n".join(lines)


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none"


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())
