"""Solar meters: AC output from a clear-sky model, clouds, and a lifetime Wh register.

Output per watt of panel capacity is computed with pvlib on a 10-minute grid for a whole
year (Ineichen clear sky at the site, isotropic transposition onto the panel plane, Faiman
cell temperature, PVWatts DC with 14 % system losses, PVWatts inverter sized to the rated
power), interpolated to minutes, and multiplied by the day's cloud factor
(:mod:`circulo_sim.physics.weather`). Output never exceeds ``rated_power_w`` and is zero
at night.

The register is the meter's lifetime energy: a value at :data:`REGISTER_EPOCH` (the
meter's past, drawn from the seed) plus the integral of the minute powers since then. It
is a function of absolute time, so a run tomorrow continues today's register; the
integer register is the floor of a non-decreasing sum, so it only grows.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pvlib

from circulo_sim.physics.climate import air_temperature_c
from circulo_sim.physics.records import MeterReading
from circulo_sim.physics.weather import MINUTES_PER_DAY, cloud_factors
from circulo_sim.seeding import stream

REGISTER_EPOCH = date(2026, 1, 1)
GRID_MINUTES = 10
SLOTS_PER_DAY = MINUTES_PER_DAY // GRID_MINUTES
SYSTEM_LOSSES = 0.14  # PVWatts default: soiling, wiring, mismatch, shading…
INVERTER_EFFICIENCY = 0.96
GAMMA_PDC = -0.0037  # crystalline silicon, per °C
TYPICAL_YIELD_H = 1000.0  # kWh per kWp per year, mid-latitudes
ONE_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class MeterSite:
    """A meter's panels: where, how big, how they face, and the register at the epoch."""

    device_id: str
    lat: float
    lon: float
    rated_power_w: int
    tilt_deg: int
    azimuth_deg: int
    epoch_energy_wh: float


def meter_site(device_id: str, lat: float, lon: float, rated_power_w: int, seed: int) -> MeterSite:
    """Panel orientation and lifetime energy so far, drawn from the seed."""
    rng = stream(seed, "meter-site", device_id)
    facing = 180 if lat >= 0 else 0  # towards the equator
    years_installed = rng.uniform(1.0, 5.0)
    return MeterSite(
        device_id=device_id,
        lat=lat,
        lon=lon,
        rated_power_w=rated_power_w,
        tilt_deg=5 * int(rng.integers(2, 9)),  # installers use round angles: 10°…40°
        azimuth_deg=facing + 15 * int(rng.integers(-3, 4)),  # ± 45° off the equator
        epoch_energy_wh=float(rated_power_w * TYPICAL_YIELD_H * years_installed),
    )


def _cell(degrees: float) -> float:
    """Sites within 0.05° (about 5 km) share a sky: the sun's timing differs by seconds."""
    return round(degrees * 20) / 20


@dataclass(frozen=True)
class ClearSky:
    """The sun and the clear-sky irradiance at a site for a year, on the 10-minute grid."""

    epoch_s: np.ndarray
    apparent_zenith: np.ndarray
    azimuth: np.ndarray
    apparent_elevation: np.ndarray
    dni: np.ndarray
    ghi: np.ndarray
    dhi: np.ndarray


@functools.lru_cache(maxsize=32)
def clear_sky(lat: float, lon: float, year: int) -> ClearSky:
    """Solar position (pvlib ephemeris) and Ineichen clear sky for the year (both ends)."""
    start = pd.Timestamp(year=year, month=1, day=1, tz="UTC")
    times = pd.date_range(start, start + pd.DateOffset(years=1), freq=f"{GRID_MINUTES}min")
    with quiet_pvlib():
        solar_position = pvlib.solarposition.ephemeris(times, lat, lon)
        location = pvlib.location.Location(lat, lon, tz="UTC", altitude=_altitude(lat, lon))
        sky = location.get_clearsky(times, model="ineichen", solar_position=solar_position)
    return ClearSky(
        epoch_s=times.asi8 / 1e9,
        apparent_zenith=solar_position["apparent_zenith"].to_numpy(),
        azimuth=solar_position["azimuth"].to_numpy(),
        apparent_elevation=solar_position["apparent_elevation"].to_numpy(),
        dni=sky["dni"].to_numpy(),
        ghi=sky["ghi"].to_numpy(),
        dhi=sky["dhi"].to_numpy(),
    )


