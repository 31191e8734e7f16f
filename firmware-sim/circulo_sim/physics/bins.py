"""Smart recycling bins: deposits, fill level, weight, collections.

Deposits arrive as a Poisson process whose rate follows local time of day and day of the
week. Each deposit's material is drawn from the site's mix, its weight from per-material
item weights, its account from the co-op's members (each bin has its regulars; some
deposits are anonymous, a few contaminated). Volume (hence ``fill_pct``) and weight rise
with every deposit; a bin is emptied on its weekly round and, when nearly full, by an
extra pickup within working hours. A full bin's flap stays shut.

The contents are a function of absolute time: the simulation of a window starts at the
last weekly round before it (when the bin was empty), so consecutive runs continue each
other.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from circulo_sim.physics.climate import air_temperature_at, from_local, to_local
from circulo_sim.physics.records import BinReading, Collection, Deposit
from circulo_sim.seeding import stream


@dataclass(frozen=True)
class MaterialProfile:
    """How a material arrives: items per deposit, grams per item, bulk density (kg/L)."""

    items_mean: float
    grams_per_item: float
    density_kg_per_l: float


MATERIALS: dict[str, MaterialProfile] = {
    "pet": MaterialProfile(3.0, 28, 0.030),
    "hdpe": MaterialProfile(2.0, 55, 0.050),
    "pp": MaterialProfile(2.0, 35, 0.060),
    "glass": MaterialProfile(2.0, 330, 0.300),
    "aluminium": MaterialProfile(3.0, 15, 0.025),
    "steel": MaterialProfile(2.0, 55, 0.080),
    "paper": MaterialProfile(1.0, 450, 0.120),
    "cardboard": MaterialProfile(1.0, 600, 0.050),
    "textile": MaterialProfile(1.0, 900, 0.150),
    "ewaste": MaterialProfile(1.0, 1200, 0.250),
    "organic": MaterialProfile(1.0, 1500, 0.550),
    "mixed": MaterialProfile(2.0, 120, 0.080),
}


@dataclass(frozen=True)
class BinType:
    """A kind of bin: its material mix, size, weight limit and traffic."""

    mix: tuple[tuple[str, float], ...]
    volume_l: float
    capacity_kg: float
    deposits_per_day: tuple[float, float]
    share: float  # how common this kind of bin is


BIN_TYPES: dict[str, BinType] = {
    "plastics_cans": BinType(
        (("pet", 0.45), ("hdpe", 0.15), ("pp", 0.12), ("aluminium", 0.18), ("steel", 0.10)),
        1100, 80, (40, 120), 0.35,
    ),
    "multi": BinType(
        (("pet", 0.2), ("aluminium", 0.1), ("glass", 0.2), ("paper", 0.15), ("cardboard", 0.15),
         ("hdpe", 0.05), ("steel", 0.05), ("mixed", 0.1)),
        1100, 200, (40, 120), 0.25,
    ),
    "glass": BinType((("glass", 0.97), ("mixed", 0.03)), 2500, 800, (20, 60), 0.15),
    "paper": BinType((("paper", 0.55), ("cardboard", 0.45)), 2500, 300, (20, 60), 0.15),
    "textile": BinType((("textile", 1.0),), 2000, 250, (5, 20), 0.04),
    "ewaste": BinType((("ewaste", 1.0),), 1000, 300, (4, 12), 0.03),
    "organic": BinType((("organic", 1.0),), 240, 150, (15, 40), 0.03),
}  # fmt: skip

# Share of a day's deposits in each local hour (people drop things off on the way to and
# from work), and the weekday factors, Monday first (busy Saturdays, quiet Sundays).
HOURLY_PROFILE = np.array(
    [0.2, 0.1, 0.05, 0.05, 0.05, 0.2, 0.6, 1.5, 2.5, 2.8, 2.6, 2.4,
     2.5, 2.3, 2.0, 2.0, 2.4, 3.0, 3.2, 2.6, 1.8, 1.1, 0.6, 0.3]
)  # fmt: skip
HOURLY_PROFILE = HOURLY_PROFILE / HOURLY_PROFILE.sum()
WEEKDAY_FACTORS = np.array([0.9, 0.9, 0.95, 1.0, 1.1, 1.35, 0.8])
WEEKDAY_FACTORS = WEEKDAY_FACTORS / WEEKDAY_FACTORS.mean()

NEARLY_FULL_PCT = 85.0
NEARLY_FULL_WEIGHT_SHARE = 0.9
WORKDAY_START_H, WORKDAY_END_H = 7, 17  # pickups Monday to Saturday, local time
ONE_HOUR = timedelta(hours=1)
ONE_WEEK = timedelta(weeks=1)
MS_PER_HOUR = 3_600_000


@dataclass(frozen=True)
class BinSite:
    """One bin's fixed parameters (from the registry and the seed)."""

    device_id: str
    lat: float
    lon: float
    bin_type: str
    mix: tuple[tuple[str, float], ...]
    volume_l: float
    capacity_kg: float
    deposits_per_day: float
    telemetry_interval_s: int
    telemetry_offset_s: int
    round_weekday: int  # the weekly collection round, local time
    round_minute: int
    rssi_base_dbm: float
    accounts: tuple[str, ...]
    account_weights: tuple[float, ...]
    anonymous_share: float = 0.15
    contaminated_share: float = 0.03
    collector: str = "collection round"


