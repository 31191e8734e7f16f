"""Repair stations: repair events in opening hours, with an ORDS category mix.

A station is a repair café, a community workshop or a repair shop, each with its weekly
opening hours (local time). Items arrive as a Poisson process while it is open; each has
an Open Repair Data Standard product category (a mix modelled on the Open Repair
Alliance's published data: small kitchen items, lamps, audio and computing lead), a
weight around the category's reference weight, an age, and an outcome (fixed, repairable,
end of life) whose odds depend on the category. Owners are co-op members or walk-ins;
repairers are the station's volunteers. Some items come with a known brand and year of
manufacture, and an end-of-life item usually with the ORDS repair barrier that stopped it
(drawn from their own random stream, so they change nothing else a seed produces).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from circulo_schemas.repair_categories import CATEGORIES, category
from circulo_sim.physics.climate import to_local
from circulo_sim.physics.records import Repair
from circulo_sim.seeding import stream

ONE_HOUR = timedelta(hours=1)
MS_PER_HOUR = 3_600_000

# Relative frequency of each ORDS category at a typical station.
CATEGORY_MIX: dict[str, float] = {
    "Small kitchen item": 9, "Lamp": 8, "Misc": 7, "Laptop": 6, "Mobile": 6, "Hi-Fi separates": 5,
    "Portable radio": 5, "Vacuum": 5, "Small home electrical": 5, "Kettle": 4, "Toaster": 4,
    "Coffee maker": 4, "Power tool": 3, "Hair & beauty item": 3, "Decorative or safety lights": 3,
    "Toy": 3, "Printer/scanner": 3, "Flat screen": 3, "Headphones": 3, "Battery/charger/adapter": 3,
    "Hair dryer": 2, "Desktop computer": 2, "Tablet": 2, "PC accessory": 2, "Fan": 2, "Iron": 2,
    "Sewing machine": 2, "Hi-Fi integrated": 2, "Food processor": 2, "Watch/clock": 2,
    "TV and gaming-related accessories": 2, "Games console": 1, "Digital compact camera": 1,
    "DSLR/video camera": 1, "Handheld entertainment device": 1, "Musical instrument": 1,
    "Projector": 1, "Paper shredder": 1, "Large home electrical": 1, "Aircon/dehumidifier": 1,
}  # fmt: skip

OUTCOMES = ("fixed", "repairable", "end_of_life")
DEFAULT_OUTCOME_SHARES = (0.52, 0.16, 0.32)
EASY_OUTCOME_SHARES = (0.63, 0.12, 0.25)  # simple mechanics and wiring
HARD_OUTCOME_SHARES = (0.40, 0.25, 0.35)  # glued devices, scarce parts
EASY = frozenset({
    "Lamp", "Decorative or safety lights", "Toy", "Watch/clock", "Sewing machine", "Kettle",
    "Hi-Fi separates", "Portable radio", "Musical instrument", "Fan",
})  # fmt: skip
HARD = frozenset({
    "Mobile", "Tablet", "Laptop", "Flat screen", "Printer/scanner", "Games console",
    "Desktop computer", "Digital compact camera", "Handheld entertainment device",
})  # fmt: skip
AGE_MEDIAN_YEARS = {"Mobile": 4, "Tablet": 5, "Laptop": 6, "Hi-Fi separates": 22, "Hi-Fi integrated": 18,
                    "Sewing machine": 25, "Musical instrument": 20}  # fmt: skip
PROBLEMS = (
    "does not switch on", "stopped working suddenly", "intermittent fault", "loose connection",
    "broken switch", "blown fuse", "frayed power cable", "makes a loud noise", "overheats",
    "broken hinge", "cracked casing", "battery does not charge", "no sound", "display flickers",
    "button stuck", "motor runs but nothing turns", "leaks water", "smells of burning",
)  # fmt: skip
MISC_MEDIAN_G = 1500  # "Misc" has no reference weight

# Brands seen at repair events, per category (others: GENERIC_BRANDS). Modelled, not measured.
BRANDS: dict[str, tuple[str, ...]] = {
    "Mobile": ("Samsung", "Apple", "Motorola", "Nokia", "Fairphone"),
    "Tablet": ("Apple", "Samsung", "Amazon", "Lenovo"),
    "Laptop": ("Lenovo", "HP", "Dell", "Apple", "Acer", "Asus"),
    "Desktop computer": ("Dell", "HP", "Lenovo", "Acer"),
    "Flat screen": ("Samsung", "LG", "Philips", "Sony"),
    "Printer/scanner": ("HP", "Canon", "Epson", "Brother"),
    "Kettle": ("Russell Hobbs", "Breville", "Morphy Richards", "Bosch"),
    "Toaster": ("Dualit", "Russell Hobbs", "Breville", "Kenwood"),
    "Coffee maker": ("De'Longhi", "Krups", "Philips", "Melitta", "Nespresso"),
    "Small kitchen item": ("Kenwood", "Moulinex", "Tefal", "Panasonic"),
    "Food processor": ("Kenwood", "Magimix", "Braun", "Bosch"),
    "Vacuum": ("Dyson", "Miele", "Hoover", "Vax", "Henry"),
    "Hair dryer": ("Philips", "Babyliss", "Remington", "Braun"),
    "Hair & beauty item": ("Philips", "Braun", "Remington", "Oral-B"),
    "Hi-Fi separates": ("Technics", "Denon", "Marantz", "Sony", "Yamaha"),
    "Hi-Fi integrated": ("Sony", "Panasonic", "Philips", "JVC"),
    "Portable radio": ("Roberts", "Sony", "Grundig", "Philips"),
    "Headphones": ("Sony", "Sennheiser", "Bose", "JBL"),
    "Power tool": ("Bosch", "Makita", "Black+Decker", "DeWalt"),
    "Sewing machine": ("Singer", "Brother", "Janome", "Bernina"),
    "Games console": ("Sony", "Nintendo", "Microsoft"),
    "Iron": ("Philips", "Tefal", "Morphy Richards"),
}
GENERIC_BRANDS = ("Philips", "Bosch", "Panasonic", "Sony", "Ikea", "Tesco")
BRAND_KNOWN_SHARE = 0.6  # how often a repairer records the brand
YEAR_KNOWN_SHARE = 0.3  # and the year of manufacture (the age is always estimated)
BARRIER_KNOWN_SHARE = 0.8  # how often an end-of-life item gets its barrier recorded
# ORDS repair barriers and how often each stops an item: glued devices rarely open, old
# ones wear out, spare parts are the commonest reason overall.
BARRIER_WEIGHTS: dict[str, float] = {
    "spare_parts_not_available": 0.30,
    "spare_parts_too_expensive": 0.15,
    "no_way_to_open": 0.10,
    "repair_information_not_available": 0.12,
    "lack_of_equipment": 0.08,
    "too_worn_out": 0.25,
}
HARD_BARRIER_WEIGHTS = {**BARRIER_WEIGHTS, "no_way_to_open": 0.30, "too_worn_out": 0.10}
OLD_ITEM_YEARS = 20
OLD_BARRIER_WEIGHTS = {**BARRIER_WEIGHTS, "too_worn_out": 0.45, "spare_parts_not_available": 0.40}


@dataclass(frozen=True)
class StationType:
    """A kind of repair station: weekly opening hours (weekday, open, close in local minutes)."""

    hours: tuple[tuple[int, int, int], ...]
    repairs_per_hour: tuple[float, float]


STATION_TYPES: dict[str, StationType] = {
    "repair_cafe": StationType(((5, 600, 960), (2, 1080, 1260)), (4.0, 8.0)),
    "workshop": StationType(((1, 840, 1080), (3, 840, 1080), (5, 600, 840)), (2.0, 4.0)),
    "shop": StationType((*((d, 540, 1050) for d in range(5)), (5, 600, 840)), (1.0, 2.5)),
}


@dataclass(frozen=True)
class RepairSite:
    """One station's fixed parameters (from the registry and the seed)."""

    device_id: str
    lon: float
    station_type: str
    hours: tuple[tuple[int, int, int], ...]
    repairs_per_hour: float
    volunteers: tuple[str, ...]
    members: tuple[str, ...]
    owner_member_share: float = 0.65


