"""Site surveys and device rules: every bad row is named by its line, nothing else is read into it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from circulo.registry.model import Device, DeviceSpec
from circulo.registry.survey import SurveyError, SurveyRow, plan_import, read_survey
from circulo.registry.validation import spec_problems

HEADER = "kind,device_id,coop_id,lat,lon,location_name,rated_power_w,capacity_kg,installer,notes\n"
GOOD = (
    HEADER
    + "meter,m-1,coop1,52.37,4.89,Roof A,5000,,Sam,\n"
    + 'bin,b-1,coop1,,,Market square,,240.5,Sam,"big, green"\n'
    + "repair,r-1,coop1,,,Library,,,Ana,\n"
)


def test_a_good_survey_gives_one_specification_per_row_with_its_line() -> None:
    rows = read_survey(GOOD)
    assert [(r.line, r.spec.device_id) for r in rows] == [(2, "m-1"), (3, "b-1"), (4, "r-1")]
    assert rows[0].spec == DeviceSpec("meter", "m-1", "coop1", 52.37, 4.89, "Roof A", 5000, None, "Sam", None)
    assert rows[1].spec.capacity_kg == Decimal("240.5")
    assert rows[1].spec.notes == "big, green"


def test_columns_may_come_in_any_order_and_optional_ones_may_be_left_out() -> None:
    rows = read_survey("coop_id,device_id,kind,rated_power_w\ncoop1,m-1,meter,100\n")
    assert rows[0].spec == DeviceSpec("meter", "m-1", "coop1", rated_power_w=100)


def test_a_spreadsheet_byte_order_mark_blank_lines_and_padding_are_tolerated() -> None:
    rows = read_survey("\ufeffkind , device_id,coop_id\n\n  bin ,b-1, coop1 \n,,\n")
    assert [(r.line, r.spec) for r in rows] == [(3, DeviceSpec("bin", "b-1", "coop1"))]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("meter,m-2,coop1,,,,,,,", "a meter needs rated_power_w"),
        ("meter,m-2,coop1,,,,5000.5,,,", "rated_power_w '5000.5' must be a whole number"),
        ("meter,m-2,coop1,95,4,,5000,,,", "lat 95.0 is outside -90..90"),
        ("meter,m-2,coop1,52,,,5000,,,", "lat and lon go together"),
        ("meter,m-2,coop1,north,4,,5000,,,", "lat 'north' is not a number"),
        ("bin,b-2,coop1,,,,,1.2345,,", "capacity_kg 1.2345 has more than 3 decimals"),
        ("bin,b-2,coop1,,,,,-3,,", "capacity_kg -3 must be > 0"),
        ("bin,b-2,coop1,,,,100,,,", "rated_power_w is for meters only"),
        ("repair,r-2,coop1,,,,,40,,", "capacity_kg is for bins only"),
        ("toaster,t-2,coop1,,,,,,,", "kind 'toaster' is not one of meter, bin, repair"),
        ("bin,b/2,coop1,,,,,,,", "device_id 'b/2' must be 1-64 letters"),
        ("bin,,coop1,,,,,,,", "device_id '' must be"),
        ("bin,b-2,coop one,,,,,,,", "coop_id 'coop one' must be"),
        ("bin,b-2,coop1,,,,,,,,extra", "more cell(s) than the header has columns"),
        ("meter,m-1,coop1,,,,5000,,,", "device_id m-1 is already on line 2"),
    ],
)
def test_a_bad_row_is_reported_with_its_line_number(row: str, message: str) -> None:
    text = HEADER + "meter,m-1,coop1,,,,5000,,,\n" + row + "\n"
    with pytest.raises(SurveyError) as raised:
        read_survey(text, "site.csv")
    assert [p.line for p in raised.value.problems] == [3]
    assert message in raised.value.problems[0].message
    assert raised.value.message.startswith("site.csv: 1 problem, nothing applied: line 3: ")


def test_every_bad_row_is_reported_not_only_the_first() -> None:
    text = HEADER + "meter,m-1,coop1,,,,,,,\nbin,b-1,coop1,,,,,,,\nbin,b-2,coop1,99,0,,,,,\n"
    with pytest.raises(SurveyError) as raised:
        read_survey(text)
    assert [p.line for p in raised.value.problems] == [2, 4]


def test_a_quoted_cell_spanning_lines_keeps_the_numbering_of_later_rows() -> None:
    text = HEADER + 'bin,b-1,coop1,,,,,,,"two\nlines"\nbin,b-2,coop1,,,,,-1,,\n'
    with pytest.raises(SurveyError) as raised:
        read_survey(text)
    assert [p.line for p in raised.value.problems] == [4]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("kind,device_id,coop,notes\n", "unknown column 'coop'"),
        ("kind,device_id\n", "missing column 'coop_id'"),
        ("kind,device_id,coop_id,kind\n", "column 'kind' appears twice"),
        (HEADER, "no devices in the file"),
    ],
)
def test_a_bad_header_or_an_empty_file_is_reported_on_line_one(text: str, message: str) -> None:
    with pytest.raises(SurveyError) as raised:
        read_survey(text)
    assert raised.value.problems[0].line == 1
    assert message in raised.value.problems[0].message


def registered(spec: DeviceSpec, status: str = "active") -> Device:
    at = datetime(2025, 6, 1, tzinfo=UTC)
    retired_at = at if status == "retired" else None
    return Device(spec, status, at, None, retired_at, at, 1, at, "provisioned")


def test_rows_already_registered_as_they_are_are_unchanged_and_the_rest_new() -> None:
    rows = read_survey(GOOD)
    plan = plan_import(rows, {"m-1": registered(rows[0].spec)}, {"coop1"})
    assert [r.spec.device_id for r in plan.new] == ["b-1", "r-1"]
    assert [r.spec.device_id for r in plan.unchanged] == ["m-1"]


def test_a_capacity_written_differently_but_equal_is_unchanged() -> None:
    rows = read_survey(HEADER + "bin,b-1,coop1,,,,,240.500,,\n")
    spec = DeviceSpec("bin", "b-1", "coop1", capacity_kg=Decimal("240.5"))
    assert plan_import(rows, {"b-1": registered(spec)}, {"coop1"}).unchanged == tuple(rows)


@pytest.mark.parametrize(
    ("known", "coops", "message"),
    [
        ({}, set(), "co-op coop1 is not registered"),
        ({"m-1": "retired"}, {"coop1"}, "device m-1 is retired; a retired id is not reused"),
        ({"m-1": "other"}, {"coop1"}, "registered with other details (rated_power_w: 4000 → 5000)"),
    ],
)
def test_rows_the_registry_contradicts_stop_the_import_with_their_line(
    known: dict[str, str], coops: set[str], message: str
) -> None:
    rows = read_survey(GOOD)
    spec = rows[0].spec
    devices = {
        device_id: registered(DeviceSpec("meter", "m-1", "coop1", 52.37, 4.89, "Roof A", 4000, None, "Sam"))
        if state == "other"
        else registered(spec, state)
        for device_id, state in known.items()
    }
    with pytest.raises(SurveyError) as raised:
        plan_import(rows, devices, coops, "site.csv")
    assert raised.value.problems[0].line == 2
    assert message in raised.value.problems[0].message


@pytest.mark.parametrize(
    ("spec", "problems"),
    [
        (DeviceSpec("meter", "m", "c", rated_power_w=1), []),
        (DeviceSpec("bin", "b", "c", lat=0.0, lon=0.0, capacity_kg=Decimal("0.001")), []),
        (DeviceSpec("meter", "m", "c", rated_power_w=0), ["rated_power_w 0 must be a whole number"]),
        (DeviceSpec("bin", "b", "c", lon=181.0, lat=0.0), ["lon 181.0 is outside -180..180"]),
        (DeviceSpec("bin", "b", "c", location_name="a\nb"), ["location_name has control characters"]),
        (DeviceSpec("bin", "b", "c", notes="x" * 2001), ["notes is longer than 2000 characters"]),
        (DeviceSpec("bin", "b", "c", lat=float("nan"), lon=0.0), ["lat nan is outside -90..90"]),
    ],
)
def test_device_rules_from_a_table(spec: DeviceSpec, problems: list[str]) -> None:
    found = spec_problems(spec)
    assert len(found) == len(problems)
    for text, expected in zip(found, problems, strict=True):
        assert text.startswith(expected)


def test_survey_row_is_frozen() -> None:
    row = SurveyRow(2, DeviceSpec("bin", "b", "c"))
    with pytest.raises(AttributeError):
        row.line = 3  # type: ignore[misc]
