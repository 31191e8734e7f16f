"""Factories for the simulator's tests: sites, fleets and windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from circulo_sim.fleet import DeviceSpec, Fleet, locate

MEMBERS = tuple(f"member-{n:02d}@coop1" for n in range(1, 21))
SITES = {
    "amsterdam": (52.37, 4.90),
    "nairobi": (-1.29, 36.82),
    "sydney": (-33.87, 151.21),
    "honolulu": (21.31, -157.86),
    "reykjavik": (64.15, -21.94),
}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def day_window(day: datetime, days: int = 1) -> tuple[datetime, datetime]:
    return day, day + timedelta(days=days)


def small_fleet(
    coop: str = "coop1", *, meters: int = 2, bins: int = 2, repairs: int = 1, seed: int = 7
) -> Fleet:
    """A located co-op fleet with ids m1…, b1…, r1… and twenty members."""
    devices = [DeviceSpec(f"m{n}", "meter", rated_power_w=4000 + 1000 * n) for n in range(1, meters + 1)]
    devices += [DeviceSpec(f"b{n}", "bin") for n in range(1, bins + 1)]
    devices += [DeviceSpec(f"r{n}", "repair") for n in range(1, repairs + 1)]
    return locate(Fleet(coop, tuple(devices), MEMBERS), seed)
