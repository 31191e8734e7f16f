"""Site surveys: a CSV file of devices, read and checked row by row (pure).

Every row is checked before anything is applied; problems carry the line number the
installer sees in a spreadsheet or an editor (the header is line 1). Columns are named by
the header, in any order; ``kind``, ``device_id`` and ``coop_id`` are required, the rest
(model.SPEC_FIELDS) optional; an unknown column is an error, so a typo in a header does not
silently drop a column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from circulo.errors import CirculoError
from circulo.registry.model import SPEC_FIELDS, Device, DeviceSpec, spec_differences
from circulo.registry.validation import (
    InvalidValue,
    parse_coordinate,
    parse_kilograms,
    parse_profile,
    parse_watts,
    spec_problems,
    text_or_none,
)
from circulo_schemas.profiles import CIRCULO

if TYPE_CHECKING:
    from _csv import Reader

T = TypeVar("T")
REQUIRED_COLUMNS = ("kind", "device_id", "coop_id")
MAX_PROBLEMS_SHOWN = 10


@dataclass(frozen=True)
class SurveyRow:
    """One device of a survey and the line it starts on."""

    line: int
    spec: DeviceSpec


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one line of a survey."""

    line: int
    message: str


class SurveyError(CirculoError):
    """A survey has bad rows; nothing of it was applied."""

    def __init__(self, source: str, problems: list[RowProblem]) -> None:
        shown = "; ".join(f"line {p.line}: {p.message}" for p in problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        suffix = f"; and {more} more" if more > 0 else ""
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"{source}: {count}, nothing applied: {shown}{suffix}")
        self.source = source
        self.problems = problems


def read_survey(text: str, source: str = "survey") -> list[SurveyRow]:
    """Every device of a survey, or SurveyError naming each bad line."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = [cell.strip().lower() for cell in next(reader, [])]
    header_problems = _header_problems(header)
    if header_problems:
        raise SurveyError(source, [RowProblem(1, message) for message in header_problems])
    rows: list[SurveyRow] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for line, cells in _numbered_rows(reader, source):
        try:
            spec = spec_from_cells(
                dict(zip(header, cells, strict=False)), extra_cells=len(cells) - len(header)
            )
        except InvalidValue as e:
            problems.append(RowProblem(line, str(e)))
            continue
        if spec.device_id in seen:
            problems.append(
                RowProblem(line, f"device_id {spec.device_id} is already on line {seen[spec.device_id]}")
            )
            continue
        seen[spec.device_id] = line
        rows.append(SurveyRow(line, spec))
    if problems:
        raise SurveyError(source, problems)
    if not rows:
        raise SurveyError(source, [RowProblem(1, "no devices in the file")])
    return rows


def _header_problems(header: list[str]) -> list[str]:
    if not any(header):
        return ["empty file: expected a header line naming the columns, e.g. " + ",".join(SPEC_FIELDS)]
    known = ", ".join(SPEC_FIELDS)
    problems = [f"unknown column {name!r} (known: {known})" for name in header if name not in SPEC_FIELDS]
    problems += [f"column {name!r} appears twice" for name in sorted(set(header)) if header.count(name) > 1]
    problems += [f"missing column {name!r}" for name in REQUIRED_COLUMNS if name not in header]
    return problems


def _numbered_rows(reader: Reader, source: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows with the line each starts on (a quoted cell may span lines)."""
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise SurveyError(source, [RowProblem(start, f"not valid CSV: {e}")]) from e
        if any(cell.strip() for cell in cells):
            yield start, cells


def spec_from_cells(cells: Mapping[str, str], *, extra_cells: int = 0) -> DeviceSpec:
    """A device specification from one row's cells; InvalidValue lists every problem."""
    if extra_cells > 0:
        raise InvalidValue(f"{extra_cells} more cell(s) than the header has columns (a stray comma?)")
    problems: list[str] = []
    spec = DeviceSpec(
        kind=_read(text_or_none, "kind", cells, problems) or "",
        device_id=_read(text_or_none, "device_id", cells, problems) or "",
        coop_id=_read(text_or_none, "coop_id", cells, problems) or "",
        lat=_read(parse_coordinate, "lat", cells, problems),
        lon=_read(parse_coordinate, "lon", cells, problems),
        location_name=_read(text_or_none, "location_name", cells, problems),
        rated_power_w=_read(parse_watts, "rated_power_w", cells, problems),
        capacity_kg=_read(parse_kilograms, "capacity_kg", cells, problems),
        installer=_read(text_or_none, "installer", cells, problems),
        notes=_read(text_or_none, "notes", cells, problems),
        profile=_read(parse_profile, "profile", cells, problems) or CIRCULO,
    )
    problems = problems or spec_problems(spec)
    if problems:
        raise InvalidValue("; ".join(problems))
    return spec


def _read(
    parser: Callable[[str, str], T | None], name: str, cells: Mapping[str, str], problems: list[str]
) -> T | None:
    """One parsed cell; a problem is collected (not raised) so a row reports all of them."""
    try:
        return parser(name, cells.get(name, ""))
    except InvalidValue as e:
        problems.append(str(e))
        return None


@dataclass(frozen=True)
class ImportPlan:
    """A checked survey against the registry: rows to register, rows already registered as they are."""

    new: tuple[SurveyRow, ...]
    unchanged: tuple[SurveyRow, ...]


def plan_import(
    rows: Sequence[SurveyRow], registered: Mapping[str, Device], coops: Set[str], source: str = "survey"
) -> ImportPlan:
    """Split a survey into new and unchanged rows, or SurveyError for rows the registry contradicts."""
    new: list[SurveyRow] = []
    unchanged: list[SurveyRow] = []
    problems: list[RowProblem] = []
    for row in rows:
        device = registered.get(row.spec.device_id)
        problem = registry_problem(row.spec, device, coops)
        if problem:
            problems.append(RowProblem(row.line, problem))
        else:
            (new if device is None else unchanged).append(row)
    if problems:
        raise SurveyError(source, problems)
    return ImportPlan(tuple(new), tuple(unchanged))


def registry_problem(spec: DeviceSpec, device: Device | None, coops: Set[str]) -> str | None:
    """Why a survey row cannot be applied to the registry as it is, or None."""
    if device is None:
        return None if spec.coop_id in coops else f"co-op {spec.coop_id} is not registered (circulo coop add)"
    if device.retired:
        return f"device {spec.device_id} is retired; a retired id is not reused"
    differences = spec_differences(device.spec, spec)
    if differences:
        changed = ", ".join(differences)
        return f"device {spec.device_id} is registered with other details ({changed}): see `device update`"
    return None
