"""The topic grammar (SPEC §1): ``circulo/v1/{kind}/{device_id}/{channel}``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from circulo_schemas.errors import Rejection

PREFIX = "circulo/v1"
COMMAND_PREFIX = "circulo/cmd/v1"  # commands to devices travel outside the device tree (SPEC §11)
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
        ("meter", "event"),  # only the v2 replay_unavailable event (SPEC §11)
        ("bin", "telemetry"),
        ("bin", "event"),
        ("repair", "event"),
        ("meter", "status"),
        ("bin", "status"),
        ("repair", "status"),
    }
)

_DEVICE_PARTS = 4  # circulo/v1/{kind}/{device_id}
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


@dataclass(frozen=True, slots=True)
class Address:
    """What a topic names, read as far as it can be: the one parse of a topic.

    ``device_id`` is set when the topic starts ``circulo/v1/{kind}/{device_id}`` with a valid
    id (so a rejected message is still attributed to its device); ``kind`` is whatever
    stands in the kind's place; ``rest`` is the list of parts after the device id (one part,
    the channel, on the native grammar; more on a device profile's firmware topics).
    """

    topic: str
    kind: str | None
    device_id: str | None
    rest: tuple[str, ...]

    @property
    def channel(self) -> str | None:
        """The channel of a native ``…/{channel}`` topic, when the topic has exactly that shape."""
        return self.rest[0] if self.device_id is not None and len(self.rest) == 1 else None


NO_ADDRESS = Address("", None, None, ())


def address_of(topic: str) -> Address:
    """Split a topic into what it names, without judging it (see :func:`parse_topic`)."""
    parts = topic.split("/")
    if len(parts) < _DEVICE_PARTS or parts[0] != "circulo" or parts[1] != "v1":
        return Address(topic, None, None, ())
    device_id = parts[3] if DEVICE_ID_RE.fullmatch(parts[3]) else None
    return Address(topic, parts[2], device_id, tuple(parts[4:]))


def parse_topic(topic: str) -> Topic:
    """Parse a device topic; raise ``Rejection("topic", …)`` for anything off the grammar."""
    return topic_of(address_of(topic))


def topic_of(address: Address) -> Topic:
    """The native topic an address names; ``Rejection("topic", …)`` for anything off the grammar."""
    topic = address.topic
    if address.kind is None or len(address.rest) != 1:
        raise Rejection("topic", f"not circulo/v1/{{kind}}/{{device_id}}/{{channel}}: {_show(topic)}")
    kind, channel = address.kind, address.rest[0]
    if kind not in KINDS:
        raise Rejection("topic", f"unknown kind {_show(kind)}")
    if channel not in CHANNELS:
        raise Rejection("topic", f"unknown channel {_show(channel)}")
    if address.device_id is None:
        raise Rejection("topic", f"invalid device id {_show(topic.split('/')[3])}")
    if (kind, channel) not in DEFINED_PAIRS:
        raise Rejection("topic", f"no {channel} messages are defined for kind {kind}")
    return Topic(kind, address.device_id, channel)


def is_account(text: str) -> bool:
    """Whether ``text`` is a valid account id (members, treasuries, repairers)."""
    return ACCOUNT_RE.fullmatch(text) is not None


def device_topic(kind: str, device_id: str, channel: str) -> str:
    """The topic a device of ``kind`` publishes ``channel`` messages on."""
    return f"{PREFIX}/{kind}/{device_id}/{channel}"


def device_topic_filter(kind: str, device_id: str) -> str:
    """The subscription filter covering every topic of one device (its broker ACL)."""
    return f"{PREFIX}/{kind}/{device_id}/#"


def command_topic(kind: str, device_id: str) -> str:
    """The topic a device subscribes to for commands (``replay``); only the ingest publishes there."""
    return f"{COMMAND_PREFIX}/{kind}/{device_id}"


def _show(text: str) -> str:
    """Quote untrusted text for a detail line, escaped and bounded."""
    shown = repr(text)
    return shown if len(shown) <= _MAX_DETAIL_TOPIC else shown[: _MAX_DETAIL_TOPIC - 1] + "…"
