"""Repair product categories and their CO2e factors: the project's versioned factor table.

``data/repair_categories_v1.csv`` is a copy of the Open Repair Alliance's reference table of
Open Repair Data Standard (ORDS) product categories, ``dat/ords_category_lca_reference.csv``
in the openrepair/tools repository: for each category an average item weight (kg) and a
production footprint (kg CO2e). A fixed repair is credited with avoiding
``footprint * DISPLACEMENT_PERCENT / 100`` — the Restart Project's usual assumption that
half of the repaired items displace the production of a new one. The figure is reported
(never minted) together with :data:`FACTOR_TABLE_VERSION`; any change to the table or the
displacement is a new version with a new data file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

from circulo_schemas.errors import UnknownRepairCategory

FACTOR_TABLE_VERSION = "ords-lca-reference.v1"
FACTOR_TABLE_FILE = "repair_categories_v1.csv"
DISPLACEMENT_PERCENT = 50  # share of repaired items assumed to displace a new product


@dataclass(frozen=True)
class RepairCategory:
    """One ORDS product category (its ``product_category_id`` too) with its reference figures in grams."""

    name: str
    ords_id: int
    reference_weight_g: int
    footprint_g_co2e: int


def _grams(kilograms: str) -> int:
    """Exact kilograms (at most 3 decimals) to integer grams."""
    grams = Decimal(kilograms).scaleb(3)
    if grams != grams.to_integral_value():
        raise ValueError(f"{kilograms} kg is not a whole number of grams")
    return int(grams)


def _load() -> dict[str, RepairCategory]:
    text = resources.files("circulo_schemas").joinpath("data", FACTOR_TABLE_FILE).read_text("utf-8")
    table: dict[str, RepairCategory] = {}
    for row in csv.DictReader(io.StringIO(text)):
        name = row["category"]
        table[name] = RepairCategory(
            name=name,
            ords_id=int(row["ords_category_id"]),
            reference_weight_g=_grams(row["reference_weight_kg"]),
            footprint_g_co2e=_grams(row["footprint_kg_co2e"]),
        )
    return table


_TABLE = _load()
CATEGORIES: frozenset[str] = frozenset(_TABLE)


def category(name: str) -> RepairCategory:
    """The category named exactly ``name``; raise :class:`UnknownRepairCategory` otherwise."""
    try:
        return _TABLE[name]
    except KeyError:
        raise UnknownRepairCategory(name) from None


def co2e_avoided_g(name: str) -> int:
    """Grams of CO2e a fixed repair in category ``name`` avoids (rounded down)."""
    return category(name).footprint_g_co2e * DISPLACEMENT_PERCENT // 100