def repair_site(device_id: str, lon: float, members: Sequence[str], seed: int) -> RepairSite:
    """A station's type, opening hours, pace and volunteers, from the seed."""
    rng = stream(seed, "repair-site", device_id)
    names = list(STATION_TYPES)
    kind = names[int(rng.integers(len(names)))]
    template = STATION_TYPES[kind]
    ordered = tuple(sorted(members))
    volunteers = tuple(str(v) for v in rng.permutation(ordered)[: int(rng.integers(2, 7))]) if ordered else ()
    return RepairSite(
        device_id=device_id,
        lon=lon,
        station_type=kind,
        hours=template.hours,
        repairs_per_hour=float(rng.uniform(*template.repairs_per_hour)),
        volunteers=volunteers,
        members=ordered,
    )


def open_minutes(site: RepairSite, hour: datetime) -> list[tuple[int, int]]:
    """The parts of a UTC hour (minute offsets ``[a, b)``) when the station is open."""
    local = to_local(hour, site.lon)
    first = local.hour * 60 + local.minute
    parts = []
    for weekday, opens, closes in site.hours:
        for day_shift in (0, 1):  # an hour may cross local midnight
            if (local.weekday() + day_shift) % 7 != weekday:
                continue
            a = max(first, opens + day_shift * 1440)
            b = min(first + 60, closes + day_shift * 1440)
            if a < b:
                parts.append((a - first, b - first))
    return parts


