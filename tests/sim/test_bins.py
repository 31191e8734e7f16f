"""Bin physics: Poisson deposits, fill and weight, collections, accounts (pure, no broker)."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from tests.sim.sim_factories import MEMBERS, utc

from circulo_sim.physics.bins import (
    BIN_TYPES,
    NEARLY_FULL_PCT,
    BinSite,
    bin_records,
    bin_site,
    deposits_in_hour,
    expected_deposits,
    previous_round,
)
from circulo_sim.physics.climate import to_local
from circulo_sim.physics.records import BinReading, Collection, Deposit

START, END = utc(2026, 10, 5), utc(2026, 11, 2)  # four whole weeks


def site_of(kind: str, device: str = "b1", seed: int = 3, **changes: object) -> BinSite:
    """A bin of the given type (the seed picks the rest)."""
    for n in range(500):
        site = bin_site(f"{device}-{n}", 52.37, 4.90, capacity_kg=None, members=MEMBERS, seed=seed)
        if site.bin_type == kind:
            return dataclasses.replace(site, device_id=device, **changes)  # type: ignore[arg-type]
    raise AssertionError(f"no {kind} bin in 500 draws")


def records(site: BinSite, seed: int = 3, start=START, end=END) -> list:
    return list(bin_records(site, seed, start, end))


def test_deposits_arrive_with_the_configured_mean_per_day() -> None:
    site = site_of("plastics_cans", deposits_per_day=60.0)
    hours = [START + timedelta(hours=h) for h in range(24 * 28)]
    counts = np.array([len(deposits_in_hour(site, 3, h)) for h in hours])
    expected = np.array([expected_deposits(site, h) for h in hours])
    assert expected.sum() / 28 == pytest.approx(60.0, rel=0.03)  # weekday factors average out
    assert counts.sum() == pytest.approx(expected.sum(), abs=4 * np.sqrt(expected.sum()))
    # Poisson: variance equals the mean, hour by hour
    standardised = (counts - expected) / np.sqrt(expected)
    assert np.var(standardised) == pytest.approx(1.0, abs=0.2)


def test_deposits_follow_the_time_of_day_and_the_day_of_the_week() -> None:
    site = site_of("multi", deposits_per_day=90.0)
    by_hour: Counter[int] = Counter()
    by_weekday: Counter[int] = Counter()
    for h in range(24 * 28):
        for deposit in deposits_in_hour(site, 3, START + timedelta(hours=h)):
            local = to_local(deposit.ts, site.lon)
            by_hour[local.hour] += 1
            by_weekday[local.weekday()] += 1
    assert by_hour[18] > 5 * by_hour[3]
    assert by_weekday[5] > by_weekday[6]  # busy Saturdays, quiet Sundays


def test_fill_and_weight_rise_with_deposits_and_drop_at_collections() -> None:
    out = records(site_of("plastics_cans", deposits_per_day=80.0))
    contents_g: int | None = None  # unknown until the first collection in the window
    checked = 0
    for record in out:
        if isinstance(record, Collection):
            contents_g = 0
        elif contents_g is not None and isinstance(record, Deposit):
            contents_g += record.weight_g
        elif contents_g is not None:
            assert abs(record.weight_g - contents_g) <= 75  # the bin's scale: ±15 g noise
            checked += 1
    assert checked > 1000
    readings = [r for r in out if isinstance(r, BinReading)]
    assert max(r.fill_pct for r in readings) > 50
    assert min(r.fill_pct for r in readings) < 5


def test_a_collection_weighs_what_was_deposited_since_the_last_one() -> None:
    out = records(site_of("paper", deposits_per_day=50.0))
    collections = [i for i, r in enumerate(out) if isinstance(r, Collection)]
    assert len(collections) >= 4
    for before, after in itertools.pairwise(collections):
        deposited = sum(r.weight_g for r in out[before + 1 : after] if isinstance(r, Deposit))
        assert out[after].weight_g == pytest.approx(deposited, rel=0.02)
        # SPEC §4 mass balance with the default tolerance holds for honest data
        assert deposited * 100 <= out[after].weight_g * 115


def test_a_nearly_full_bin_is_emptied_within_working_hours_and_weekly_rounds_happen_anyway() -> None:
    site = site_of("plastics_cans", deposits_per_day=110.0)
    out = records(site)
    pickups = [r for r in out if isinstance(r, Collection)]
    for pickup in pickups:
        local = to_local(pickup.ts, site.lon)
        assert local.weekday() < 6 and 7 <= local.hour < 17
    readings = [r for r in out if isinstance(r, BinReading)]
    full_streak = max_streak([r.fill_pct >= NEARLY_FULL_PCT for r in readings])
    assert full_streak * site.telemetry_interval_s < 2 * 86400
    assert len(pickups) >= 4


def max_streak(flags: list[bool]) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def test_the_weekly_round_is_the_last_one_strictly_before_a_moment() -> None:
    site = site_of("glass")
    moment = utc(2026, 11, 4, 12)
    previous = previous_round(site, moment)
    assert moment - timedelta(weeks=1) <= previous < moment
    assert previous_round(site, previous) == previous - timedelta(weeks=1)


def test_deposits_come_from_members_with_some_anonymous_and_a_few_contaminated() -> None:
    deposits = [r for r in records(site_of("multi", deposits_per_day=100.0)) if isinstance(r, Deposit)]
    assert len(deposits) > 1000
    accounts = [d.account for d in deposits if d.account is not None]
    assert set(accounts) <= set(MEMBERS)
    assert 0.10 < 1 - len(accounts) / len(deposits) < 0.20
    assert 0.01 < sum(d.contaminated for d in deposits) / len(deposits) < 0.06
    regulars = Counter(accounts).most_common()
    assert regulars[0][1] > 3 * regulars[-1][1]  # each bin has its regulars


@pytest.mark.parametrize("kind", sorted(BIN_TYPES))
def test_every_bin_type_gets_deposits_of_its_own_materials_with_sane_weights(kind: str) -> None:
    site = site_of(kind)
    deposits = [r for r in records(site, end=START + timedelta(days=7)) if isinstance(r, Deposit)]
    assert deposits
    assert {d.material for d in deposits} <= {m for m, _ in site.mix}
    assert all(1 <= d.weight_g <= 50_000 and d.items >= 1 for d in deposits)


def test_event_ids_are_unique_and_consecutive_runs_continue_each_other() -> None:
    site = site_of("plastics_cans", deposits_per_day=90.0)
    middle = utc(2026, 10, 17, 13, 21, 7)
    whole = records(site)
    assert whole == records(site, end=middle) + records(site, start=middle)
    ids = [r.event_id for r in whole if isinstance(r, Deposit | Collection)]
    assert len(ids) == len(set(ids))
    assert all(len(i) <= 64 for i in ids)


def test_the_same_seed_gives_the_same_bin_and_another_seed_another() -> None:
    a = bin_site("b7", 52.37, 4.9, capacity_kg=None, members=MEMBERS, seed=11)
    assert a == bin_site("b7", 52.37, 4.9, capacity_kg=None, members=MEMBERS, seed=11)
    assert records(a, 11, end=START + timedelta(days=2)) == records(a, 11, end=START + timedelta(days=2))
    assert records(a, 11, end=START + timedelta(days=2)) != records(a, 12, end=START + timedelta(days=2))


def test_the_registry_capacity_overrides_the_bin_types_default() -> None:
    assert bin_site("b1", 52.37, 4.9, capacity_kg=42.5, members=MEMBERS, seed=1).capacity_kg == 42.5
