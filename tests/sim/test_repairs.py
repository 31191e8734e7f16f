"""Repair-station physics: opening hours, ORDS category mix, weights, outcomes (pure)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta

import pytest
from tests.sim.sim_factories import MEMBERS, utc

from circulo_schemas.ords import BARRIERS
from circulo_schemas.repair_categories import CATEGORIES, category
from circulo_sim.physics.climate import to_local
from circulo_sim.physics.repairs import (
    BRANDS,
    CATEGORY_MIX,
    GENERIC_BRANDS,
    HARD,
    STATION_TYPES,
    RepairSite,
    expected_repairs,
    open_minutes,
    repair_records,
    repair_site,
    with_item_details,
)
from circulo_sim.seeding import stream

START, END = utc(2026, 9, 7), utc(2026, 11, 2)  # eight weeks


def station(kind: str, seed: int = 5) -> RepairSite:
    for n in range(200):
        site = repair_site(f"r-{n}", 4.9, MEMBERS, seed)
        if site.station_type == kind:
            return dataclasses.replace(site, device_id="r1")
    raise AssertionError(f"no {kind} in 200 draws")


def many_repairs() -> list:
    out = []
    for kind in STATION_TYPES:
        out += list(repair_records(station(kind), 5, START, END))
    return out


def test_every_category_of_the_mix_is_an_ords_category() -> None:
    assert set(CATEGORY_MIX) <= CATEGORIES


@pytest.mark.parametrize("kind", sorted(STATION_TYPES))
def test_repairs_happen_only_in_opening_hours(kind: str) -> None:
    site = station(kind)
    repairs = list(repair_records(site, 5, START, END))
    assert repairs
    for repair in repairs:
        local = to_local(repair.ts, site.lon)
        minute = local.hour * 60 + local.minute
        assert any(d == local.weekday() and a <= minute < b for d, a, b in site.hours), repair.ts


def test_the_number_of_repairs_matches_the_opening_hours_and_pace() -> None:
    site = station("repair_cafe")
    hours = [START + timedelta(hours=h) for h in range(int((END - START).total_seconds() // 3600))]
    expected = sum(expected_repairs(site, h) for h in hours)
    open_hours = sum(b - a for h in hours for a, b in open_minutes(site, h)) / 60
    assert open_hours == pytest.approx(8 * 9)  # 6 h on Saturdays + 3 h on Wednesdays, eight weeks
    assert len(list(repair_records(site, 5, START, END))) == pytest.approx(expected, abs=4 * expected**0.5)


def test_outcome_shares_look_like_open_repair_data() -> None:
    statuses = Counter(r.status for r in many_repairs())
    total = sum(statuses.values())
    assert 0.45 < statuses["fixed"] / total < 0.6
    assert 0.1 < statuses["repairable"] / total < 0.25
    assert 0.22 < statuses["end_of_life"] / total < 0.4


def test_item_weights_stay_near_their_categorys_reference() -> None:
    for repair in many_repairs():
        reference = category(repair.category).reference_weight_g
        limit = 3 * reference if reference else 50_000  # SPEC §4: heavier mints nothing
        assert 0 < repair.weight_g <= limit


def test_owners_are_members_or_walk_ins_and_repairers_are_volunteers() -> None:
    site = station("workshop")
    repairs = list(repair_records(site, 5, START, END))
    assert {r.repairer for r in repairs} - {None} <= set(site.volunteers)
    owners = [r.owner for r in repairs]
    assert {o for o in owners if o} <= set(MEMBERS)
    assert 0.2 < owners.count(None) / len(owners) < 0.5


def test_the_same_seed_gives_the_same_repairs() -> None:
    site = station("shop")
    assert list(repair_records(site, 5, START, END)) == list(repair_records(site, 5, START, END))
    ids = [r.event_id for r in repair_records(site, 5, START, END)]
    assert len(ids) == len(set(ids))


def test_only_end_of_life_items_have_a_barrier_and_most_of_them_do() -> None:
    repairs = many_repairs()
    assert all(r.barrier is None for r in repairs if r.status != "end_of_life")
    ended = [r for r in repairs if r.status == "end_of_life"]
    assert 0.65 < sum(r.barrier is not None for r in ended) / len(ended) < 0.95
    assert {r.barrier for r in ended} - {None} == set(BARRIERS)


def test_glued_devices_are_more_often_impossible_to_open_than_other_items() -> None:
    ended = [r for r in many_repairs() if r.barrier is not None]

    def share_unopenable(items: list) -> float:
        return sum(r.barrier == "no_way_to_open" for r in items) / len(items)

    assert share_unopenable([r for r in ended if r.category in HARD]) > 1.5 * share_unopenable(
        [r for r in ended if r.category not in HARD]
    )


def test_a_known_year_of_manufacture_agrees_with_the_items_age_and_brands_are_plausible() -> None:
    repairs = many_repairs()
    dated = [r for r in repairs if r.year_of_manufacture is not None]
    assert 0.2 < len(dated) / len(repairs) < 0.4
    for repair in dated:
        assert abs(repair.ts.year - repair.year_of_manufacture - repair.age_years) <= 0.5
    branded = [r for r in repairs if r.brand is not None]
    assert 0.5 < len(branded) / len(repairs) < 0.7
    assert all(r.brand in BRANDS.get(r.category, GENERIC_BRANDS) for r in branded)


def test_item_details_come_from_their_own_stream_and_change_nothing_else() -> None:
    site = station("repair_cafe")
    plain = [
        dataclasses.replace(r, brand=None, year_of_manufacture=None, barrier=None)
        for r in repair_records(site, 5, START, END)
    ]
    other_seed_details = [with_item_details(r, stream(99, "repair-details", r.ts)) for r in plain]
    assert [
        dataclasses.replace(r, brand=None, year_of_manufacture=None, barrier=None) for r in other_seed_details
    ] == plain
