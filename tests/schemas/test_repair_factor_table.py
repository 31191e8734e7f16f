"""The repair factor table: a faithful, versioned copy of the ORDS LCA reference."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

import circulo_schemas
from circulo_schemas.errors import UnknownRepairCategory
from circulo_schemas.repair_categories import (
    CATEGORIES,
    DISPLACEMENT_PERCENT,
    FACTOR_TABLE_FILE,
    FACTOR_TABLE_VERSION,
    RepairCategory,
    category,
    co2e_avoided_g,
)


def reference_rows(shared_dir: Path) -> list[dict[str, str]]:
    with (shared_dir / "reference" / "ords_category_lca_reference.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_table_has_exactly_the_reference_categories(shared_dir: Path) -> None:
    assert {row["product_category"] for row in reference_rows(shared_dir)} == CATEGORIES


def test_every_figure_is_the_reference_figure_in_exact_grams(shared_dir: Path) -> None:
    for row in reference_rows(shared_dir):
        entry = category(row["product_category"])
        assert Decimal(entry.reference_weight_g) == Decimal(row["weight"]) * 1000
        assert Decimal(entry.footprint_g_co2e) == Decimal(row["footprint"]) * 1000


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Laptop", RepairCategory("Laptop", 16, 1830, 265_320)),
        ("Flat screen", RepairCategory("Flat screen", 8, 8268, 308_952)),
        ("Misc", RepairCategory("Misc", 18, 0, 0)),
    ],
)
def test_a_category_is_found_by_its_exact_name(name: str, expected: RepairCategory) -> None:
    assert category(name) == expected


@pytest.mark.parametrize(
    ("name", "grams"),
    [("Laptop", 132_660), ("Kettle", 22_160), ("Toaster", 4065), ("Flat screen", 154_476), ("Misc", 0)],
)
def test_co2e_avoided_is_half_the_production_footprint_in_whole_grams(name: str, grams: int) -> None:
    assert DISPLACEMENT_PERCENT == 50
    assert co2e_avoided_g(name) == grams


@pytest.mark.parametrize("name", ["laptop", "Laptop ", "", "Smartphone"])
def test_an_unknown_category_raises_a_key_error_naming_it(name: str) -> None:
    with pytest.raises(UnknownRepairCategory, match="unknown repair category") as caught:
        co2e_avoided_g(name)
    assert isinstance(caught.value, KeyError)
    assert caught.value.name == name


def test_the_factor_table_is_package_data_with_a_version_naming_its_source() -> None:
    package_dir = Path(circulo_schemas.__file__).parent
    assert (package_dir / "data" / FACTOR_TABLE_FILE).is_file()
    assert FACTOR_TABLE_VERSION.startswith("ords-lca")
    assert FACTOR_TABLE_FILE.endswith("_v1.csv") == FACTOR_TABLE_VERSION.endswith("v1")
