"""The demo's pure planning: the simulated window, fleet survey, members, fault rates, config text."""

from __future__ import annotations

import csv
import io
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circulo.demo.config import ConfigValues, render_config
from circulo.demo.fleet import survey_csv, survey_devices
from circulo.demo.options import (
    DEFAULT_FAULT_RATES,
    DemoOptions,
    FleetSize,
    demo_day,
    demo_window,
    member_accounts,
    scaled_fault_rates,
)
from circulo.demo.paths import DemoPaths, exclusive
from circulo.errors import ConfigError, Conflict
from circulo.registry.survey import read_survey

NOW = datetime(2026, 6, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hours", "start", "end"),
    [
        (24, "2026-06-01T00:00", "2026-06-02T00:00"),
        (2, "2026-06-01T11:00", "2026-06-01T13:00"),
        (3, "2026-06-01T10:00", "2026-06-01T13:00"),
        (1, "2026-06-01T11:00", "2026-06-01T12:00"),
        (23, "2026-06-01T00:00", "2026-06-01T23:00"),
    ],
)
def test_the_window_is_the_previous_utc_day_or_hours_around_its_midday(
    hours: int, start: str, end: str
) -> None:
    window = demo_window(NOW, hours)
    assert window.start == datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert window.end == datetime.fromisoformat(end).replace(tzinfo=UTC)
    assert window.hours == hours


# hypothesis takes naive bounds and attaches the timezone itself
NAIVE_BOUNDS = {"min_value": datetime(2020, 1, 1), "max_value": datetime(2035, 1, 1)}  # noqa: DTZ001


@given(st.datetimes(**NAIVE_BOUNDS, timezones=st.just(UTC)), st.integers(1, 24))
def test_no_simulated_timestamp_is_ahead_of_the_clock(now: datetime, hours: int) -> None:
    window = demo_window(now, hours)
    assert window.end <= now
    assert now - window.start <= timedelta(days=3)
    assert window.start.weekday() != 6  # Sunday
    assert window.start.date() in {(now - timedelta(days=d)).date() for d in (1, 2)}


def test_a_paced_day_runs_at_the_speed_that_fits_the_wall_minutes() -> None:
    window = demo_window(NOW, 24)
    assert window.speed(None) is None
    assert window.speed(2.0) == 720.0


def test_options_refuse_what_cannot_run() -> None:
    with pytest.raises(ConfigError):
        DemoOptions(Path("x"), hours=0)
    with pytest.raises(ConfigError):
        FleetSize(0, 0, 0)
    with pytest.raises(ConfigError):
        FleetSize(members=0)
    with pytest.raises(ConfigError):
        scaled_fault_rates(101)


def test_fault_rates_scale_and_switch_off() -> None:
    assert scaled_fault_rates(0) == {}
    assert scaled_fault_rates(1) == DEFAULT_FAULT_RATES
    assert scaled_fault_rates(10)["duplicate"] == pytest.approx(DEFAULT_FAULT_RATES["duplicate"] * 10)


def test_members_have_valid_accounts_and_positive_shares() -> None:
    accounts = member_accounts("sunvale", 12)
    assert len({a for a, _ in accounts}) == 12
    assert all(a.endswith("@sunvale") and 1 <= s <= 4 for a, s in accounts)


def test_the_survey_passes_the_registrys_own_reader() -> None:
    devices = survey_devices("sunvale", FleetSize(40, 15, 3), seed=1)
    rows = read_survey(survey_csv(devices), "demo survey")
    kinds = [r.spec.kind for r in rows]
    assert (kinds.count("meter"), kinds.count("bin"), kinds.count("repair")) == (40, 15, 3)
    assert all(r.spec.rated_power_w for r in rows if r.spec.kind == "meter")
    assert all(r.spec.capacity_kg for r in rows if r.spec.kind == "bin")
    assert len({r.spec.device_id for r in rows}) == 58


def test_the_same_seed_gives_the_same_survey() -> None:
    size = FleetSize(3, 2, 1)
    assert survey_csv(survey_devices("c", size, 5)) == survey_csv(survey_devices("c", size, 5))
    header = next(csv.reader(io.StringIO(survey_csv(survey_devices("c", size, 5)))))
    assert header[:3] == ["kind", "device_id", "coop_id"]


def test_the_config_file_gives_each_service_its_own_urls() -> None:
    values = ConfigValues(
        database_url="postgresql://postgres@127.0.0.1:5/circulo",
        ingest_database_url="postgresql://circulo_demo_ingest@127.0.0.1:5/circulo",
        rewards_database_url="postgresql://circulo_demo_rewards@127.0.0.1:5/circulo",
        operator_mqtt_url="mqtt://op:p%22w@127.0.0.1:6",
        ingest_mqtt_url="mqtt://in:pw@127.0.0.1:6",
        rewards_mqtt_url="mqtt://rw:pw@127.0.0.1:6",
        simulator_mqtt_url="mqtt://sim:pw@127.0.0.1:6",
        broker_admin_url="mqtt://admin:pw@127.0.0.1:6",
        ledger_dir=Path('/srv/demo/a "quoted" dir'),
        bundle_dir=Path("/srv/demo/bundles"),
        ingest_metrics_port=9999,
    )
    parsed = tomllib.loads(render_config(values, Path("/srv/demo/circulo.toml")))
    assert parsed["database_url"] == values.database_url
    assert parsed["mqtt_url"] == values.operator_mqtt_url
    assert parsed["state_dir"] == '/srv/demo/a "quoted" dir'
    assert parsed["ingest"]["database_url"] == values.ingest_database_url
    assert parsed["ingest"]["metrics_port"] == 9999
    assert parsed["rewards"]["mqtt_url"] == values.rewards_mqtt_url
    assert parsed["registry"]["broker_admin_url"] == values.broker_admin_url
    assert parsed["sim"]["bundles_dir"] == "/srv/demo/bundles"


def test_the_window_says_what_it_covers() -> None:
    assert demo_window(NOW, 24).describe() == "the whole UTC day Monday 2026-06-01"
    assert demo_window(NOW, 2).describe() == "Monday 2026-06-01 11:00-13:00 UTC"


def test_after_a_sunday_the_saturday_before_is_simulated() -> None:
    monday = datetime(2026, 11, 23, 8, tzinfo=UTC)
    assert demo_day(monday) == date(2026, 11, 21)
    assert demo_day(monday + timedelta(days=1)) == date(2026, 11, 23)


@pytest.mark.parametrize(
    ("day", "ok"),
    [
        (date(2026, 6, 1), True),
        (date(2026, 5, 4), True),
        (date(2026, 5, 3), False),
        (date(2026, 6, 2), False),
    ],
)
def test_a_chosen_day_must_be_in_the_past_and_not_too_old(day: date, ok: bool) -> None:
    if ok:
        assert demo_window(NOW, 24, day).start == datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    else:
        with pytest.raises(ConfigError):
            demo_window(NOW, 24, day)


def test_a_second_run_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    paths = DemoPaths(tmp_path / "demo")
    paths.make()
    with exclusive(paths), pytest.raises(Conflict, match="another circulo demo is running"), exclusive(paths):
        pass
    with exclusive(paths):  # free again
        pass


def test_a_new_state_folder_is_traversable_but_not_listable(tmp_path: Path) -> None:
    paths = DemoPaths(tmp_path / "demo")
    paths.make()
    assert paths.root.stat().st_mode & 0o777 == 0o711
    assert paths.log_dir.stat().st_mode & 0o777 == 0o700
