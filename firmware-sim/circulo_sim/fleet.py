"""The fleet a run simulates: devices with their site parameters, and the co-op's members.

A fleet comes from the registry (:mod:`circulo_sim.sources`), from a plain JSON fleet
spec (benchmarks, bulk mode), or is made up from counts (:func:`synthetic_fleet`).
Everything here is plain data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from circulo_schemas.profiles import CIRCULO, PROFILES
from circulo_sim.errors import ConfigError
from circulo_sim.seeding import stream

KINDS = ("meter", "bin", "repair")
DEFAULT_CENTRE = (52.3676, 4.9041)  # used only when no device of the co-op has a location
SPREAD_KM = 3.0  # how far a device without a location is placed from the co-op's centre
RATED_POWERS_W = (3000, 4000, 5000, 6000, 8000, 10000)


@dataclass(frozen=True)
class DeviceSpec:
    """One device as the registry knows it (location and size may be missing)."""

    device_id: str
    kind: str
    lat: float | None = None
    lon: float | None = None
    rated_power_w: int | None = None
    capacity_kg: float | None = None
    profile: str = CIRCULO  # SPEC §10: which firmware a meter runs


@dataclass(frozen=True)
class Fleet:
    """A co-op's devices and members."""

    coop_id: str
    devices: tuple[DeviceSpec, ...]
    members: tuple[str, ...] = ()

    def of_kind(self, kind: str) -> tuple[DeviceSpec, ...]:
        return tuple(d for d in self.devices if d.kind == kind)

    def counts(self) -> dict[str, int]:
        return {kind: len(self.of_kind(kind)) for kind in KINDS}

    def centre(self) -> tuple[float, float]:
        """Mean position of the devices that have one (the default centre otherwise)."""
        located = [(d.lat, d.lon) for d in self.devices if d.lat is not None and d.lon is not None]
        if not located:
            return DEFAULT_CENTRE
        return (sum(p[0] for p in located) / len(located), sum(p[1] for p in located) / len(located))


def choose(fleet: Fleet, counts: Mapping[str, int | None]) -> Fleet:
    """The first N devices of each kind (by device id); None takes all. Fails when too few."""
    chosen: list[DeviceSpec] = []
    for kind in KINDS:
        available = sorted(fleet.of_kind(kind), key=lambda d: d.device_id)
        wanted = counts.get(kind)
        if wanted is not None and wanted > len(available):
            raise ConfigError(
                f"co-op {fleet.coop_id} has {len(available)} active {kind} device(s), {wanted} requested"
            )
        chosen += available if wanted is None else available[:wanted]
    return replace(fleet, devices=tuple(chosen))


def choose_profiles(fleet: Fleet, wanted: Mapping[str, int]) -> Fleet:
    """Meters by firmware profile: the first N of each profile named (by id), and no other meter."""
    chosen = [d for d in fleet.devices if d.kind != "meter"]
    for profile, count in wanted.items():
        available = sorted(
            (d for d in fleet.of_kind("meter") if d.profile == profile), key=lambda d: d.device_id
        )
        if count > len(available):
            raise ConfigError(
                f"co-op {fleet.coop_id} has {len(available)} active {profile} meter(s), {count} requested"
            )
        chosen += available[:count]
    return replace(fleet, devices=tuple(chosen))


def parse_profile_counts(text: str) -> dict[str, int]:
    """``circulo=3,shelly-gen2=2,tasmota=1`` → how many meters of each profile."""
    counts: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        profile, _, number = part.partition("=")
        if profile not in PROFILES or not number.isdigit():
            raise ConfigError(f"--profiles {part!r}: PROFILE=COUNT with a profile of {', '.join(PROFILES)}")
        counts[profile] = counts.get(profile, 0) + int(number)
    return counts


def locate(fleet: Fleet, seed: int) -> Fleet:
    """Give every device a location and a size: registry values win, the rest from the seed."""
    centre = fleet.centre()
    return replace(fleet, devices=tuple(_completed(d, centre, seed) for d in fleet.devices))


