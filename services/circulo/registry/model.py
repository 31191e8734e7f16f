"""Frozen records of the registry: co-ops, members, device specifications, devices and their replay gaps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from circulo_schemas.profiles import CIRCULO

# What an installer specifies for a device, in CSV column order (docs/installers.md).
SPEC_FIELDS = (
    "kind",
    "device_id",
    "coop_id",
    "lat",
    "lon",
    "location_name",
    "rated_power_w",
    "capacity_kg",
    "installer",
    "notes",
    "profile",
)


@dataclass(frozen=True)
class Coop:
    """A grid co-op."""

    coop_id: str
    name: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class OpenData:
    """What a co-op publishes as open repair data: ORDS data provider, country, problem opt-in."""

    coop_id: str
    data_provider: str
    country: str
    publish_problems: bool = False


@dataclass(frozen=True)
class Member:
    """A member account of a co-op and its integer shares."""

    coop_id: str
    account: str
    shares: int
    joined_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class DeviceSpec:
    """A device as an installer describes it (``device add`` options, a survey row)."""

    kind: str
    device_id: str
    coop_id: str
    lat: float | None = None
    lon: float | None = None
    location_name: str | None = None
    rated_power_w: int | None = None
    capacity_kg: Decimal | None = None
    installer: str | None = None
    notes: str | None = None
    profile: str = CIRCULO

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Device:
    """A registered device with its lifecycle and credential state (never a secret)."""

    spec: DeviceSpec
    status: str
    registered_at: datetime
    commissioned_at: datetime | None
    retired_at: datetime | None
    updated_at: datetime
    credentials_version: int
    credentials_issued_at: datetime | None
    broker_state: str

    @property
    def device_id(self) -> str:
        return self.spec.device_id

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def retired(self) -> bool:
        return self.status == "retired"

    def as_dict(self) -> dict[str, Any]:
        """Every field, flat (for ``--json``)."""
        return {
            **self.spec.as_dict(),
            "status": self.status,
            "registered_at": self.registered_at,
            "commissioned_at": self.commissioned_at,
            "retired_at": self.retired_at,
            "updated_at": self.updated_at,
            "credentials_version": self.credentials_version,
            "credentials_issued_at": self.credentials_issued_at,
            "broker_state": self.broker_state,
        }


@dataclass(frozen=True)
class ReplayGap:
    """A range of ``seq`` a device has not delivered yet and the ingest asks it to replay (SPEC §11)."""

    epoch: int
    from_seq: int
    to_seq: int
    missing: int
    state: str
    requests: int
    opened_at: datetime
    requested_at: datetime | None
    give_up_at: datetime | None

    @property
    def seq_range(self) -> str:
        """``from..to`` (it may wrap through 2^32 - 1 to 0)."""
        return f"{self.from_seq}..{self.to_seq}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReplayState:
    """A device's pending replay gaps, and what it lost for good: messages per reason
    (``unavailable``: the device no longer held them; ``timeout``: no replay by the give-up time)."""

    pending: tuple[ReplayGap, ...] = ()
    lost_messages: Mapping[str, int] = field(default_factory=dict)
    lost_gaps: int = 0
    recovered_gaps: int = 0

    @property
    def lost_total(self) -> int:
        """Messages whose loss is final."""
        return sum(self.lost_messages.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": [gap.as_dict() for gap in self.pending],
            "lost_final": {"messages": self.lost_total, "gaps": self.lost_gaps, **dict(self.lost_messages)},
            "recovered_gaps": self.recovered_gaps,
        }


def spec_differences(registered: DeviceSpec, wanted: DeviceSpec) -> list[str]:
    """``field: old → new`` for each field where ``wanted`` differs from what is registered."""
    return [
        f"{name}: {_show(getattr(registered, name))} → {_show(getattr(wanted, name))}"
        for name in SPEC_FIELDS
        if getattr(registered, name) != getattr(wanted, name)
    ]


def _show(value: object) -> str:
    return "(empty)" if value is None else str(value)
