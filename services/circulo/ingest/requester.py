"""Ask devices to replay what is missing, and give up in time (SPEC §11).

Every ingest worker runs one requester; they share the work through the database. A round
reads ``W`` (:func:`ingest_low_watermark`, SPEC §3), then takes the pending gaps that are due
by ``W`` — never by wall time, so the backlog after an outage, received long after it was
sent, triggers no burst of requests — with ``FOR UPDATE SKIP LOCKED`` on the gaps' devices'
``device_state`` rows (the lock every writer takes before it touches a device's gaps): a device
another worker's requester, or a writer filling its gaps, holds is left to it. Due means:

- ``give_up_at`` ≤ ``W``: the gap is lost for good (``lost_reason`` ``timeout``);
- else ``next_request_at`` ≤ ``W``: a new request id is recorded, the gap becomes
  ``requested`` and its next request waits ``replay_retry``, doubling with each request.

The round commits first and publishes after (QoS 1 on ``circulo/cmd/v1/{kind}/{device_id}``):
a command lost on the way, or a worker that dies between commit and publish, is covered by
the next request, never by a second one before its back-off.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from circulo.ingest import queries
from circulo.ingest.gaps import span
from circulo.logs import get_logger
from circulo_schemas.payloads import ReplayCommand
from circulo_schemas.topics import command_topic

log = get_logger("ingest.replay")
ROUND_LIMIT = 500  # gaps per round: a long backlog is worked through over a few rounds


@dataclass(frozen=True, slots=True)
class DueGap:
    """A pending gap due by ``W``: to request again, or to give up."""

    device_id: str
    kind: str
    epoch: int
    from_seq: int
    to_seq: int
    requests: int
    give_up_at: datetime
    next_request_at: datetime

    @property
    def missing(self) -> int:
        return span(self.from_seq, self.to_seq)


@dataclass(frozen=True, slots=True)
class Request:
    """One command to publish for a gap."""

    gap: DueGap
    request_id: str
    next_request_at: datetime

    @property
    def topic(self) -> str:
        return command_topic(self.gap.kind, self.gap.device_id)

    @property
    def payload(self) -> bytes:
        command = ReplayCommand(
            v=1,
            cmd="replay",
            id=self.request_id,
            epoch=self.gap.epoch,
            from_seq=self.gap.from_seq,
            to_seq=self.gap.to_seq,
        )
        return command.model_dump_json().encode()


@dataclass
class Round:
    """What one round decided: requests to publish, gaps given up."""

    watermark: datetime | None = None
    requests: list[Request] = field(default_factory=list)
    given_up: list[DueGap] = field(default_factory=list)


def back_off(retry: timedelta, requests: int) -> timedelta:
    """The wait before the next request after ``requests`` earlier ones: retry, 2·retry, 4·retry…"""
    return retry * int(2 ** min(requests, 20))


def decide(due: Sequence[DueGap], watermark: datetime, retry: timedelta) -> Round:
    """Give up what ``W`` passed the limit of; request the rest again (pure)."""
    decided = Round(watermark)
    for gap in due:
        if gap.give_up_at <= watermark:
            decided.given_up.append(gap)
        elif gap.next_request_at <= watermark and gap.epoch >= 0:  # epoch -1: no buffer to ask
            request_id = uuid.uuid4().hex
            decided.requests.append(Request(gap, request_id, watermark + back_off(retry, gap.requests)))
    return decided


def take_round(conn: psycopg.Connection, retry: timedelta, limit: int = ROUND_LIMIT) -> Round:
    """Decide and record one round in one transaction (the caller publishes after the commit)."""
    with conn.transaction():
        watermark = conn.execute(queries.LOW_WATERMARK).fetchone()
        if watermark is None or watermark[0] is None:
            return Round()
        w: datetime = watermark[0]
        rows = conn.execute(queries.LOCK_DUE_GAPS, {"w": w, "limit": limit}).fetchall()
        decided = decide([DueGap(*row) for row in rows], w, retry)
        record(conn, decided)
    return decided


def record(conn: psycopg.Connection, decided: Round) -> None:
    with conn.cursor() as cur:
        if decided.requests:
            cur.executemany(
                queries.MARK_REQUESTED,
                [(r.request_id, r.next_request_at, *key_of(r.gap)) for r in decided.requests],
            )
        if decided.given_up:
            cur.executemany(queries.GIVE_UP, [key_of(g) for g in decided.given_up])


def key_of(gap: DueGap) -> tuple[Any, ...]:
    return (gap.device_id, gap.epoch, gap.from_seq)


def publish_round(decided: Round, publish: Callable[[str, bytes], bool]) -> int:
    """Publish the round's commands (QoS 1) and log each request and give-up; how many went out."""
    sent = 0
    for request in decided.requests:
        gap = request.gap
        ok = publish(request.topic, request.payload)
        sent += ok
        log.info(
            "replay_requested",
            device_id=gap.device_id,
            epoch=gap.epoch,
            from_seq=gap.from_seq,
            to_seq=gap.to_seq,
            missing=gap.missing,
            request_id=request.request_id,
            attempt=gap.requests + 1,
            published=ok,
            next_request_at=request.next_request_at.isoformat(),
            watermark=decided.watermark.isoformat() if decided.watermark else None,
        )
    for gap in decided.given_up:
        log.warning(
            "replay_given_up",
            device_id=gap.device_id,
            epoch=gap.epoch,
            from_seq=gap.from_seq,
            to_seq=gap.to_seq,
            missing=gap.missing,
            requests=gap.requests,
            give_up_at=gap.give_up_at.isoformat(),
        )
    return sent


def pending_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Pending gaps per state (``open``, ``requested``), for the gauge."""
    with conn.transaction():
        counts = dict.fromkeys(("open", "requested"), 0)
        counts.update({state: int(n) for state, n in conn.execute(queries.PENDING_GAP_COUNTS).fetchall()})
    return counts