@functools.lru_cache(maxsize=512)  # about 0.4 MB each; a co-op needs a few dozen
def clear_sky_output_per_watt(lat: float, lon: float, tilt: int, azimuth: int, year: int) -> np.ndarray:
    """Clear-sky AC output per watt of rated power, and the sun's elevation (°), on the year's
    10-minute grid (both ends included)."""
    sky = clear_sky(lat, lon, year)
    poa = pvlib.irradiance.get_total_irradiance(
        tilt,
        azimuth,
        sky.apparent_zenith,
        sky.azimuth,
        sky.dni,
        sky.ghi,
        sky.dhi,
        albedo=0.2,
        model="isotropic",
    )["poa_global"]
    poa = np.nan_to_num(np.asarray(poa, dtype=float))
    cell_c = pvlib.temperature.faiman(poa, air_temperature_c(lat, lon, sky.epoch_s), wind_speed=2.0)
    dc = pvlib.pvsystem.pvwatts_dc(poa, cell_c, pdc0=1.0, gamma_pdc=GAMMA_PDC) * (1 - SYSTEM_LOSSES)
    ac = pvlib.inverter.pvwatts(dc, pdc0=1.0 / INVERTER_EFFICIENCY, eta_inv_nom=INVERTER_EFFICIENCY)
    output = np.clip(np.nan_to_num(np.asarray(ac, dtype=float)), 0.0, 1.0)
    return np.stack([output, sky.apparent_elevation]).astype(np.float32)


