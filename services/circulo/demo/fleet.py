"""The demo co-op's fleet as an installer's site survey (pure): ids, places, ratings, profiles.

The survey goes through the registry's real import (``circulo device import --bundle-dir``),
so every device gets its own broker client and a provisioning bundle, as in the field.
"""

from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import dataclass

from circulo.demo.options import FleetSize
from circulo.registry.model import SPEC_FIELDS as SURVEY_COLUMNS  # the installer's CSV columns

CENTRE = (52.0907, 5.1214)  # a town in the Netherlands: latitude, longitude
SPREAD_KM = 2.5
RATED_POWERS_W = (3000, 4000, 5000, 6000, 8000)
BIN_CAPACITIES_KG = ("120", "240", "360")
INSTALLER = "demo-installer"


@dataclass(frozen=True)
class SurveyDevice:
    """One row of the survey."""

    kind: str
    device_id: str
    coop_id: str
    lat: float
    lon: float
    location_name: str
    rated_power_w: int | None = None
    capacity_kg: str | None = None
    profile: str = "circulo"

    def cells(self) -> list[str]:
        values = (
            self.kind,
            self.device_id,
            self.coop_id,
            f"{self.lat:.6f}",
            f"{self.lon:.6f}",
            self.location_name,
            self.rated_power_w,
            self.capacity_kg,
            INSTALLER,
            "circulo demo",
            self.profile,
        )
        return ["" if v is None else str(v) for v in values]


def device_id(coop_id: str, kind: str, number: int) -> str:
    return f"{coop_id}-{kind}-{number:03d}"


def place(rng: random.Random) -> tuple[float, float]:
    """A point within SPREAD_KM of the centre, uniform over the disc."""
    distance_km, bearing = SPREAD_KM * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    lat = CENTRE[0] + distance_km * math.cos(bearing) / 111.0
    lon = CENTRE[1] + distance_km * math.sin(bearing) / (111.0 * math.cos(math.radians(CENTRE[0])))
    return round(lat, 6), round(lon, 6)


def survey_devices(coop_id: str, size: FleetSize, seed: int) -> list[SurveyDevice]:
    """The demo fleet: meters on roofs, bins at drop-off points, repair stations at cafés."""
    rng = random.Random(seed)
    devices: list[SurveyDevice] = []
    profiles = [p for p, count in size.profiled.items() for _ in range(count)]
    for n in range(1, size.meters + 1):
        lat, lon = place(rng)
        rated = rng.choice(RATED_POWERS_W)
        devices.append(
            SurveyDevice(
                "meter",
                device_id(coop_id, "meter", n),
                coop_id,
                lat,
                lon,
                f"rooftop array {n}",
                rated_power_w=rated,
                profile=profiles[n - 1] if n <= len(profiles) else "circulo",
            )
        )
    for n in range(1, size.bins + 1):
        lat, lon = place(rng)
        capacity = rng.choice(BIN_CAPACITIES_KG)
        devices.append(
            SurveyDevice(
                "bin",
                device_id(coop_id, "bin", n),
                coop_id,
                lat,
                lon,
                f"drop-off point {n}",
                capacity_kg=capacity,
            )
        )
    for n in range(1, size.repairs + 1):
        lat, lon = place(rng)
        devices.append(
            SurveyDevice("repair", device_id(coop_id, "repair", n), coop_id, lat, lon, f"repair café {n}")
        )
    return devices


def survey_csv(devices: list[SurveyDevice]) -> str:
    """The survey file (header plus one row per device)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SURVEY_COLUMNS)
    writer.writerows(d.cells() for d in devices)
    return out.getvalue()
