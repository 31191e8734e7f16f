"""A settlement's production per meter and UTC hour (pure): what its certificate bundles hold.

GRN attributes a pair to its later reading's hour (SPEC §4); a certificate must say when the
energy was produced (EnergyTag: a production interval of at most one hour). A credited pair
inside one hour — its earlier reading at or after the hour's start — belongs to that hour. A
credited pair whose earlier reading lies before its hour (a *span*) is shared among the hours
its interval overlaps in proportion to time, each part floored, the remainder in the last
hour; a span longer than :data:`MAX_SPAN` is not certified at all (flag ``uncertified_span``):
its energy still earns GRN, but no one can say in which hour it was produced. A pair ending
exactly on the hour was produced before it: its energy belongs to the earlier hour.

Per settlement, certified Wh + uncertified Wh = credited Wh, exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
MAX_SPAN = timedelta(hours=2)
MICROSECOND = timedelta(microseconds=1)

MeterHourKey = tuple[str, datetime]  # (device_id, UTC hour)


def hour_start(ts: datetime) -> datetime:
    """The UTC hour ``ts`` lies in."""
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Span:
    """A credited pair whose interval crosses the start of the hour GRN attributes it to."""

    device_id: str
    from_ts: datetime
    from_wh: int
    to_ts: datetime
    to_wh: int

    @property
    def wh(self) -> int:
        """The energy the pair credited."""
        return self.to_wh - self.from_wh

    @property
    def credited_in(self) -> MeterHourKey:
        """The meter-hour GRN credits it in (its later reading's hour)."""
        return (self.device_id, hour_start(self.to_ts))

    @property
    def certified(self) -> bool:
        """Whether its energy can be placed in hours: no longer than :data:`MAX_SPAN`."""
        return self.to_ts - self.from_ts <= MAX_SPAN

    def parts(self) -> tuple[tuple[datetime, int], ...]:
        """Its Wh per production hour (see :func:`split_by_time`)."""
        return split_by_time(self.from_ts, self.to_ts, self.wh)


def overlaps(start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """Each UTC hour the interval (start, end] overlaps, with the overlap in microseconds (> 0)."""
    found = []
    hour = hour_start(start)
    while hour < end:
        overlap = min(end, hour + HOUR) - max(start, hour)
        if overlap > timedelta(0):
            found.append((hour, overlap // MICROSECOND))
        hour += HOUR
    return found


def split_by_time(start: datetime, end: datetime, wh: int) -> tuple[tuple[datetime, int], ...]:
    """``wh`` produced over (start, end] shared among its hours in proportion to time.

    Every hour but the last gets ``floor(wh × overlap / length)``; the last gets the rest, so
    the parts add up to ``wh`` exactly. ``end`` must be after ``start`` and ``wh`` ≥ 0.
    """
    if end <= start or wh < 0:
        raise ValueError(f"cannot split {wh} Wh over ({start.isoformat()}, {end.isoformat()}]")
    hours = overlaps(start, end)
    length = sum(overlap for _hour, overlap in hours)
    parts = [(hour, wh * overlap // length) for hour, overlap in hours[:-1]]
    return (*parts, (hours[-1][0], wh - sum(part for _hour, part in parts)))


@dataclass(frozen=True)
class Production:
    """A settlement's Wh per meter and production hour, and the spans it could not certify."""

    by_hour: Mapping[MeterHourKey, int]
    uncertified: tuple[Span, ...]

    @property
    def certified_wh(self) -> int:
        """What its bundles hold together."""
        return sum(self.by_hour.values())

    @property
    def uncertified_wh(self) -> int:
        """Credited energy no bundle holds (spans longer than :data:`MAX_SPAN`)."""
        return sum(span.wh for span in self.uncertified)


def production(credited: Mapping[MeterHourKey, int], spans: Iterable[Span]) -> Production:
    """Production per meter-hour from the settlement's credited Wh per meter-hour and its spans.

    ``credited`` is what GRN credits per (meter, hour of the later reading); ``spans`` are the
    credited pairs among them that began before their hour. Hours with no Wh are left out.
    """
    by_hour: dict[MeterHourKey, int] = dict(credited)
    uncertified = []
    for span in spans:
        key = span.credited_in
        if by_hour.get(key, 0) < span.wh:
            raise ValueError(f"span {span} is more than {key} credited")
        by_hour[key] -= span.wh
        if not span.certified:
            uncertified.append(span)
            continue
        for hour, wh in span.parts():
            by_hour[(span.device_id, hour)] = by_hour.get((span.device_id, hour), 0) + wh
    kept = {key: wh for key, wh in sorted(by_hour.items()) if wh > 0}
    return Production(kept, tuple(uncertified))
