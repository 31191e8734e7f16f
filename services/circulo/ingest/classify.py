"""Classification of one received message: valid, ignored, or rejected with a reason (pure).

Order of checks for a ``circulo`` device: topic grammar, size, registry (unknown, retired,
kind), then the payload (UTF-8, JSON, schema), then time limits judged against the receipt
time. A device registered with a firmware profile (SPEC §10) goes to its profile's
translator instead (:mod:`circulo.ingest.profiles`), after the size and registry checks:
its message becomes a canonical one, or is a known non-data message (``ignored``), or is
rejected. Dedup and conflict need the database and are decided by the writer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from circulo.ingest.profiles import profile_hint, translate
from circulo.ingest.profiles.common import NonData
from circulo.ingest.records import Classified, Ignored, Received, Rejected, Valid
from circulo_schemas.errors import Rejection
from circulo_schemas.profiles import CIRCULO
from circulo_schemas.topics import Address, Topic, topic_of
from circulo_schemas.validate import parse_payload


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    """What the ingest needs to know of a registered device."""

    kind: str
    retired: bool
    profile: str = CIRCULO


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
    device = registry.get(address.device_id) if address.device_id is not None else None
    if device is not None and device.profile != CIRCULO:
        return classify_profiled(received, address, device, limits)
    try:
        topic = topic_of(address)
        if len(received.payload) > limits.max_payload_bytes:
            raise Rejection("too_large", f"{len(received.payload)} bytes > {limits.max_payload_bytes}")
        refused = registry_rejection(topic.kind, device)
        if refused:
            raise Rejection(*refused)
        message = parse_payload(topic, received.payload, max_bytes=limits.max_payload_bytes)
        late_or_early = time_rejection(message.ts, received.received_at, limits)
        if late_or_early:
            raise Rejection(*late_or_early)
    except Rejection as rejection:
        detail = rejection.detail
        if rejection.reason == "topic" and device is not None:
            detail = profile_hint(address, CIRCULO) or detail
        return reject(received, address, rejection.reason, detail)
    return Valid(received, address, topic, message, hashlib.sha256(received.payload).digest())


def classify_profiled(
    received: Received, address: Address, device: RegisteredDevice, limits: Limits
) -> Classified:
    """A message of a device with a firmware profile: translated, ignored, or rejected (SPEC §10)."""
    try:
        if len(received.payload) > limits.max_payload_bytes:
            raise Rejection("too_large", f"{len(received.payload)} bytes > {limits.max_payload_bytes}")
        refused = registry_rejection(address.kind or "", device)
        if refused:
            raise Rejection(*refused)
        translated = translate(device.profile, address, received.payload)
        if isinstance(translated, NonData):
            return Ignored(received, address, f"{device.profile}:{translated.what}")
        late_or_early = time_rejection(translated.message.ts, received.received_at, limits)
        if late_or_early:
            raise Rejection(*late_or_early)
    except Rejection as rejection:
        return reject(received, address, rejection.reason, rejection.detail)
    topic = Topic(device.kind, address.device_id or "", translated.channel)
    return Valid(received, address, topic, translated.message, translated.digest, received.payload)
