"""Meter physics: clear-sky output, clouds, the lifetime register (pure, no broker)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.sim.sim_factories import SITES, utc

from circulo_sim.physics.solar import MeterPhysics, meter_site, solar_position_of
from circulo_sim.physics.weather import DAY_TYPES, cloud_factor, day_type


def physics(site: str = "amsterdam", rated: int = 5000, seed: int = 1, device: str = "m1") -> MeterPhysics:
    lat, lon = SITES[site]
    return MeterPhysics(meter_site(device, lat, lon, rated, seed), seed)


def sun_elevation(lat: float, lon: float, moments: list) -> np.ndarray:
    return solar_position_of(pd.DatetimeIndex(moments), lat, lon)["apparent_elevation"].to_numpy()


@pytest.mark.parametrize("site", sorted(SITES))
def test_a_meter_produces_nothing_while_the_sun_is_down_at_its_site(site: str) -> None:
    meter = physics(site)
    readings = list(meter.readings(utc(2026, 11, 10), utc(2026, 11, 12)))
    elevation = sun_elevation(*SITES[site], [r.ts for r in readings])
    night = [r for r, e in zip(readings, elevation, strict=True) if e < -1.0]
    assert night, "the window must contain a night"
    assert all(r.power_w == 0 for r in night)
    day = [r for r, e in zip(readings, elevation, strict=True) if e > 20.0]
    assert not day or max(r.power_w for r in day) > 0


@pytest.mark.parametrize("site", sorted(SITES))
def test_a_meter_never_reports_more_than_its_rated_power(site: str) -> None:
    meter = physics(site, rated=3000)
    for day in (date(2026, 3, 21), date(2026, 6, 21), date(2026, 12, 21)):
        assert meter.power_w(day).max() <= 3000
        assert meter.power_w(day).min() >= 0


@pytest.mark.parametrize("site", sorted(SITES))
def test_daily_energy_stays_within_rated_power_times_daylight_hours(site: str) -> None:
    meter = physics(site, rated=4000)
    for offset in range(0, 360, 15):
        day = date(2026, 1, 1) + timedelta(days=offset)
        daylight_h = float((meter.clear_sky_power_w(day) > 0).sum()) / 60
        assert meter.daily_energy_wh(day) <= 4000 * daylight_h + 1e-6


def test_a_clear_june_day_in_amsterdam_yields_what_real_panels_do() -> None:
    meter = physics("amsterdam", rated=5000)
    clear_days = [
        date(2026, 6, d)
        for d in range(1, 31)
        if day_type(1, *SITES["amsterdam"], date(2026, 6, d)) == "clear"
    ]
    assert clear_days
    per_kwp = [meter.daily_energy_wh(d) / 5000 for d in clear_days]
    # a clear midsummer day in the Netherlands: roughly 5 to 7.5 kWh per kWp
    assert all(4.5 <= y <= 7.5 for y in per_kwp), per_kwp


def test_cloudy_days_yield_less_than_clear_ones() -> None:
    meter = physics("amsterdam")
    by_type: dict[str, list[float]] = {t: [] for t in DAY_TYPES}
    for offset in range(120, 240):
        day = date(2026, 1, 1) + timedelta(days=offset)
        ratio = meter.daily_energy_wh(day) / (meter.clear_sky_power_w(day).sum() / 60)
        by_type[day_type(1, *SITES["amsterdam"], day)].append(ratio)
    assert np.mean(by_type["clear"]) > np.mean(by_type["partly_cloudy"]) > np.mean(by_type["overcast"])
    assert np.mean(by_type["overcast"]) < 0.4


def test_passing_clouds_make_minute_to_minute_dips() -> None:
    lat, lon = SITES["amsterdam"]
    day = next(
        date(2026, 7, d) for d in range(1, 31) if day_type(3, lat, lon, date(2026, 7, d)) == "partly_cloudy"
    )
    factor = cloud_factor(3, "m1", lat, lon, day)
    assert factor.min() < 0.7
    assert factor.max() > 0.9
    assert np.count_nonzero(np.abs(np.diff(factor)) > 0.1) >= 4


def test_meters_of_one_coop_share_the_days_weather_but_not_their_clouds() -> None:
    lat, lon = SITES["amsterdam"]
    day = date(2026, 7, 3)
    assert day_type(5, lat, lon, day) == day_type(5, lat + 0.01, lon + 0.02, day)
    assert not np.array_equal(cloud_factor(5, "m1", lat, lon, day), cloud_factor(5, "m2", lat, lon, day))


@settings(max_examples=25)
@given(
    lat=st.floats(-60, 65),
    lon=st.floats(-180, 180),
    rated=st.integers(500, 50_000),
    seed=st.integers(0, 2**32),
    day=st.dates(date(2025, 1, 1), date(2026, 12, 30)),  # before and after the register's epoch
)
def test_the_register_only_grows_and_is_a_whole_number_of_watt_hours(
    lat: float, lon: float, rated: int, seed: int, day: date
) -> None:
    meter = MeterPhysics(meter_site("mx", lat, lon, rated, seed), seed)
    start = utc(day.year, day.month, day.day, 18)
    registers = [r.energy_wh for r in meter.readings(start, start + timedelta(hours=30))]
    assert all(isinstance(e, int) and e >= 0 for e in registers)
    assert all(a <= b for a, b in itertools.pairwise(registers))


def test_consecutive_runs_continue_the_same_register() -> None:
    start, middle, end = utc(2026, 11, 10, 6), utc(2026, 11, 10, 13, 37), utc(2026, 11, 11, 9)
    whole = list(physics().readings(start, end))
    split = list(physics().readings(start, middle)) + list(physics().readings(middle, end))
    assert whole == split


def test_a_days_energy_is_the_same_whether_computed_as_history_or_as_the_day_itself() -> None:
    history = physics()
    for day in (date(2026, 3, 1), date(2026, 7, 15), date(2026, 11, 20)):
        step = history.register_at_day_start(day + timedelta(days=1)) - history.register_at_day_start(day)
        alone = physics().daily_energy_wh(day)
        assert step == pytest.approx(alone, rel=1e-12)
        readings = list(
            itertools.islice(physics().readings(utc(day.year, day.month, day.day, 23, 59), None), 2)
        )
        assert readings[0].energy_wh <= readings[1].energy_wh  # across midnight


def test_the_register_at_a_day_start_does_not_depend_on_what_was_computed_before() -> None:
    fresh, warmed = physics(), physics()
    warmed.register_at_day_start(date(2026, 12, 30))
    warmed.register_at_day_start(date(2025, 12, 1))
    assert fresh.register_at_day_start(date(2026, 11, 20)) == warmed.register_at_day_start(date(2026, 11, 20))


def test_the_same_seed_gives_the_same_readings_and_another_seed_others() -> None:
    window = (utc(2026, 11, 20, 10), utc(2026, 11, 20, 12))
    assert list(physics(seed=9).readings(*window)) == list(physics(seed=9).readings(*window))
    assert list(physics(seed=9).readings(*window)) != list(physics(seed=10).readings(*window))


def test_a_meter_reports_once_a_minute_on_whole_minutes() -> None:
    readings = list(physics().readings(utc(2026, 11, 20, 10, 0, 30), utc(2026, 11, 20, 11)))
    assert readings[0].ts == utc(2026, 11, 20, 10, 1)
    assert len(readings) == 59
    assert all(b.ts - a.ts == timedelta(minutes=1) for a, b in itertools.pairwise(readings))
