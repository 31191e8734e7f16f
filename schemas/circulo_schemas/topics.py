"""The topic grammar (SPEC §1): ``circulo/v1/{kind}/{device_id}/{channel}``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from circulo_schemas.errors import Rejection

PREFIX = "circulo/v1"
KINDS = ("meter", "bin", "repair")
CHANNELS = ("telemetry", "event", "status")
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
ACCOUNT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9@._-]{0,127}$"
DEVICE_ID_RE = re.compile(DEVICE_ID_PATTERN)
ACCOUNT_RE = re.compile(ACCOUNT_PATTERN)

# The kind/channel pairs that carry a message type; any other pair is quarantined `topic`.
DEFINED_PAIRS = frozenset(
    {
        ("meter", "telemetry"),
        ("bin", "telemetry"),
        ("bin", "event"),
        ("repair", "event"),
        ("meter", "status"),
        ("bin", "status"),
        ("repair", "status"),
    }
)

_TOPIC_PARTS = 5
_MAX_DETAIL_TOPIC = 80


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed device topic whose kind/channel pair is defined."""

    kind: str
    device_id: str
    channel: str

    @property
    def pair(self) -> tuple[str, str]:
        """The (kind, channel) pair that selects the payload model."""
        return (self.kind, self.channel)

    def __str__(self) -> str:
        return device_topic(self.kind, self.device_id, self.channel)


def parse_topic(topic: str) -> Topic:
    """Parse a device topic; raise ``Rejection("topic", …)`` for anything off the grammar."""
    parts = topic.split("/")
    if len(parts) != _TOPIC_PARTS or parts[0] != "circulo" or parts[1] != "v1":
        raise Rejection("topic", f"not circulo/v1/{{kind}}/{{device_id}}/{{channel}}: {_show(topic)}")
    _, _, kind, device_id, channel = parts
    if kind not in KINDS:
        raise Rejection("topic", f"unknown kind {_show(kind)}")
    if channel not in CHANNELS:
        raise Rejection("topic", f"unknown channel {_show(channel)}")
    if DEVICE_ID_RE.fullmatch(device_id) is None:
        raise Rejection("topic", f"invalid device id {_show(device_id)}")
    if (kind, channel) not in DEFINED_PAIRS:
        raise Rejection("topic", f"no {channel} messages are defined for kind {kind}")
    return Topic(kind, device_id, channel)


def is_account(text: str) -> bool:
    """Whether ``text`` is a valid account id (members, treasuries, repairers)."""
    return ACCOUNT_RE.fullmatch(text) is not None


def device_topic(kind: str, device_id: str, channel: str) -> str:
    """The topic a device of ``kind`` publishes ``channel`` messages on."""
    return f"{PREFIX}/{kind}/{device_id}/{channel}"


def device_topic_filter(kind: str, device_id: str) -> str:
    """The subscription filter covering every topic of one device (its broker ACL)."""
    return f"{PREFIX}/{kind}/{device_id}/#"


def _show(text: str) -> str:
    """Quote untrusted text for a detail line, escaped and bounded."""
    shown = repr(text)
    return shown if len(shown) <= _MAX_DETAIL_TOPIC else shown[: _MAX_DETAIL_TOPIC - 1] + "…"