def bin_site(
    device_id: str,
    lat: float,
    lon: float,
    *,
    capacity_kg: float | None,
    members: Sequence[str],
    seed: int,
) -> BinSite:
    """A bin's type, mix, traffic, telemetry cadence, weekly round and regulars, from the seed."""
    rng = stream(seed, "bin-site", device_id)
    names = list(BIN_TYPES)
    kind = names[int(rng.choice(len(names), p=[BIN_TYPES[n].share for n in names]))]
    template = BIN_TYPES[kind]
    jitter = rng.lognormal(0.0, 0.2, len(template.mix))  # each site's own mix
    raw = np.array([w for _, w in template.mix]) * jitter
    mix = tuple((m, float(w)) for (m, _), w in zip(template.mix, raw / raw.sum(), strict=True))
    accounts = tuple(str(a) for a in rng.permutation(sorted(members))) if members else ()
    # Zipf-like: a bin's first regulars deposit far more often than occasional visitors.
    weights = tuple(float(1.0 / (i + 1) ** 0.8) for i in range(len(accounts)))
    return BinSite(
        device_id=device_id,
        lat=lat,
        lon=lon,
        bin_type=kind,
        mix=mix,
        volume_l=template.volume_l,
        capacity_kg=float(capacity_kg) if capacity_kg else template.capacity_kg,
        deposits_per_day=float(rng.uniform(*template.deposits_per_day)),
        telemetry_interval_s=int(rng.choice([600, 720, 900])),
        telemetry_offset_s=int(rng.integers(0, 60)),
        round_weekday=int(rng.integers(0, 6)),
        round_minute=int(rng.integers(7 * 60, 11 * 60)),
        rssi_base_dbm=float(rng.uniform(-92, -62)),
        accounts=accounts,
        account_weights=weights,
        collector=f"round {int(rng.integers(1, 9))}",
    )


@dataclass
class BinContents:
    """What is in the bin now (mutable while a window is simulated)."""

    weight_g: int = 0
    volume_l: float = 0.0
    pickup_at: datetime | None = None

    def fill_pct(self, site: BinSite) -> float:
        return min(100.0, 100.0 * self.volume_l / site.volume_l)

    def nearly_full(self, site: BinSite) -> bool:
        return (
            self.fill_pct(site) >= NEARLY_FULL_PCT
            or self.weight_g >= NEARLY_FULL_WEIGHT_SHARE * site.capacity_kg * 1000
        )


@dataclass(order=True)
class _Moment:
    ts: datetime
    order: int  # collections before deposits before telemetry at the same instant
    what: str = field(compare=False)
    deposit: Deposit | None = field(default=None, compare=False)


