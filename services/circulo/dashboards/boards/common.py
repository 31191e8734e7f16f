"""What every Circulo dashboard shares: variables, time settings, links, panel helpers."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from circulo.dashboards.query import (
    TABLE,
    TIME_SERIES,
    QueryFormat,
    SqlQueryBuilder,
    datasource_ref,
    read_sql,
)

TAG = "circulo"
FOLDER_TITLE = "Circulo"
QUICK_RANGES = (
    ("Today", "now/d", "now/d"),
    ("Yesterday", "now-1d/d", "now-1d/d"),
    ("This week", "now/w", "now/w"),
    ("This month", "now/M", "now/M"),
    ("Last month", "now-1M/M", "now-1M/M"),
    ("This year", "now/y", "now/y"),
    ("Last 24 hours", "now-24h", "now"),
    ("Last 7 days", "now-7d", "now"),
    ("Last 30 days", "now-30d", "now"),
)

PanelT = TypeVar("PanelT", bound=Any)


def option(value: str, *, selected: bool = False) -> dm.VariableOption:
    """One choice of a variable."""
    return dm.VariableOption(text=value, value=value, selected=selected)


def coop_variable() -> db.QueryVariable:
    """``$coop``: one co-op, several, or All (every co-op's id, quoted)."""
    return (
        db.QueryVariable("coop")
        .label("Co-op")
        .description("The co-op(s) the panels show.")
        .datasource(datasource_ref())
        .query(read_sql("variables/coop"))
        .multi(True)
        .include_all(True)
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dm.VariableSort.DISABLED)
        .current(dm.VariableOption(text="All", value="$__all", selected=True))
    )


def resolution_variable(*values: str) -> db.CustomVariable:
    """``$resolution``: the bucket size of the time series (which rollup they read)."""
    return (
        db.CustomVariable("resolution")
        .label("Resolution")
        .description("Bucket size of the charts over time.")
        .values(",".join(values))
        .current(option(values[0], selected=True))
        .options([option(v, selected=i == 0) for i, v in enumerate(values)])
    )


def new_dashboard(uid: str, title: str, description: str, *, resolutions: tuple[str, ...]) -> db.Dashboard:
    """A dashboard with the co-op and resolution variables, quick ranges and links to the others."""
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .timezone("browser")
        .time("now-24h", "now")
        .refresh("1m")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .timepicker(
            db.TimePicker()
            .refresh_intervals(["30s", "1m", "5m", "15m", "1h"])
            .quick_ranges([db.TimeOption().display(d).from_val(f).to(t) for d, f, t in QUICK_RANGES])
        )
        .link(
            db.DashboardLink("Circulo dashboards")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_variable(coop_variable())
        .with_variable(resolution_variable(*resolutions))
    )


def target(name: str, fmt: QueryFormat = TIME_SERIES, ref_id: str = "A") -> SqlQueryBuilder:
    """The panel query whose SQL is ``sql/<name>.sql``."""
    return SqlQueryBuilder.from_file(name, fmt).ref_id(ref_id)


def table_target(name: str) -> SqlQueryBuilder:
    """A query Grafana reads as a table."""
    return target(name, TABLE)


def on_datasource(panel: PanelT, title: str, description: str, width: int, height: int) -> PanelT:
    """Title, description, size and the TimescaleDB data source, common to every panel."""
    titled: PanelT = panel.title(title).description(description).span(width).height(height)
    return titled.datasource(datasource_ref())  # type: ignore[no-any-return]  # SDK builders return Self


def series_panel(title: str, description: str, width: int, height: int) -> timeseries.Panel:
    """A time series panel with its legend as a table and a shared tooltip."""
    panel: timeseries.Panel = on_datasource(timeseries.Panel(), title, description, width, height)
    return panel.legend(
        cb.VizLegendOptions()
        .show_legend(True)
        .display_mode(cm.LegendDisplayMode.LIST)
        .placement(cm.LegendPlacement.BOTTOM)
        .calcs([])
    ).tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))


def table_panel(title: str, description: str, width: int, height: int) -> table.Panel:
    """A table panel showing the first frame with its header."""
    panel: table.Panel = on_datasource(table.Panel(), title, description, width, height)
    return panel.frame_index(0).show_header(True)


def stat_panel(name: str, title: str, description: str, unit: str, *, width: int = 6) -> stat.Panel:
    """A single number computed by ``sql/<name>.sql``."""
    panel: stat.Panel = on_datasource(stat.Panel(), title, description, width, 4)
    return (
        panel.with_target(table_target(name))
        .unit(unit)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(cm.BigValueColorMode.VALUE)
        .reduce_options(reduce_last())
    )


def reduce_last() -> cb.ReduceDataOptions:
    """Show the last non-null value of every numeric field."""
    return cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def thresholds(*steps: tuple[float, str]) -> db.ThresholdsConfig:
    """Absolute thresholds: (from value, colour); Grafana treats the first step as the base (-infinity)."""
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=value, color=color) for value, color in steps])
    )


def encode(dashboard: db.Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, with panel ids numbered in layout order."""
    model = dashboard.build()
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number
    document: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(model))
    return document