def expected_repairs(site: RepairSite, hour: datetime) -> float:
    """Mean number of repair events in the UTC hour starting at ``hour``."""
    return site.repairs_per_hour * sum(b - a for a, b in open_minutes(site, hour)) / 60


def repair_records(site: RepairSite, seed: int, start: datetime, end: datetime | None) -> Iterator[Repair]:
    """The station's repair events in [start, end), in time order (end None: forever)."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    while end is None or hour < end:
        for repair in repairs_in_hour(site, seed, hour):
            if repair.ts >= start and (end is None or repair.ts < end):
                yield repair
        hour += ONE_HOUR


def repairs_in_hour(site: RepairSite, seed: int, hour: datetime) -> list[Repair]:
    parts = open_minutes(site, hour)
    if not parts:
        return []
    rng = stream(seed, "repairs", site.device_id, hour)
    count = int(rng.poisson(expected_repairs(site, hour)))
    open_ms = sum(b - a for a, b in parts) * 60_000
    picks = np.sort(rng.choice(open_ms, size=count, replace=False))
    repairs = [
        _repair(site, rng, hour + timedelta(milliseconds=_open_offset_ms(parts, int(p)))) for p in picks
    ]
    return [with_item_details(r, stream(seed, "repair-details", site.device_id, r.ts)) for r in repairs]


def _open_offset_ms(parts: list[tuple[int, int]], pick: int) -> int:
    """The ``pick``-th millisecond of the open parts, as an offset into the hour."""
    for a, b in parts:
        length = (b - a) * 60_000
        if pick < length:
            return a * 60_000 + pick
        pick -= length
    raise ValueError("pick beyond the open time")


_NAMES = tuple(name for name in CATEGORY_MIX if name in CATEGORIES)
_SHARES = np.array([CATEGORY_MIX[n] for n in _NAMES]) / sum(CATEGORY_MIX[n] for n in _NAMES)


def _repair(site: RepairSite, rng: np.random.Generator, ts: datetime) -> Repair:
    name = _NAMES[int(rng.choice(len(_NAMES), p=_SHARES))]
    shares = (
        EASY_OUTCOME_SHARES
        if name in EASY
        else HARD_OUTCOME_SHARES
        if name in HARD
        else DEFAULT_OUTCOME_SHARES
    )
    owner = None
    if site.members and rng.random() < site.owner_member_share:
        owner = site.members[int(rng.integers(len(site.members)))]
    repairer = None
    if site.volunteers and rng.random() < 0.9:
        repairer = site.volunteers[int(rng.integers(len(site.volunteers)))]
    age = rng.lognormal(math.log(AGE_MEDIAN_YEARS.get(name, 8)), 0.5)
    return Repair(
        ts=ts,
        event_id="rep-" + ts.strftime("%Y%m%dT%H%M%S") + f"{ts.microsecond // 1000:03d}",
        category=name,
        status=OUTCOMES[int(rng.choice(3, p=shares))],
        weight_g=item_weight_g(name, rng),
        owner=owner,
        repairer=repairer,
        age_years=round(float(min(60.0, max(0.1, age))), 1),
        problem=PROBLEMS[int(rng.integers(len(PROBLEMS)))],
    )


def item_weight_g(name: str, rng: np.random.Generator) -> int:
    """An item's weight: around its category's reference weight, never absurd."""
    reference = category(name).reference_weight_g
    if reference == 0:
        return int(min(25_000, max(100, rng.lognormal(math.log(MISC_MEDIAN_G), 0.8))))
    factor = min(2.5, max(0.4, float(rng.lognormal(0.0, 0.25))))
    return max(1, round(reference * factor))


def with_item_details(repair: Repair, rng: np.random.Generator) -> Repair:
    """The repair with a brand and year of manufacture when known, and a barrier at end of life."""
    brand = year = barrier = None
    if rng.random() < BRAND_KNOWN_SHARE:
        brands = BRANDS.get(repair.category, GENERIC_BRANDS)
        brand = brands[int(rng.integers(len(brands)))]
    if rng.random() < YEAR_KNOWN_SHARE:
        year = repair.ts.year - round(repair.age_years)
    if repair.status == "end_of_life" and rng.random() < BARRIER_KNOWN_SHARE:
        barrier = repair_barrier(repair, rng)
    return replace(repair, brand=brand, year_of_manufacture=year, barrier=barrier)


def repair_barrier(repair: Repair, rng: np.random.Generator) -> str:
    """The ORDS barrier that stopped an end-of-life item: its odds depend on the item."""
    weights = (
        HARD_BARRIER_WEIGHTS
        if repair.category in HARD
        else OLD_BARRIER_WEIGHTS
        if repair.age_years >= OLD_ITEM_YEARS
        else BARRIER_WEIGHTS
    )
    names = list(weights)
    shares = np.array([weights[n] for n in names]) / sum(weights.values())
    return names[int(rng.choice(len(names), p=shares))]
