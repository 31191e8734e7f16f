"""Frozen records that flow through the ingest: received messages, classified rows, outcomes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from circulo_schemas.validate import Message


class Outcome(enum.StrEnum):
    """The three outcomes of SPEC §3; every message ends in exactly one."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"


@dataclass(frozen=True, slots=True)
class Received:
    """A message as it came off the wire, stamped at receipt.

    ``epoch`` numbers the broker connection it arrived on: only messages of the current
    connection may be acknowledged (SPEC §3).
    """

    topic: str
    payload: bytes
    received_at: datetime
    mid: int
    epoch: int
    qos: int = 1


@dataclass(frozen=True, slots=True)
class Valid:
    """A message that passed the contract and the registry: to be stored, or found a duplicate."""

    received: Received
    kind: str
    device_id: str
    channel: str
    message: Message
    payload_sha256: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message for the quarantine, with its SPEC §3 reason code and detail."""

    received: Received
    reason: str
    detail: str
    device_id: str | None
    key_sha256: bytes


Classified = Valid | Rejected