def expected_deposits(site: BinSite, hour: datetime) -> float:
    """Mean number of deposits in the UTC hour starting at ``hour``."""
    local = to_local(hour + ONE_HOUR / 2, site.lon)
    return float(site.deposits_per_day * WEEKDAY_FACTORS[local.weekday()] * HOURLY_PROFILE[local.hour])


def previous_round(site: BinSite, before: datetime) -> datetime:
    """The last weekly collection round strictly before ``before``."""
    local = to_local(before, site.lon)
    candidate = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        minutes=site.round_minute
    )
    candidate -= timedelta(days=(local.weekday() - site.round_weekday) % 7)
    if candidate >= local:
        candidate -= ONE_WEEK
    return from_local(candidate, site.lon)


def next_working_time(site: BinSite, moment: datetime, seed: int) -> datetime:
    """``moment`` if a crew works then, else a time early in the next working day."""
    local = to_local(moment, site.lon)
    if local.weekday() < 6 and WORKDAY_START_H <= local.hour < WORKDAY_END_H:
        return moment
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    day += timedelta(days=1) if local.hour >= WORKDAY_START_H else timedelta()
    while day.weekday() == 6:
        day += timedelta(days=1)
    minutes = int(stream(seed, "pickup-start", site.device_id, day.date()).integers(0, 120))
    return from_local(day + timedelta(hours=WORKDAY_START_H, minutes=minutes), site.lon)


def deposit_event_id(ts: datetime) -> str:
    return "dep-" + _compact_ms(ts)


def collection_event_id(ts: datetime) -> str:
    return "col-" + _compact_ms(ts)


def _compact_ms(ts: datetime) -> str:
    return ts.strftime("%Y%m%dT%H%M%S") + f"{ts.microsecond // 1000:03d}"


def deposits_in_hour(site: BinSite, seed: int, hour: datetime) -> list[Deposit]:
    """The deposits people make in one UTC hour (before the bin decides whether it is full)."""
    rng = stream(seed, "deposits", site.device_id, hour)
    count = int(rng.poisson(expected_deposits(site, hour)))
    offsets = np.sort(rng.choice(MS_PER_HOUR, size=count, replace=False))
    materials = [m for m, _ in site.mix]
    shares = [w for _, w in site.mix]
    return [_deposit(site, rng, hour + timedelta(milliseconds=int(ms)), materials, shares) for ms in offsets]


def _deposit(
    site: BinSite, rng: np.random.Generator, ts: datetime, materials: list[str], shares: list[float]
) -> Deposit:
    material = materials[int(rng.choice(len(materials), p=shares))]
    profile = MATERIALS[material]
    items = 1 + int(rng.poisson(profile.items_mean - 1))
    grams = float(rng.lognormal(math.log(profile.grams_per_item), 0.35, items).sum())
    account = None
    if site.accounts and rng.random() >= site.anonymous_share:
        weights = np.array(site.account_weights)
        account = site.accounts[int(rng.choice(len(site.accounts), p=weights / weights.sum()))]
    return Deposit(
        ts=ts,
        event_id=deposit_event_id(ts),
        material=material,
        weight_g=min(50_000, max(1, round(grams))),
        items=items,
        account=account,
        contaminated=bool(rng.random() < site.contaminated_share),
    )


def telemetry_times(site: BinSite, start: datetime, end: datetime) -> Iterator[datetime]:
    """The bin's telemetry instants in [start, end): a fixed grid in absolute time."""
    interval, offset = site.telemetry_interval_s, site.telemetry_offset_s
    k = math.ceil((start.timestamp() - offset) / interval)
    while True:
        ts = datetime.fromtimestamp(k * interval + offset, UTC)
        if ts >= end:
            return
        yield ts
        k += 1


def bin_records(
    site: BinSite, seed: int, start: datetime, end: datetime | None
) -> Iterator[BinReading | Deposit | Collection]:
    """Everything the bin reports in [start, end), in time order (end None: forever)."""
    anchor = previous_round(site, start)
    contents = BinContents()
    next_round = anchor + ONE_WEEK
    hour = anchor.replace(minute=0, second=0, microsecond=0)
    while end is None or hour < end:
        moments = _hour_moments(site, seed, hour, anchor, contents)
        if next_round < hour + ONE_HOUR:
            moments.append(_Moment(next_round, 0, "collection"))
            next_round += ONE_WEEK
        for record in _play_hour(site, seed, sorted(moments), contents):
            if record.ts >= start and (end is None or record.ts < end):
                yield record
        hour += ONE_HOUR


