"""Classification of one received message: valid, or rejected with a reason (pure).

Order of checks: topic grammar, size, registry (unknown, retired, kind), then the payload
(UTF-8, JSON, schema), then time limits judged against the receipt time. Dedup and
conflict need the database and are decided by the writer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from circulo.ingest.records import Classified, Received, Rejected, Valid
from circulo_schemas.errors import Rejection
from circulo_schemas.topics import Address, topic_of
from circulo_schemas.validate import parse_payload


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    """What the ingest needs to know of a registered device."""

    kind: str
    retired: bool


@dataclass(frozen=True, slots=True)
class Limits:
    """Configurable limits of SPEC §2–3."""

    max_payload_bytes: int = 8192
    clock_skew: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=30)


def quarantine_key(topic: str, payload: bytes) -> bytes:
    """SHA-256(topic ‖ payload): the dedup key of a quarantined message (SPEC §2)."""
    return hashlib.sha256(topic.encode("utf-8", "surrogateescape") + payload).digest()


def reject(received: Received, address: Address, reason: str, detail: str) -> Rejected:
    """A rejection of ``received`` for the quarantine, keyed by SHA-256(topic ‖ payload)."""
    return Rejected(received, reason, detail, address, quarantine_key(received.topic, received.payload))


def registry_rejection(kind: str, device: RegisteredDevice | None) -> tuple[str, str] | None:
    """unknown_device, retired_device or kind_mismatch, or None when the device may publish."""
    if device is None:
        return "unknown_device", "device is not registered"
    if device.retired:
        return "retired_device", "device is retired"
    if device.kind != kind:
        return "kind_mismatch", f"device is registered as {device.kind}, published as {kind}"
    return None


def time_rejection(ts: datetime | None, received_at: datetime, limits: Limits) -> tuple[str, str] | None:
    """clock_skew (ahead of receipt by more than the limit) or too_old, else None."""
    if ts is None:
        return None
    if ts - received_at > limits.clock_skew:
        return (
            "clock_skew",
            f"ts {ts.isoformat()} is {(ts - received_at).total_seconds():.0f} s ahead of receipt",
        )
    if received_at - ts > limits.max_age:
        return "too_old", f"ts {ts.isoformat()} is older than {limits.max_age.days} days at receipt"
    return None


def classify(
    received: Received, address: Address, registry: Mapping[str, RegisteredDevice], limits: Limits
) -> Classified:
    """Judge one message against the contract, the registry and the time limits.

    ``address`` is ``address_of(received.topic)``, parsed once by the caller (which needs
    the device ids of a batch before classifying it, to refresh the registry).
    """
    try:
        topic = topic_of(address)
        if len(received.payload) > limits.max_payload_bytes:
            raise Rejection("too_large", f"{len(received.payload)} bytes > {limits.max_payload_bytes}")
        refused = registry_rejection(topic.kind, registry.get(topic.device_id))
        if refused:
            raise Rejection(*refused)
        message = parse_payload(topic, received.payload, max_bytes=limits.max_payload_bytes)
        late_or_early = time_rejection(message.ts, received.received_at, limits)
        if late_or_early:
            raise Rejection(*late_or_early)
    except Rejection as rejection:
        return reject(received, address, rejection.reason, rejection.detail)
    return Valid(received, address, topic, message, hashlib.sha256(received.payload).digest())
