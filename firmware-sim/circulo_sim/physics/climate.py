"""Local solar time and a smooth air-temperature climatology (no randomness).

Opening hours, deposit peaks and collection rounds follow local time. Without a time-zone
database lookup per site, local time here is *solar* time: UTC shifted by the longitude
(4 minutes per degree), within about an hour of civil time almost everywhere.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

SECONDS_PER_DAY = 86_400
DAYS_PER_YEAR = 365.2422
_EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)


def solar_offset(lon: float) -> timedelta:
    """How far local solar time is ahead of UTC at longitude ``lon``."""
    return timedelta(minutes=round(lon * 4))


def to_local(moment: datetime, lon: float) -> datetime:
    """``moment`` as a naive local-solar-time datetime (for weekday and hour arithmetic)."""
    return (moment.astimezone(UTC) + solar_offset(lon)).replace(tzinfo=None)


def from_local(local: datetime, lon: float) -> datetime:
    """The UTC instant of a naive local-solar-time datetime."""
    return (local - solar_offset(lon)).replace(tzinfo=UTC)


def air_temperature_c(lat: float, lon: float, epoch_s: np.ndarray) -> np.ndarray:
    """Typical air temperature (°C) at the site for UNIX times ``epoch_s`` (vectorised).

    Annual mean falls with latitude, the seasonal swing grows with it (peak in late July
    north of the equator, late January south of it), and days peak mid-afternoon.
    """
    days = (epoch_s - _EPOCH_2000.timestamp()) / SECONDS_PER_DAY
    day_of_year = np.mod(days, DAYS_PER_YEAR)
    local_hour = np.mod(epoch_s + lon * 240.0, SECONDS_PER_DAY) / 3600.0
    mean = 28.0 - 0.34 * abs(lat)
    season_peak = 200.0 if lat >= 0 else 20.0
    seasonal = 0.14 * abs(lat) * np.cos(2 * math.pi * (day_of_year - season_peak) / DAYS_PER_YEAR)
    daily = 5.0 * np.cos(2 * math.pi * (local_hour - 15.0) / 24.0)
    return mean + seasonal + daily


def air_temperature_at(lat: float, lon: float, moment: datetime) -> float:
    """:func:`air_temperature_c` for one instant."""
    return float(air_temperature_c(lat, lon, np.array([moment.timestamp()]))[0])
