"""Recycling and repair: deposits, kg diverted, bin fill on a map, collections, repairs, RCY."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, common, geomap, piechart, table, timeseries
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from circulo.dashboards.boards.common import (
    new_dashboard,
    on_datasource,
    series_panel,
    stat_panel,
    table_panel,
    table_target,
    target,
    thresholds,
)

UID = "circulo-recycling"
FILL_THRESHOLDS = ((0, "green"), (60, "yellow"), (85, "red"))
MARKER_STYLE = {
    "color": {"field": "Fill %", "fixed": "dark-green"},
    "size": {"fixed": 10, "min": 4, "max": 16},
    "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
    "opacity": 0.8,
}


def bin_map() -> geomap.Panel:
    """Each bin at its location, coloured by its last fill level in the range."""
    panel: geomap.Panel = on_datasource(
        geomap.Panel(),
        "Bin fill levels",
        "Each bin's last fill level in the range, at its registered location.",
        12,
        12,
    )
    markers = (
        common.MapLayerOptions()
        .type("markers")
        .name("Bins")
        .tooltip(True)
        .location(common.FrameGeometrySource().mode(cm.FrameGeometrySourceMode.COORDS)
                  .latitude("latitude").longitude("longitude"))
        .config({"showLegend": True, "style": MARKER_STYLE})
    )  # fmt: skip
    return (
        panel.with_target(table_target("recycling/bin_map"))
        .view(geomap.MapViewConfig().id("fit").all_layers(True).zoom(15))
        .basemap(common.MapLayerOptions().type("default").name("Basemap"))
        .layers([markers])
        .unit("percent")
        .min(0)
        .max(100)
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .thresholds(thresholds(*FILL_THRESHOLDS))
    )


def deposits_row(dashboard: db.Dashboard) -> db.Dashboard:
    """Totals, deposits by material over time, by site, and the material mix."""
    by_material: timeseries.Panel = series_panel(
        "Deposits by material per $resolution", "Kilograms deposited per material.", 10, 9
    )
    by_site: barchart.Panel = on_datasource(
        barchart.Panel(), "Deposits by site", "Kilograms deposited at each site, by material group.", 8, 9
    )
    mix: piechart.Panel = on_datasource(
        piechart.Panel(), "Material mix", "Share of each material in clean deposits (kg).", 6, 9
    )
    return (
        dashboard.with_row(db.Row("Deposits"))
        .with_panel(stat_panel("recycling/kg_diverted", "Diverted from waste",
                               "Clean deposits plus repaired items, in kilograms.", "masskg"))
        .with_panel(stat_panel("recycling/deposits_count", "Deposits and items",
                               "Deposits made and items they held.", "none"))
        .with_panel(stat_panel("recycling/rcy_total", "RCY minted",
                               "Recycling tokens minted for deposits and repairs in the range.", "none"))
        .with_panel(stat_panel("recycling/co2e_avoided", "CO2e avoided by repairs",
                               "Reported, not minted: reference footprint x 50 % per fixed item.", "masskg"))
        .with_panel(by_material.with_target(target("recycling/deposits_by_material")).unit("masskg").min(0)
                    .draw_style(cm.GraphDrawStyle.BARS).fill_opacity(70)
                    .stacking(common.StackingConfig().mode(cm.StackingMode.NORMAL)))
        .with_panel(by_site.with_target(table_target("recycling/deposits_by_site")).unit("masskg").x_field("Site")
                    .stacking(cm.StackingMode.NORMAL).orientation(cm.VizOrientation.HORIZONTAL))
        .with_panel(mix.with_target(table_target("recycling/materials_share")).unit("masskg")
                    .reduce_options(common.ReduceDataOptions().values(True).calcs(["lastNotNull"])))
    )  # fmt: skip


def bins_row(dashboard: db.Dashboard) -> db.Dashboard:
    """The bin map, fill over time and the mass balance of collections."""
    fill: timeseries.Panel = series_panel("Bin fill over time", "Fill level of each bin per hour.", 12, 12)
    collections: table.Panel = table_panel("Collections and mass balance",
        "Each collection against what was deposited since the previous one; over 15 % more "
        "deposited than collected is a mass_balance flag and mints no RCY.", 24, 8,
    )  # fmt: skip
    return (
        dashboard.with_row(db.Row("Bins and collections"))
        .with_panel(bin_map())
        .with_panel(fill.with_target(target("recycling/bin_fill")).unit("percent").min(0).max(100)
                    .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.PALETTE_CLASSIC)))
        .with_panel(collections.with_target(table_target("recycling/collections")))
        .with_panel(table_panel("Excluded from rewards",
                                  "Deposits and repairs that minted nothing, and why (rewards flags).", 24, 8)
                    .with_target(table_target("recycling/reward_flags")))
    )  # fmt: skip


def repairs_row(dashboard: db.Dashboard) -> db.Dashboard:
    """Repairs by category and outcome, and RCY minted over time."""
    categories: barchart.Panel = on_datasource(
        barchart.Panel(), "Repairs by category and outcome", "Items brought to repair stations.", 12, 9
    )
    outcomes: piechart.Panel = on_datasource(
        piechart.Panel(), "Repair outcomes", "Fixed, repairable, end of life.", 12, 9
    )
    minted: timeseries.Panel = series_panel(
        "RCY minted per $resolution", "Recycling tokens minted, by reason.", 24, 8
    )
    return (
        dashboard.with_row(db.Row("Repairs and tokens"))
        .with_panel(categories.with_target(table_target("recycling/repairs_by_category")).x_field("Category")
                    .stacking(cm.StackingMode.NORMAL).orientation(cm.VizOrientation.HORIZONTAL))
        .with_panel(outcomes.with_target(table_target("recycling/repair_outcomes"))
                    .reduce_options(common.ReduceDataOptions().values(True).calcs(["lastNotNull"])))
        .with_panel(minted.with_target(target("recycling/rcy_minted")).unit("none").min(0)
                    .draw_style(cm.GraphDrawStyle.BARS).fill_opacity(70)
                    .stacking(common.StackingConfig().mode(cm.StackingMode.NORMAL)))
    )  # fmt: skip


def dashboard() -> db.Dashboard:
    """The recycling and repair dashboard."""
    board = new_dashboard(
        UID,
        "Circulo · Recycling and repair",
        "What members brought to the bins and repair stations, what was collected, and the RCY it earned.",
        resolutions=("hour", "day"),
    )
    return repairs_row(bins_row(deposits_row(board)))
