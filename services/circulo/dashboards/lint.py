"""Checks Grafana enforces on a dashboard model (or silently breaks on), as pure functions.

Each check returns a list of problems (empty when fine): unique panel ids, unique refIds
within a panel, panels inside the 24-column grid, uid at most 40 characters, every
``$var`` used by a query or title defined, every data source uid provisioned.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

GRID_COLUMNS = 24
MAX_UID_LENGTH = 40
VARIABLE_USE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::\w+)?\]\]|\$\{(\w+)(?:\.[^:^\}]+)?(?::[^\}]+)?\}")
# Grafana's own variables and the SQL macros (which are expanded on the server).
BUILT_IN = re.compile(r"^__\w+$")


def panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for panel in model.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def unique_panel_ids(model: dict[str, Any]) -> list[str]:
    """Panel ids are present and unique."""
    ids = [panel.get("id") for panel in panels(model)]
    problems = [
        f"panel {panel.get('title')!r} has no id" for panel in panels(model) if panel.get("id") is None
    ]
    duplicates = sorted({i for i in ids if i is not None and ids.count(i) > 1})
    return problems + [f"panel id {i} is used more than once" for i in duplicates]


def unique_ref_ids(model: dict[str, Any]) -> list[str]:
    """Within a panel, every target has its own refId."""
    problems = []
    for panel in panels(model):
        ref_ids = [target.get("refId") for target in panel.get("targets", [])]
        if None in ref_ids or len(set(ref_ids)) != len(ref_ids):
            problems.append(f"panel {panel.get('title')!r}: refIds {ref_ids} are not unique")
    return problems


def grid_fits(model: dict[str, Any]) -> list[str]:
    """Every panel lies within the 24 columns, with a positive size."""
    problems = []
    for panel in panels(model):
        grid = panel.get("gridPos", {})
        x, w, h = grid.get("x", 0), grid.get("w", 0), grid.get("h", 0)
        if x < 0 or w <= 0 or h <= 0 or x + w > GRID_COLUMNS:
            problems.append(f"panel {panel.get('title')!r}: gridPos {grid} is outside the 24-column grid")
    return problems


def uid_length(model: dict[str, Any]) -> list[str]:
    """Grafana refuses a dashboard uid longer than 40 characters."""
    uid = model.get("uid") or ""
    return [] if 0 < len(uid) <= MAX_UID_LENGTH else [f"dashboard uid {uid!r} must be 1-40 characters"]


def used_variables(text: str) -> set[str]:
    """The variable names a text refers to (Grafana's syntaxes), built-ins excepted."""
    names = {next(g for g in match.groups() if g) for match in VARIABLE_USE.finditer(text)}
    return {name for name in names if not BUILT_IN.match(name)}


def defined_variables(model: dict[str, Any]) -> set[str]:
    """The dashboard's template variables."""
    return {variable["name"] for variable in model.get("templating", {}).get("list", [])}


def variables_defined(model: dict[str, Any]) -> list[str]:
    """Every ``$var`` in a query, title or variable query is a defined variable."""
    defined = defined_variables(model)
    texts = [(f"panel {p.get('title')!r}", p.get("title", "")) for p in panels(model)]
    texts += [
        (f"panel {p.get('title')!r}", t.get("rawSql", ""))
        for p in panels(model)
        for t in p.get("targets", [])
    ]
    texts += [
        (f"variable {v['name']!r}", str(v.get("query", "")))
        for v in model.get("templating", {}).get("list", [])
    ]
    return [
        f"{where} uses undefined variable ${name}"
        for where, text in texts
        for name in sorted(used_variables(text) - defined)
    ]


def datasource_uids(model: dict[str, Any]) -> set[str]:
    """Every data source uid a panel, target or variable names."""
    refs = [p.get("datasource") for p in panels(model)]
    refs += [t.get("datasource") for p in panels(model) for t in p.get("targets", [])]
    refs += [v.get("datasource") for v in model.get("templating", {}).get("list", [])]
    return {ref["uid"] for ref in refs if isinstance(ref, dict) and "uid" in ref}


def datasources_provisioned(model: dict[str, Any], provisioned: set[str]) -> list[str]:
    """Every data source uid the dashboard uses is one the provisioning defines."""
    return [
        f"data source uid {uid!r} is not provisioned" for uid in sorted(datasource_uids(model) - provisioned)
    ]


def lint(model: dict[str, Any], provisioned: set[str]) -> list[str]:
    """All checks; the empty list means Grafana will load the dashboard as intended."""
    return (
        unique_panel_ids(model)
        + unique_ref_ids(model)
        + grid_fits(model)
        + uid_length(model)
        + variables_defined(model)
        + datasources_provisioned(model, provisioned)
    )
