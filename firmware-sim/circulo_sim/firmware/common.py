"""What the emulated firmwares share: a firmware message, its companions, number formats (pure).

A profiled meter (SPEC §10) publishes its firmware's own topics under
``circulo/v1/meter/{device_id}``. A reading becomes a *primary* message (the one the
ingest stores) and *companions*: the same reading again on another topic (a Shelly's
NotifyStatus, a duplicate at ingest), non-data messages (``ignored``) and statuses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from circulo_schemas.topics import PREFIX

# roles of a companion message, and what the ingest makes of it
COPY = "copy"  # the same reading again: a duplicate (or stored, when the primary was not)
INFO = "info"  # a known non-data message: ignored
STATUS = "status"  # a device status (online)


@dataclass(frozen=True, slots=True, eq=False)
class FirmwareMessage:
    """One message of an emulated firmware, rendered for any time (clock faults shift it)."""

    device_id: str
    kind: str
    message_type: str
    ts: datetime
    seq: int
    subtopic: str
    render: Callable[[datetime], bytes]
    broken: Callable[[datetime], bytes]

    @property
    def topic(self) -> str:
        return self.topic_for(self.device_id)

    def topic_for(self, device_id: str, kind: str | None = None) -> str:
        """This message's topic under another device's prefix (an impersonation)."""
        return f"{PREFIX}/{kind or self.kind}/{device_id}/{self.subtopic}"

    def payload(self, *, ts: datetime | None = None) -> bytes:
        """The bytes the firmware publishes (``ts`` overrides its clock)."""
        return self.render(off_the_minute(ts) if ts is not None else self.ts)

    def schema_break(self) -> bytes:
        """The same message with the register sent as a string: the ingest says ``schema``."""
        return self.broken(self.ts)


@dataclass(frozen=True, slots=True)
class Companion:
    """A message sent with a reading, and its role."""

    message: FirmwareMessage
    role: str


def off_the_minute(ts: datetime) -> datetime:
    """A shifted clock in whole seconds, never on a whole minute (no reading is stamped there)."""
    whole = ts.replace(microsecond=0)
    return whole - timedelta(seconds=1) if whole.second == 0 else whole


def fixed(value: float | Decimal, places: int) -> str:
    """A number with exactly ``places`` decimals, rounded half up (``%.3f`` as firmware prints it)."""
    quantum = Decimal(1).scaleb(-places)
    return format(
        Decimal(repr(value) if isinstance(value, float) else value).quantize(quantum, ROUND_HALF_UP), "f"
    )


def shortest(value: float | Decimal) -> str:
    """A number as the shortest JSON a firmware prints (``0``, ``50.01``, ``1234.567``)."""
    number = Decimal(repr(value) if isinstance(value, float) else value)
    text = format(number.normalize(), "f")
    return text if text != "-0" else "0"


def unix(ts: datetime) -> int:
    """Whole Unix seconds."""
    return int(ts.astimezone(UTC).timestamp())


def local_time(ts: datetime) -> str:
    """Tasmota's ``Time``: local time (UTC, with ``Timezone 0``), seconds, no offset."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def device_mac(device_id: str) -> str:
    """A stable made-up MAC address of a device (12 hex digits, upper case)."""
    return hashlib.sha256(device_id.encode()).hexdigest()[:12].upper()