def _completed(device: DeviceSpec, centre: tuple[float, float], seed: int) -> DeviceSpec:
    rng = stream(seed, "placement", device.device_id)
    lat, lon = device.lat, device.lon
    if lat is None or lon is None:
        distance_km, bearing = SPREAD_KM * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        lat = centre[0] + distance_km * math.cos(bearing) / 111.0
        lon = centre[1] + distance_km * math.sin(bearing) / (111.0 * max(0.1, math.cos(math.radians(lat))))
    rated = device.rated_power_w
    if device.kind == "meter" and rated is None:
        rated = int(rng.choice(RATED_POWERS_W))
    return replace(device, lat=round(lat, 6), lon=round(lon, 6), rated_power_w=rated)


def synthetic_fleet(
    coop_id: str,
    *,
    meters: int,
    bins: int,
    repairs: int,
    members: int = 40,
    seed: int = 0,
    centre: tuple[float, float] = DEFAULT_CENTRE,
    profiles: Mapping[str, int] | None = None,
) -> Fleet:
    """A made-up co-op (bulk mode, benchmarks): ids ``{coop}-{kind}-{n}``, members ``member-{n}@{coop}``.

    ``profiles`` (profile → count) makes the meters instead of ``meters``, in that order.
    """
    prefix = coop_id[:40]
    meter_profiles = [p for p, n in (profiles or {CIRCULO: meters}).items() for _ in range(n)]
    devices = [
        DeviceSpec(f"{prefix}-meter-{n:04d}", "meter", profile=profile)
        for n, profile in enumerate(meter_profiles, start=1)
    ] + [
        DeviceSpec(f"{prefix}-{kind}-{n:04d}", kind)
        for kind, count in (("bin", bins), ("repair", repairs))
        for n in range(1, count + 1)
    ]
    accounts = tuple(f"member-{n:03d}@{prefix}" for n in range(1, members + 1))
    rng = stream(seed, "synthetic-centre", coop_id)
    jittered = (centre[0] + rng.uniform(-0.01, 0.01), centre[1] + rng.uniform(-0.01, 0.01))
    located = [_completed(d, jittered, seed) for d in devices]
    return Fleet(coop_id, tuple(located), accounts)


def fleet_to_json(fleet: Fleet) -> dict[str, Any]:
    """The plain fleet spec (``circulo sim fleet`` writes it, ``--fleet`` reads it)."""
    return {
        "coop_id": fleet.coop_id,
        "members": list(fleet.members),
        "devices": [
            {k: v for k, v in vars(d).items() if v is not None and not (k == "profile" and v == CIRCULO)}
            for d in fleet.devices
        ],
    }


def fleet_from_json(document: Mapping[str, Any]) -> Fleet:
    """Read a fleet spec; a clear ConfigError names what is wrong."""
    try:
        devices = tuple(_device_from_json(d) for d in document["devices"])
        return Fleet(str(document["coop_id"]), devices, tuple(str(m) for m in document.get("members", ())))
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"fleet spec: {e}") from e


def _device_from_json(item: Mapping[str, Any]) -> DeviceSpec:
    kind = str(item["kind"])
    if kind not in KINDS:
        raise ValueError(f"device {item.get('device_id')!r}: kind must be one of {', '.join(KINDS)}")
    return DeviceSpec(
        device_id=str(item["device_id"]),
        kind=kind,
        lat=_optional(float, item.get("lat")),
        lon=_optional(float, item.get("lon")),
        rated_power_w=_optional(int, item.get("rated_power_w")),
        capacity_kg=_optional(float, item.get("capacity_kg")),
        profile=_profile(kind, item.get("profile")),
    )


def _profile(kind: str, value: Any) -> str:
    profile = CIRCULO if value is None else str(value)
    if profile not in PROFILES or (profile != CIRCULO and kind != "meter"):
        raise ValueError(f"profile {profile!r}: one of {', '.join(PROFILES)}, and only meters run another")
    return profile


def _optional(convert: Any, value: Any) -> Any:
    return None if value is None else convert(value)