def _hour_moments(
    site: BinSite, seed: int, hour: datetime, anchor: datetime, contents: BinContents
) -> list[_Moment]:
    moments = [_Moment(d.ts, 1, "deposit", d) for d in deposits_in_hour(site, seed, hour) if d.ts > anchor]
    moments += [_Moment(ts, 2, "telemetry") for ts in telemetry_times(site, hour, hour + ONE_HOUR)]
    if contents.pickup_at is not None and contents.pickup_at < hour + ONE_HOUR:
        moments.append(_Moment(contents.pickup_at, 0, "collection"))
    return moments


def _play_hour(
    site: BinSite, seed: int, moments: list[_Moment], contents: BinContents
) -> Iterator[BinReading | Deposit | Collection]:
    for moment in moments:
        if moment.what == "collection":
            collected = _collect(site, seed, moment.ts, contents)
            if collected is not None:
                yield collected
        elif moment.what == "deposit" and moment.deposit is not None:
            if _accept(site, seed, moment.deposit, contents):
                yield moment.deposit
        else:
            yield _reading(site, seed, moment.ts, contents)


def _accept(site: BinSite, seed: int, deposit: Deposit, contents: BinContents) -> bool:
    """Put a deposit in unless the bin is full; book a pickup when it becomes nearly full."""
    if contents.fill_pct(site) >= 100.0:
        return False
    contents.weight_g += deposit.weight_g
    contents.volume_l += deposit.weight_g / 1000 / MATERIALS[deposit.material].density_kg_per_l
    if contents.pickup_at is None and contents.nearly_full(site):
        delay = timedelta(
            hours=float(stream(seed, "pickup-delay", site.device_id, deposit.ts).uniform(1.5, 6))
        )
        contents.pickup_at = next_working_time(site, deposit.ts + delay, seed)
    return True


def _collect(site: BinSite, seed: int, ts: datetime, contents: BinContents) -> Collection | None:
    """Empty the bin; the crew's scale weighs the contents (±0.4 %)."""
    weight_g = contents.weight_g
    contents.weight_g, contents.volume_l, contents.pickup_at = 0, 0.0, None
    if weight_g == 0:
        return None
    error = float(stream(seed, "scale", site.device_id, ts).normal(0.0, 0.004))
    return Collection(
        ts=ts,
        event_id=collection_event_id(ts),
        weight_g=max(1, round(weight_g * (1 + error))),
        collector=site.collector,
    )


def _reading(site: BinSite, seed: int, ts: datetime, contents: BinContents) -> BinReading:
    rng = stream(seed, "bin-telemetry", site.device_id, ts)
    return BinReading(
        ts=ts,
        fill_pct=round(min(100.0, max(0.0, contents.fill_pct(site) + rng.normal(0.0, 0.7))), 1),
        weight_g=max(0, round(contents.weight_g + rng.normal(0.0, 15.0))),
        temp_c=round(air_temperature_at(site.lat, site.lon, ts) + rng.normal(0.0, 0.3), 1),
        battery_pct=round(min(100.0, max(0.0, _battery_pct(site, ts) + rng.normal(0.0, 0.3))), 1),
        rssi_dbm=round(site.rssi_base_dbm + rng.normal(0.0, 2.5)),
    )


def _battery_pct(site: BinSite, ts: datetime) -> float:
    """A solar-charged battery: charges from 60 % to 95 % by day, drains overnight."""
    local = to_local(ts, site.lon)
    hour = local.hour + local.minute / 60
    if WORKDAY_START_H <= hour < WORKDAY_END_H:
        return 60.0 + 35.0 * (hour - WORKDAY_START_H) / 10
    since_dusk = (hour - WORKDAY_END_H) % 24
    return 95.0 - 35.0 * since_dusk / 14
