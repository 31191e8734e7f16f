"""`circulo repairs export --format ords` against a real database: the standard's CSV, or nothing."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from tests.factories import add_coop, add_device, add_repair
from tests.opendata.ords_standard import FIELDS, PRODUCT_CATEGORIES, REPAIR_BARRIERS, REPAIR_STATUSES

from circulo.cli import cli
from circulo_schemas.ords import BARRIERS
from circulo_schemas.repair_categories import CATEGORIES

DAY = datetime(2025, 6, 7, 10, 0, tzinfo=UTC)
STATUSES = ("fixed", "repairable", "end_of_life")


def circulo(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--database-url", db_url, *args], catch_exceptions=False)


def export(db_url: str, *args: str) -> list[dict[str, str]]:
    result = circulo(db_url, "repairs", "export", "--format", "ords", *args)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


@pytest.fixture
def riverside(db_url: str) -> str:
    """A co-op with one repair station that saw one item of every category (varied outcomes)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        add_coop(conn, "riverside", "Riverside Energy Co-op")
        add_device(conn, "rc-1", "repair", "riverside", status="active")
        for n, name in enumerate(sorted(CATEGORIES)):
            status = STATUSES[n % 3]
            optional: dict[str, Any] = {"problem": f"fault {n}; ask olga@riverside", "brand": f"Brand {n}"}
            if status == "end_of_life":
                optional["barrier"] = BARRIERS[n % len(BARRIERS)]
            if n % 2:
                optional["year_of_manufacture"] = 2000 + n % 20
            else:
                optional["age_years"] = n / 4
            add_repair(conn, "rc-1", f"rep-{n:03d}", DAY + timedelta(hours=n), category=name, status=status,
                       owner="olga@riverside", repairer="rita@riverside", **optional)  # fmt: skip
    return db_url


def open_data(db_url: str, *options: str) -> Result:
    return circulo(db_url, "coop", "open-data", "riverside", *options)


def test_every_repair_is_exported_in_the_standards_columns_and_codelists(riverside: str) -> None:
    assert open_data(riverside, "--country", "gbr").exit_code == 0
    rows = export(riverside)
    assert len(rows) == len(CATEGORIES)
    assert set(rows[0]) == FIELDS
    for row in rows:
        assert PRODUCT_CATEGORIES[int(row["product_category_id"])] == row["product_category"]
        assert row["repair_status"] in REPAIR_STATUSES.values()
        barrier = row["repair_barrier_if_end_of_life"]
        assert barrier == "" or (
            barrier in REPAIR_BARRIERS.values() and row["repair_status"] == "End of life"
        )
        assert row["country"] == "GBR"
        assert row["data_provider"] == "Riverside Energy Co-op"  # the co-op's name unless set
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["event_date"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["record_date"])
        assert re.fullmatch(r"(\d{4})?", row["year_of_manufacture"])
        assert re.fullmatch(r"\d+(\.\d)?", row["product_age"])
        assert row["group_identifier"] == "riverside/rc-1"
    assert {r["product_category"] for r in rows} == set(PRODUCT_CATEGORIES.values())
    assert len({r["id"] for r in rows}) == len(rows)


def test_owner_repairer_and_unpublished_problems_never_leave_the_coop(riverside: str) -> None:
    open_data(riverside, "--country", "GBR")
    text = circulo(riverside, "repairs", "export", "--format", "ords").stdout
    assert "olga" not in text and "rita" not in text and "fault" not in text
    open_data(riverside, "--publish-problems")
    rows = export(riverside)
    assert rows[0]["problem"] == "fault 0; ask [removed]"
    assert all("olga" not in value for row in rows for value in row.values())


def test_ids_are_stable_across_exports_and_date_filters_pick_event_dates(riverside: str) -> None:
    open_data(riverside, "--country", "GBR", "--data-provider", "Riverside Repairs")
    everything = export(riverside)
    first_day = export(riverside, "--from", "2025-06-07", "--to", "2025-06-07", "--coop", "riverside")
    assert [r["event_date"] for r in first_day] == ["2025-06-07"] * 14  # 10:00 to 23:00 UTC
    assert first_day == everything[:14]
    assert export(riverside, "--from", "2025-06-09")[0]["id"] == everything[38]["id"] == "rc-1:rep-038"
    assert {r["data_provider"] for r in everything} == {"Riverside Repairs"}


def test_a_coop_that_never_set_its_country_is_refused_and_nothing_is_written(
    riverside: str, tmp_path: Path
) -> None:
    out = tmp_path / "repairs.csv"
    result = circulo(riverside, "repairs", "export", "--format", "ords", "--out", str(out))
    assert result.exit_code != 0
    assert result.output.strip() == (
        "error: co-op riverside publishes no open repair data yet: "
        "set its country with `circulo coop open-data riverside --country XXX`"
    )
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_an_export_to_a_file_replaces_it_whole(riverside: str, tmp_path: Path) -> None:
    open_data(riverside, "--country", "GBR")
    out = tmp_path / "repairs.csv"
    out.write_text("old\n", encoding="utf-8")
    result = circulo(riverside, "repairs", "export", "--format", "ords", "--out", str(out))
    assert result.exit_code == 0
    assert f"{len(CATEGORIES)} repairs written to {out}" in result.stderr
    assert out.read_text(encoding="utf-8").startswith("id,data_provider,country,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repairs.csv"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--country", "XYZ"), "country 'XYZ' is not an ISO 3166-1 alpha-3 code"),
        (("--country", "GB"), "country 'GB' is not an ISO 3166-1 alpha-3 code"),
        (("--country", "GBR", "--data-provider", "two\nlines"), "data provider must be one printable line"),
    ],
)
def test_open_data_settings_are_checked(riverside: str, options: tuple[str, ...], message: str) -> None:
    result = open_data(riverside, *options)
    assert result.exit_code != 0
    assert message in result.output
    assert open_data(riverside, "--json").stdout.strip() == "null"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2025-13-01"), "error: --from '2025-13-01' is not a date YYYY-MM-DD"),
        (("--from", "2025-06-09", "--to", "2025-06-08"), "error: --from 2025-06-09 is after --to 2025-06-08"),
        (("--coop", "nowhere"), "error: co-op nowhere is not registered"),
    ],
)
def test_bad_options_are_one_error_line(riverside: str, args: tuple[str, ...], message: str) -> None:
    result = circulo(riverside, "repairs", "export", "--format", "ords", *args)
    assert result.exit_code != 0
    assert result.output.strip() == message
