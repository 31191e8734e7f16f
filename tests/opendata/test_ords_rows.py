"""Repairs as ORDS v0.3 rows (pure): the standard's columns and codelists, and nothing personal."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from tests.opendata.ords_standard import (
    FIELDS,
    PRODUCT_CATEGORIES,
    PUBLISHED_ORDER,
    REPAIR_BARRIERS,
    REPAIR_STATUSES,
)

from circulo.opendata.ords import COLUMNS, Publisher, StoredRepair, csv_text, ords_row, scrub_problem
from circulo_schemas.ords import BARRIERS, STATUS_TEXT
from circulo_schemas.repair_categories import CATEGORIES

PUBLISHER = Publisher("riverside", "Riverside Repair Co-op", "GBR", publish_problems=True)
REPAIR = StoredRepair(
    device_id="rc-1",
    event_id="rep-0077",
    ts=datetime(2025, 6, 1, 23, 30, tzinfo=UTC),
    received_at=datetime(2025, 6, 2, 0, 0, 5, tzinfo=UTC),
    category="Toaster",
    status="end_of_life",
    age_years=Decimal("16.25"),
    problem="Element burnt out, call bob on 07700 900123 or bob@example.org (owner bob@riverside)",
    brand="Dualit",
    year_of_manufacture=2009,
    barrier="spare_parts_not_available",
    owner="bob@riverside",
    repairer="carol@riverside",
    coop_id="riverside",
)


def parsed(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_columns_are_the_standards_fields_in_the_published_order_with_record_date_last() -> None:
    assert set(COLUMNS) == FIELDS
    assert (*PUBLISHED_ORDER, "record_date") == COLUMNS


def test_a_repair_becomes_one_row_in_the_standards_words() -> None:
    assert ords_row(REPAIR, PUBLISHER) == {
        "id": "rc-1:rep-0077",
        "data_provider": "Riverside Repair Co-op",
        "country": "GBR",
        "partner_product_category": "Toaster",
        "product_category": "Toaster",
        "product_category_id": "31",
        "brand": "Dualit",
        "year_of_manufacture": "2009",
        "product_age": "16.2",
        "repair_status": "End of life",
        "repair_barrier_if_end_of_life": "Spare parts not available",
        "group_identifier": "riverside/rc-1",
        "event_date": "2025-06-01",
        "problem": "Element burnt out, call bob on [removed] or [removed] (owner [removed])",
        "record_date": "2025-06-02",
    }


@pytest.mark.parametrize("name", sorted(CATEGORIES))
def test_every_category_maps_to_the_standards_name_and_id(name: str) -> None:
    row = ords_row(replace(REPAIR, category=name), PUBLISHER)
    assert PRODUCT_CATEGORIES[int(row["product_category_id"])] == row["product_category"] == name


def test_every_category_of_the_shared_reference_table_is_mapped(shared_dir: Path) -> None:
    with (shared_dir / "reference" / "ords_category_lca_reference.csv").open(encoding="utf-8") as f:
        reference = {int(r["product_category_id"]): r["product_category"] for r in csv.DictReader(f)}
    assert reference == PRODUCT_CATEGORIES
    for ords_id, name in reference.items():
        assert ords_row(replace(REPAIR, category=name), PUBLISHER)["product_category_id"] == str(ords_id)


def test_statuses_and_barriers_are_the_standards_codelist_texts() -> None:
    assert set(STATUS_TEXT.values()) == set(REPAIR_STATUSES.values()) - {"Unknown"}
    for status in STATUS_TEXT:
        row = ords_row(replace(REPAIR, status=status, barrier=None), PUBLISHER)
        assert row["repair_status"] in REPAIR_STATUSES.values()
        assert row["repair_barrier_if_end_of_life"] == ""
    texts = {
        ords_row(replace(REPAIR, barrier=b), PUBLISHER)["repair_barrier_if_end_of_life"] for b in BARRIERS
    }
    assert texts == set(REPAIR_BARRIERS.values())


@pytest.mark.parametrize(
    ("age", "year", "expected"),
    [
        (Decimal("6"), None, "6"),
        (Decimal("6.5"), None, "6.5"),
        (Decimal("6.25"), None, "6.2"),  # one decimal at most, rounded half to even
        (Decimal("6.35"), None, "6.4"),
        (Decimal("0.04"), None, "0"),
        (Decimal("10.0"), 1990, "10"),  # a recorded age wins over the year
        (None, 2009, "16"),  # derived from the event date and the year, as the standard says
        (None, None, ""),
    ],
)
def test_product_age_has_at_most_one_decimal_and_is_derived_from_the_year_when_missing(
    age: Decimal | None, year: int | None, expected: str
) -> None:
    row = ords_row(replace(REPAIR, age_years=age, year_of_manufacture=year), PUBLISHER)
    assert row["product_age"] == expected
    assert re.fullmatch(r"(\d+(\.\d)?)?", row["product_age"])


def test_the_problem_is_left_out_unless_the_coop_opted_in() -> None:
    assert ords_row(REPAIR, replace(PUBLISHER, publish_problems=False))["problem"] == ""
    assert ords_row(replace(REPAIR, problem=None), PUBLISHER)["problem"] == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Switch does not latch.", "Switch does not latch."),
        ("Motor burnt out.\nNo spare parts.", "Motor burnt out. No spare parts."),
        ("mail me: dan.smith+repairs@mail.example.co.uk", "mail me: [removed]"),
        ("ring +44 (0)20 7946 0958 after 6", "ring [removed] after 6"),
        ("brought by bob@riverside, fixed by carol@riverside", "brought by [removed], fixed by [removed]"),
        ("a 230 V 50 Hz fuse, 13 A", "a 230 V 50 Hz fuse, 13 A"),  # short numbers are not phones
    ],
)
def test_personal_data_is_removed_from_a_published_problem(text: str, expected: str) -> None:
    assert scrub_problem(text, ("bob@riverside", "carol@riverside")) == expected


def test_no_column_ever_carries_the_owner_or_the_repairer() -> None:
    text = csv_text(
        [ords_row(REPAIR, PUBLISHER), ords_row(replace(REPAIR, problem="bob was here"), PUBLISHER)]
    )
    assert "bob@riverside" not in text
    assert "carol@riverside" not in text
    assert not {"owner", "repairer"} & set(parsed(text)[0])


def test_the_csv_has_a_header_row_of_field_names_and_quotes_what_needs_it() -> None:
    tricky = replace(REPAIR, brand='Bosch, "Made in Germany"', problem="line one\r\nline two")
    rows = parsed(csv_text([ords_row(tricky, PUBLISHER)]))
    assert list(rows[0]) == list(COLUMNS)
    assert rows[0]["brand"] == 'Bosch, "Made in Germany"'
    assert rows[0]["problem"] == "line one line two"
