"""Frozen records that flow through the ingest: received messages, classified rows, outcomes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from circulo_schemas.topics import Address, Topic
from circulo_schemas.validate import Message


class Outcome(enum.StrEnum):
    """The outcomes of SPEC §3 (and §10's ``ignored``); every message ends in exactly one."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"
    # a device profile's known non-data message (boot info, Wi-Fi status, a notification
    # without the register): acknowledged and counted, neither stored nor quarantined
    IGNORED = "ignored"


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
    """A message that passed the contract and the registry: to be stored, or found a duplicate.

    For a profiled device (SPEC §10) ``message`` is the canonical message translated from
    the firmware's payload, ``payload_sha256`` the SHA-256 of its canonical values (so the
    same reading on two topics is a duplicate) and ``raw_payload`` the firmware's bytes,
    kept with the stored row; for a ``circulo`` device ``raw_payload`` is None.
    """

    received: Received
    address: Address
    topic: Topic
    message: Message
    payload_sha256: bytes
    raw_payload: bytes | None = None

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


@dataclass(frozen=True, slots=True)
class Ignored:
    """A known non-data message of a device profile (SPEC §10): acknowledged and counted.

    ``what`` names it from a short fixed list (``tasmota:tele/INFO1``,
    ``shelly-gen2:status/wifi``, …): the metrics label, so its cardinality stays bounded.
    """

    received: Received
    address: Address
    what: str

    @property
    def device_id(self) -> str | None:
        """The device the topic names."""
        return self.address.device_id

    @property
    def channel(self) -> str:
        """Never a native channel: an ignored message changes no per-channel state."""
        return ""


Classified = Valid | Rejected | Ignored
