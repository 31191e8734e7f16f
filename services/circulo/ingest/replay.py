"""``circulo quarantine list / replay``: look at rejected messages, and re-run them.

Replay re-validates pending quarantined messages against the current registry (for
instance after a device was registered), judging time limits by the original receipt
time so data that arrived early is not lost (SPEC §3). What passes goes through the same
batch writer as live traffic — stored, or a duplicate of what is already there — and its
data rows carry the replay time as their receipt time, since that is when they entered
the data. What still fails stays quarantined with the new verdict recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import psycopg

from circulo.ingest.classify import Limits, classify
from circulo.ingest.receipt import utc_now
from circulo.ingest.records import Ignored, Outcome, Received, Valid
from circulo.ingest.registry_cache import RegistryCache
from circulo.ingest.writer import prepare_connection, write_batch
from circulo_schemas.topics import address_of

LIST_QUARANTINE = """
SELECT id, received_at, topic, reason, detail, device_id, replayed_at, replay_outcome
FROM quarantine
WHERE (%(reason)s::text IS NULL OR reason = %(reason)s)
  AND (%(device)s::text IS NULL OR device_id = %(device)s)
  AND (NOT %(pending)s OR replayed_at IS NULL)
ORDER BY received_at DESC, id DESC
LIMIT %(limit)s
"""

PENDING_FOR_REPLAY = """
SELECT id, received_at, topic, payload FROM quarantine
WHERE replayed_at IS NULL
  AND (%(reason)s::text IS NULL OR reason = %(reason)s)
  AND (%(device)s::text IS NULL OR device_id = %(device)s)
  AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))
  AND id > %(after_id)s
ORDER BY id
LIMIT %(limit)s
"""

MARK_REPLAYED = """
UPDATE quarantine SET replayed_at = %s, replay_outcome = %s WHERE id = %s AND received_at = %s
"""
MARK_STILL_QUARANTINED = "UPDATE quarantine SET replay_outcome = %s WHERE id = %s AND received_at = %s"


@dataclass(frozen=True)
class QuarantinedMessage:
    """One row of ``circulo quarantine list`` (SPEC §8 fields first)."""

    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    device_id: str | None
    replayed_at: datetime | None
    replay_outcome: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "received_at": self.received_at,
            "topic": self.topic,
            "reason": self.reason,
            "detail": self.detail,
            "device_id": self.device_id,
            "replayed_at": self.replayed_at,
            "replay_outcome": self.replay_outcome,
        }


@dataclass
class ReplayReport:
    """What a replay did: how many left the quarantine, and why the rest stayed."""

    examined: int = 0
    stored: int = 0
    duplicate: int = 0
    ignored: int = 0
    still_quarantined: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "examined": self.examined,
            "stored": self.stored,
            "duplicate": self.duplicate,
            "ignored": self.ignored,
            "still_quarantined": dict(self.still_quarantined),
        }


def list_quarantine(
    conn: psycopg.Connection,
    *,
    reason: str | None = None,
    device: str | None = None,
    pending: bool = False,
    limit: int = 100,
) -> list[QuarantinedMessage]:
    rows = conn.execute(
        LIST_QUARANTINE, {"reason": reason, "device": device, "pending": pending, "limit": limit}
    ).fetchall()
    return [QuarantinedMessage(*row) for row in rows]


def replay(
    conn: psycopg.Connection,
    limits: Limits,
    *,
    reason: str | None = None,
    device: str | None = None,
    ids: Sequence[int] | None = None,
    chunk: int = 1000,
) -> ReplayReport:
    """Replay pending quarantined messages in arrival order (ids), one transaction per chunk."""
    prepare_connection(conn)
    registry = RegistryCache(refresh_s=3600)
    registry.load(conn)
    report = ReplayReport()
    after_id = -1
    while True:
        params = {
            "reason": reason,
            "device": device,
            "ids": list(ids) if ids else None,
            "limit": chunk,
            "after_id": after_id,
        }
        pending = conn.execute(PENDING_FOR_REPLAY, params).fetchall()
        conn.commit()
        if not pending:
            return report
        with conn.transaction():
            replay_chunk(conn, pending, registry, limits, report)
        if len(pending) < chunk:
            return report
        after_id = max(r[0] for r in pending)


def replay_chunk(
    conn: psycopg.Connection,
    pending: list[tuple[Any, ...]],
    registry: RegistryCache,
    limits: Limits,
    report: ReplayReport,
) -> None:
    now = utc_now()
    for qid, received_at, topic, payload in pending:
        report.examined += 1
        original = Received(topic, bytes(payload), received_at, mid=0, epoch=0)
        verdict = classify(original, address_of(topic), registry.devices, limits)
        if isinstance(verdict, Ignored):  # e.g. boot info of a device whose profile was set since
            report.ignored += 1
            conn.execute(MARK_REPLAYED, (now, Outcome.IGNORED.value, qid, received_at))
            continue
        if not isinstance(verdict, Valid):
            report.still_quarantined[verdict.reason] += 1
            conn.execute(MARK_STILL_QUARANTINED, (verdict.reason, qid, received_at))
            continue
        entering = replace(verdict, received=replace(original, received_at=now))
        decision = write_batch(conn, [entering], registry.devices)[0]
        if decision.outcome is Outcome.QUARANTINED or decision.reason:
            report.still_quarantined[decision.reason or "conflict"] += 1
            conn.execute(MARK_STILL_QUARANTINED, (decision.reason, qid, received_at))
            continue
        if decision.outcome is Outcome.STORED:
            report.stored += 1
        else:
            report.duplicate += 1
        conn.execute(MARK_REPLAYED, (now, decision.outcome.value, qid, received_at))
