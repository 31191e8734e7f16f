"""Frozen records that flow through the ingest: received messages, classified rows, outcomes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from circulo_schemas.topics import Address, Topic
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
    address: Address
    topic: Topic
    message: Message
    payload_sha256: bytes

    @property
    def kind(self) -> str:
        """The device kind of the topic (``meter``, ``bin``, ``repair``)."""
        return self.topic.kind

    @property
    def device_id(self) -> str:
        """The publishing device."""
        return self.topic.device_id

    @property
    def channel(self) -> str:
        """The channel the message came on (``telemetry``, ``event``, ``status``)."""
        return self.topic.channel


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message for the quarantine, with its SPEC §3 reason code and detail.

    ``address`` is what its topic named, read once at classification: the device it is
    attributed to in the quarantine and in the device's state, when the topic says.
    """

    received: Received
    reason: str
    detail: str
    address: Address
    key_sha256: bytes

    @property
    def device_id(self) -> str | None:
        """The device the topic names, if it names one in the right place."""
        return self.address.device_id

    @property
    def channel(self) -> str:
        """The native channel the topic names, or '' when it has no such shape."""
        return self.address.channel or ""


Classified = Valid | Rejected
