"""The ledger forms of certificates (pure): what an issuance and an action write (SPEC §12, §13).

Issuance is part of a green settlement's ``certificate.issue`` record of ``treasury@{coop}``:
its ``sources`` are the production header, the evidence the header's digest binds, then one
``certificates`` object (:func:`certificates_source`) — beside the evidence, not inside the
digest: the digest binds what GRN pays for, the bundles are what was certified of it, and the
record's own hash and signature bind both. Each action is one ``record`` entry,
``certificate.transfer|cancel|claim|withdraw``, whose one source is a ``certificate_action``
object (:func:`action_source`) naming the exact id ranges it acts on; its settlement id is
``certificate-{action}:{SHA-256 of the JCS of that object}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from circulo.certificates.errors import InvalidAction
from circulo.certificates.hours import HOUR, Production, Span
from circulo.certificates.ids import IdRange, Take, allocate
from circulo.ledger.entries import NewEntry, fast_canonical_json, format_ts, sha256_hex

Action = Literal["transfer", "cancel", "claim", "withdraw"]
ACTIONS: tuple[Action, ...] = ("transfer", "cancel", "claim", "withdraw")
Status = Literal["active", "cancelled", "claimed", "withdrawn"]
ISSUE_REASON = "certificate.issue"
CERTIFICATES = "certificates"
ACTION_SOURCE = "certificate_action"
FACE_VALUE_WH = 1
ENERGY_CARRIER = "electricity"
# The rules certificates follow are the ledger's and the registry's, not a rewards policy's.
CERTIFICATES_POLICY = "certificates-v1"
DEFAULT_EXPIRY_DAYS = 730  # the reference registry's CERTIFICATE_EXPIRY_YEARS = 2


def action_reason(action: str) -> str:
    """``certificate.{action}``."""
    return f"certificate.{action}"


@dataclass(frozen=True)
class Issuer:
    """A co-op's issuer attributes (GC Registry API v2 IssuanceMetaData) and certificate rules."""

    coop_id: str
    issuing_body: str
    country_of_issuance: str
    connected_grid_identification: str
    issue_market_zone: str
    energy_source: str = "solar_pv"
    expiry_days: int = DEFAULT_EXPIRY_DAYS

    def metadata(self) -> dict[str, str]:
        """The four attributes every bundle of this issuer carries."""
        return {
            "issuing_body": self.issuing_body,
            "country_of_issuance": self.country_of_issuance,
            "connected_grid_identification": self.connected_grid_identification,
            "issue_market_zone": self.issue_market_zone,
        }


def default_issuer(coop_id: str) -> Issuer:
    """What a co-op that configured nothing issues under: itself, location unspecified."""
    return Issuer(coop_id, f"Circulo co-op {coop_id}", "unspecified", "unspecified", "unspecified")


@dataclass(frozen=True)
class DeviceFacts:
    """A meter as its bundles describe it: rated power (W) and where it is."""

    device_id: str
    capacity_w: int | None
    location: str | None
    location_name: str | None

    def source(self) -> dict[str, Any]:
        """The device in the ``certificates`` object."""
        return {
            "device_id": self.device_id,
            "capacity_w": self.capacity_w,
            "location": self.location,
            "location_name": self.location_name,
        }


def gps_text(lat: float | None, lon: float | None) -> str | None:
    """``"52.370000,4.890000"`` (no floats in a ledger entry), or None without a position."""
    if lat is None or lon is None:
        return None
    return f"{lat:.6f},{lon:.6f}"


@dataclass(frozen=True)
class IssuedBundle:
    """One bundle a settlement issues: its ids, meter, production hour and holder."""

    ids: IdRange
    device_id: str
    hour: datetime
    holder: str

    def source(self) -> dict[str, Any]:
        """The bundle in the ``certificates`` object."""
        return {
            "range_start": self.ids.start,
            "range_end": self.ids.end,
            "wh": self.ids.quantity,
            "device_id": self.device_id,
            "hour": format_ts(self.hour),
            "holder": self.holder,
        }