@contextlib.contextmanager
def quiet_pvlib() -> Iterator[None]:
    """pvlib still reads ``DatetimeIndex.dayofyear``, which pandas 3 deprecates; nothing to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*dayofyear is deprecated", category=DeprecationWarning)
        yield


def solar_position_of(times: pd.DatetimeIndex, lat: float, lon: float) -> pd.DataFrame:
    """Sun position (pvlib's ephemeris) for ``times``."""
    with quiet_pvlib():
        return pvlib.solarposition.ephemeris(times, lat, lon)


@functools.lru_cache(maxsize=256)
def _altitude(lat: float, lon: float) -> float:
    return max(0.0, float(pvlib.location.lookup_altitude(lat, lon)))


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# Minute m of a day lies in grid slot m // 10, a fraction ((m % 10) + 0.5) / 10 of the way
# to the next grid point: fixed weights, so every day interpolates with the same arithmetic.
_MINUTES = np.arange(MINUTES_PER_DAY)
_SLOT = _MINUTES // GRID_MINUTES
_TOWARDS_NEXT = ((_MINUTES % GRID_MINUTES) + 0.5) / GRID_MINUTES
_HISTORY_BATCH_DAYS = 64


class MeterPhysics:
    """The output and register of one meter; results are cached, never changed.

    Days are computed in batches, but every row of a batch is computed with exactly the
    arithmetic a single day gets, so a day's energy is the same float whether it was part
    of a meter's history or of the simulated window.
    """

    def __init__(self, site: MeterSite, seed: int) -> None:
        self.site = site
        self.seed = seed
        self._day_power: dict[date, np.ndarray] = {}
        self._register_at_day_start: dict[date, float] = {REGISTER_EPOCH: site.epoch_energy_wh}

    def clear_sky_power_w(self, day: date) -> np.ndarray:
        """Clear-sky output (W) for each minute of ``day`` (UTC)."""
        return np.asarray(self._clear_sky_days(day, 1)[0])

    def _clear_sky_days(self, first: date, count: int) -> np.ndarray:
        """Clear-sky output (W) per minute, one row per day from ``first`` (same year)."""
        s = self.site
        grid = clear_sky_output_per_watt(_cell(s.lat), _cell(s.lon), s.tilt_deg, s.azimuth_deg, first.year)
        start = (first.timetuple().tm_yday - 1) * SLOTS_PER_DAY
        index = start + SLOTS_PER_DAY * np.arange(count)[:, None] + _SLOT[None, :]
        output, elevation = grid  # float32 points; the arithmetic below is float64
        clear = output[index] * (1 - _TOWARDS_NEXT) + output[index + 1] * _TOWARDS_NEXT
        # interpolating the output alone would light up minutes just before sunrise
        sun_up = elevation[index] * (1 - _TOWARDS_NEXT) + elevation[index + 1] * _TOWARDS_NEXT > 0
        return np.asarray(np.where(sun_up, clear, 0.0) * s.rated_power_w)

    def _power_days(self, first: date, count: int) -> np.ndarray:
        """Average output (W) per minute, clouds included, one row per day from ``first`` (same year)."""
        s = self.site
        days = [first + timedelta(days=n) for n in range(count)]
        clouds = cloud_factors(self.seed, s.device_id, s.lat, s.lon, days)
        return np.asarray(np.minimum(self._clear_sky_days(first, count) * clouds, s.rated_power_w))

    def power_w(self, day: date) -> np.ndarray:
        """Average output (W) over each minute of ``day`` (UTC), clouds included."""
        if day not in self._day_power:
            if len(self._day_power) > 8:  # keep only a few days of minutes in memory
                self._day_power.clear()
            self._day_power[day] = np.asarray(self._power_days(day, 1)[0])
        return self._day_power[day]

    def daily_energy_wh(self, day: date) -> float:
        """Energy produced over ``day`` (UTC), Wh: the running sum the register adds up."""
        return float(np.cumsum(self.power_w(day) / 60.0)[-1])

    def _daily_energies(self, first: date, count: int) -> np.ndarray:
        """:meth:`daily_energy_wh` of ``count`` days from ``first`` (same year), in one batch."""
        return np.asarray(np.cumsum(self._power_days(first, count) / 60.0, axis=1)[:, -1])

    def register_at_day_start(self, day: date) -> float:
        """Lifetime energy (Wh, exact) at 00:00 UTC of ``day``."""
        known = self._register_at_day_start
        if day not in known:
            if day > REGISTER_EPOCH:
                self._extend_forward(max(d for d in known if d <= day), day)
            else:
                self._extend_backward(min(d for d in known if d >= day), day)
        return known[day]

    def _extend_forward(self, current: date, day: date) -> None:
        known = self._register_at_day_start
        while current < day:
            count = min(
                (day - current).days, _HISTORY_BATCH_DAYS, (date(current.year, 12, 31) - current).days + 1
            )
            for energy in self._daily_energies(current, count):
                known[current + timedelta(days=1)] = known[current] + float(energy)
                current += timedelta(days=1)

    def _extend_backward(self, current: date, day: date) -> None:
        known = self._register_at_day_start
        while current > day:
            count = min(
                (current - day).days, _HISTORY_BATCH_DAYS, (current - date(current.year, 1, 1)).days or 1
            )
            first = current - timedelta(days=count)
            energies = self._daily_energies(first, count)
            for energy in energies[::-1]:
                known[current - timedelta(days=1)] = max(0.0, known[current] - float(energy))
                current -= timedelta(days=1)

    def readings(self, start: datetime, end: datetime | None) -> Iterator[MeterReading]:
        """One reading per whole minute in [start, end) (end None: forever)."""
        first = _ceil_minute(start)
        day = first.date()
        minute = (first - day_start(day)) // ONE_MINUTE
        while end is None or day_start(day) < end:
            yield from self._day_readings(day, minute, end)
            day, minute = day + timedelta(days=1), 0

    def _day_readings(self, day: date, first_minute: int, end: datetime | None) -> Iterator[MeterReading]:
        power = self.power_w(day)
        register = self.register_at_day_start(day) + np.concatenate(([0.0], np.cumsum(power / 60.0)[:-1]))
        # never past the next day's start (float subtraction before the epoch could round up)
        register = np.minimum(register, self.register_at_day_start(day + timedelta(days=1)))
        rng = stream(self.seed, "meter-noise", self.site.device_id, day)
        voltage = 230.0 + rng.normal(0.0, 1.6, MINUTES_PER_DAY)
        frequency = 50.0 + rng.normal(0.0, 0.02, MINUTES_PER_DAY)
        base = day_start(day)
        epoch_s = base.timestamp() + 60.0 * np.arange(MINUTES_PER_DAY)
        heating = 25.0 * power / self.site.rated_power_w
        temp = air_temperature_c(self.site.lat, self.site.lon, epoch_s) + heating + rng.normal(0, 0.2, 1440)
        for m in range(first_minute, MINUTES_PER_DAY):
            ts = base + m * ONE_MINUTE
            if end is not None and ts >= end:
                return
            wh = math.floor(register[m])
            yield MeterReading(
                ts=ts,
                energy_wh=wh,
                energy_mwh=min(math.floor(register[m] * 1000), wh * 1000 + 999),
                power_w=round(float(power[m]), 1),
                voltage_v=round(float(voltage[m]), 1),
                frequency_hz=round(float(frequency[m]), 3),
                temp_c=round(float(temp[m]), 1),
            )


def _ceil_minute(moment: datetime) -> datetime:
    floored = moment.replace(second=0, microsecond=0)
    return floored if floored == moment else floored + ONE_MINUTE
