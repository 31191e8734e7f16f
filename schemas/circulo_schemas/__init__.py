"""Circulo's wire contract (SPEC §1-2): topic grammar, payload models, JSON Schema export.

Independent of the ``circulo`` services: firmware tools and third parties can use it alone.
The ingest hot path is :func:`parse_topic` then :func:`parse_payload`; both raise
:class:`Rejection` carrying a SPEC §3 reason code and a short detail.
"""

from __future__ import annotations

from circulo_schemas.encode import encode_payload
from circulo_schemas.errors import Rejection
from circulo_schemas.payloads import (
    BinEvent,
    BinTelemetry,
    CollectionEvent,
    DepositEvent,
    MeterTelemetry,
    RepairEvent,
    ReplayCommand,
    ReplayUnavailable,
    StatusMessage,
)
from circulo_schemas.topics import Topic, command_topic, device_topic, device_topic_filter, parse_topic
from circulo_schemas.validate import DEFAULT_MAX_PAYLOAD_BYTES, Message, parse_payload

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "BinEvent",
    "BinTelemetry",
    "CollectionEvent",
    "DepositEvent",
    "Message",
    "MeterTelemetry",
    "Rejection",
    "RepairEvent",
    "ReplayCommand",
    "ReplayUnavailable",
    "StatusMessage",
    "Topic",
    "command_topic",
    "device_topic",
    "device_topic_filter",
    "encode_payload",
    "parse_payload",
    "parse_topic",
]
