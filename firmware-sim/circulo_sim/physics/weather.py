"""Clouds: which fraction of the clear-sky output reaches a meter, minute by minute.

Every day at a site is *clear*, *partly cloudy* or *overcast*. The day's type is shared by
every meter of a region (half a degree of latitude and longitude: a co-op sees the same
weather), while passing clouds cross each meter at its own moments. The factor for a
minute is a pure function of (seed, region or device, day).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np

from circulo_sim.seeding import stream, unit_interval

MINUTES_PER_DAY = 1440
DAY_TYPES = ("clear", "partly_cloudy", "overcast")
# Shares of day types; a deliberately simple, season-free climate.
DAY_TYPE_SHARES = (0.40, 0.40, 0.20)
_SPELLS = 256  # sunny/shaded spell pairs drawn at a time


def region_of(lat: float, lon: float) -> tuple[float, float]:
    """The weather region of a site: a half-degree cell."""
    return (round(lat * 2) / 2, round(lon * 2) / 2)


def day_type(seed: int, lat: float, lon: float, day: date) -> str:
    """The weather of ``day`` in the site's region."""
    draw = unit_interval(seed, "day-type", *region_of(lat, lon), day)
    cumulative = np.cumsum(DAY_TYPE_SHARES)
    return DAY_TYPES[int(np.searchsorted(cumulative, draw, side="right"))]


def cloud_factor(seed: int, device_id: str, lat: float, lon: float, day: date) -> np.ndarray:
    """Fraction (0-1) of clear-sky output per minute of ``day`` (UTC) at one meter."""
    return np.asarray(cloud_factors(seed, device_id, lat, lon, [day])[0])


def cloud_factors(seed: int, device_id: str, lat: float, lon: float, days: Sequence[date]) -> np.ndarray:
    """:func:`cloud_factor` for several days at once, one row per day.

    Each row is the same whatever else is in the batch: the random draws of a day come
    from that day's own stream, and everything applied to the batch is elementwise.
    """
    rows = np.empty((len(days), MINUTES_PER_DAY))
    for i, day in enumerate(days):
        rows[i] = _day_clouds(seed, device_id, lat, lon, day)
    return np.asarray(np.clip(_smooth(rows), 0.03, 1.0))


def _day_clouds(seed: int, device_id: str, lat: float, lon: float, day: date) -> np.ndarray:
    kind = day_type(seed, lat, lon, day)
    rng = stream(seed, "clouds", device_id, day)
    if kind == "clear":
        return np.asarray(0.97 + rng.normal(0.0, 0.01, MINUTES_PER_DAY))
    if kind == "overcast":
        return _overcast(rng)
    cover = unit_interval(seed, "cloud-cover", *region_of(lat, lon), day)
    return _passing_clouds(rng, 0.2 + 0.5 * cover)


def _overcast(rng: np.random.Generator) -> np.ndarray:
    """A low, slowly wandering factor under a closed cloud deck."""
    level = rng.uniform(0.12, 0.32)
    wander = np.cumsum(rng.normal(0.0, 0.004, MINUTES_PER_DAY))
    return np.asarray(level + wander - wander.mean())


def _passing_clouds(rng: np.random.Generator, cloudy_share: float) -> np.ndarray:
    """Alternating sunny and shaded spells; ``cloudy_share`` of the time in shade on average."""
    shade_mean = 12.0
    sun_mean = shade_mean * (1 - cloudy_share) / cloudy_share
    bounds, depth = np.empty(0), np.empty(0)
    while not bounds.size or bounds[-1] < MINUTES_PER_DAY:  # ~85 spells fill a day; 256 almost surely do
        pairs = np.column_stack([rng.exponential(sun_mean, _SPELLS), rng.exponential(shade_mean, _SPELLS)])
        start = bounds[-1] if bounds.size else 0.0
        bounds = np.concatenate([bounds, start + np.cumsum(pairs.ravel())])
        depth = np.concatenate([depth, rng.uniform(0.25, 0.6, _SPELLS)])
    spell_of_minute = np.searchsorted(bounds, np.arange(MINUTES_PER_DAY) + 0.5, side="right")
    in_shade = spell_of_minute % 2 == 1
    factor = 0.96 + rng.normal(0.0, 0.01, MINUTES_PER_DAY)
    factor[in_shade] = depth[spell_of_minute[in_shade] // 2]
    return factor


def _smooth(rows: np.ndarray) -> np.ndarray:
    """A 3-minute moving average along each row (a cloud edge takes a minute or two to cross
    a small array); edges repeated; elementwise, so rows do not depend on each other."""
    padded = np.concatenate([rows[:, :1], rows, rows[:, -1:]], axis=1)
    return np.asarray((padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]) / 3.0)