@dataclass(frozen=True)
class Issuance:
    """What a settlement's certificates need from the registry: the co-op's issuer, the first
    id allocated to it, each assigned meter's holder (the others': the treasury), the meters."""

    issuer: Issuer
    first_id: int
    holders: Mapping[str, str]
    devices: Mapping[str, DeviceFacts]


def issue_bundles(
    produced: Production, first_id: int, holders: Mapping[str, str], treasury: str
) -> tuple[IssuedBundle, ...]:
    """One bundle per meter and hour of ``produced``, ids contiguous from ``first_id`` in
    (meter, hour) order; each held by the meter's assigned holder, else the treasury."""
    keys = sorted(produced.by_hour)
    ranges = allocate(first_id, [produced.by_hour[key] for key in keys])
    return tuple(
        IssuedBundle(ids, device, hour, holders.get(device, treasury))
        for ids, (device, hour) in zip(ranges, keys, strict=True)
    )


def expiry(hour: datetime, expiry_days: int) -> datetime:
    """When a bundle produced in ``hour`` expires: ``expiry_days`` after its production hour."""
    return hour + timedelta(days=expiry_days)


def span_source(span: Span, *, certified: bool) -> dict[str, Any]:
    """A span in the ``certificates`` object (certified ones with their parts per hour)."""
    source: dict[str, Any] = {
        "device_id": span.device_id,
        "from_ts": format_ts(span.from_ts),
        "from_wh": span.from_wh,
        "to_ts": format_ts(span.to_ts),
        "to_wh": span.to_wh,
    }
    if certified:
        source["parts"] = [{"hour": format_ts(hour), "wh": wh} for hour, wh in span.parts()]
    return source


def certificates_source(
    issuer: Issuer,
    bundles: Sequence[IssuedBundle],
    devices: Mapping[str, DeviceFacts],
    produced: Production,
    spans: Sequence[Span],
) -> dict[str, Any]:
    """The ``certificates`` object of a ``certificate.issue`` record (docs/ledger.md)."""
    used = sorted({b.device_id for b in bundles})
    return {
        "type": CERTIFICATES,
        "issuer": issuer.metadata(),
        "energy_carrier": ENERGY_CARRIER,
        "energy_source": issuer.energy_source,
        "face_value_wh": FACE_VALUE_WH,
        "expiry_days": issuer.expiry_days,
        "certified_wh": produced.certified_wh,
        "uncertified_wh": produced.uncertified_wh,
        "bundles": [b.source() for b in bundles],
        "devices": [devices.get(d, DeviceFacts(d, None, None, None)).source() for d in used],
        "spans": [span_source(s, certified=True) for s in spans if s.certified],
        "uncertified": [span_source(s, certified=False) for s in produced.uncertified],
    }


def issuance_id(device_id: str, hour: datetime) -> str:
    """``{device_id}-{hour}``: the reference's issuance id (device, production start), in the
    entry timestamp form; it stays the same across the parts of a split bundle."""
    return f"{device_id}-{format_ts(hour)}"


def issuance_hash(coop_id: str, bundle: IssuedBundle, issuer: Issuer) -> str:
    """SHA-256 of the JCS of a bundle's immutable issuance facts (the same for its parts)."""
    return sha256_hex(
        fast_canonical_json(
            {
                "coop_id": coop_id,
                "issuance_id": issuance_id(bundle.device_id, bundle.hour),
                "range_start": bundle.ids.start,
                "range_end": bundle.ids.end,
                "production_start": format_ts(bundle.hour),
                "production_end": format_ts(bundle.hour + HOUR),
                "expiry": format_ts(expiry(bundle.hour, issuer.expiry_days)),
                "energy_carrier": ENERGY_CARRIER,
                "energy_source": issuer.energy_source,
                "face_value_wh": FACE_VALUE_WH,
                **issuer.metadata(),
            }
        )
    )


# --- actions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A reporting period ``[start, end)`` (UTC) that a cancellation or claim is for."""

    start: datetime
    end: datetime

    def covers(self, hour: datetime) -> bool:
        """Whether the production hour lies wholly inside the period."""
        return self.start <= hour and hour + HOUR <= self.end

    def source(self) -> dict[str, str]:
        """The period in an action's source."""
        return {"start": format_ts(self.start), "end": format_ts(self.end)}


def parse_period(text: str) -> Period:
    """A reporting period from ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or ``FROM..TO`` (days, TO
    included), all UTC."""
    first, sep, last = text.partition("..")
    try:
        if sep:
            return Period(day_start(first), day_start(last) + timedelta(days=1))
        start = day_start(text) if len(text) == 10 else month_or_year_start(text)
    except ValueError as e:
        raise InvalidAction(
            f"--period {text!r}: use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD"
        ) from e
    return Period(start, next_period(text, start))


def day_start(text: str) -> datetime:
    """Midnight UTC of a ``YYYY-MM-DD`` day."""
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)


def month_or_year_start(text: str) -> datetime:
    """The first instant of a ``YYYY-MM`` month or a ``YYYY`` year, UTC."""
    form = "%Y-%m" if len(text) == 7 else "%Y"
    if len(text) not in (4, 7):
        raise ValueError(text)
    return datetime.strptime(text, form).replace(tzinfo=UTC)


def next_period(text: str, start: datetime) -> datetime:
    """The end of the day, month or year ``text`` names."""
    if len(text) == 10:
        return start + timedelta(days=1)
    if len(text) == 4:
        return start.replace(year=start.year + 1)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


@dataclass(frozen=True)
class ActedRange:
    """One id range an action acts on, as its record names it (and the state it found)."""

    ids: IdRange
    device_id: str
    hour: datetime
    holder: str
    status: Status

    def source(self) -> dict[str, Any]:
        """The range in the action's source."""
        return {
            "range_start": self.ids.start,
            "range_end": self.ids.end,
            "wh": self.ids.quantity,
            "device_id": self.device_id,
            "hour": format_ts(self.hour),
            "holder": self.holder,
            "status": self.status,
        }


@dataclass(frozen=True)
class ActionFacts:
    """What an action does besides its ranges: who for, to whom, why, when in the ledger."""

    action: Action
    coop_id: str
    account: str
    after_seq: int
    operator: str
    to: str | None = None
    beneficiary: str | None = None
    period: Period | None = None
    why: str | None = None
    corrects_seq: int | None = None


def action_source(facts: ActionFacts, ranges: Sequence[ActedRange]) -> dict[str, Any]:
    """The ``certificate_action`` object: the action, its ranges and their total Wh."""
    source: dict[str, Any] = {
        "type": ACTION_SOURCE,
        "action": facts.action,
        "coop_id": facts.coop_id,
        "account": facts.account,
        "ranges": [r.source() for r in ranges],
        "wh": sum(r.ids.quantity for r in ranges),
        "after_seq": facts.after_seq,
        "operator": facts.operator,
    }
    optional = {
        "to": facts.to,
        "beneficiary": facts.beneficiary,
        "reporting_period": facts.period.source() if facts.period else None,
        "why": facts.why,
        "corrects_seq": facts.corrects_seq,
    }
    source.update({name: value for name, value in optional.items() if value is not None})
    return source


def action_settlement_id(action: str, source: Mapping[str, Any]) -> str:
    """``certificate-{action}:{SHA-256 hex of JCS(source)}``: unique, since the source names
    the ledger head it was written after."""
    return f"certificate-{action}:{sha256_hex(fast_canonical_json(dict(source)))}"


def action_entry(facts: ActionFacts, ranges: Sequence[ActedRange]) -> NewEntry:
    """The record entry of an action."""
    source = action_source(facts, ranges)
    return NewEntry(
        kind="record",
        token=None,
        account=facts.account,
        amount_micro=0,
        reason=action_reason(facts.action),
        settlement_id=action_settlement_id(facts.action, source),
        sources=(source,),
        policy=CERTIFICATES_POLICY,
    )


def acted_ranges(takes: Sequence[Take], found: Sequence[ActedRange]) -> tuple[ActedRange, ...]:
    """The ranges the takes act on, each with its bundle's meter, hour, holder and status."""
    by_start = {r.ids.start: r for r in found}
    return tuple(
        ActedRange(t.taken, by_start[t.bundle.start].device_id, by_start[t.bundle.start].hour,
                   by_start[t.bundle.start].holder, by_start[t.bundle.start].status)
        for t in takes
    )  # fmt: skip
