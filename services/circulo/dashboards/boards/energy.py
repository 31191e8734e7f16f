"""Co-op energy: what the co-op generates now, per hour and day, per meter, and the GRN it earns."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, common, gauge, table, timeseries
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm

from circulo.dashboards.boards.common import (
    new_dashboard,
    on_datasource,
    reduce_last,
    series_panel,
    stat_panel,
    table_panel,
    table_target,
    target,
    thresholds,
)

UID = "circulo-energy"


def energy_chart(name: str, title: str, description: str, *, stacked: bool) -> timeseries.Panel:
    """kWh per bucket as bars, stacked per series when they add up to a whole."""
    panel: timeseries.Panel = series_panel(title, description, 12, 9)
    return (
        panel.with_target(target(name))
        .unit("kwatth")
        .min(0)
        .draw_style(cm.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .stacking(common.StackingConfig().mode(cm.StackingMode.NORMAL if stacked else cm.StackingMode.NONE))
        .legend(common.VizLegendOptions().show_legend(True).display_mode(cm.LegendDisplayMode.TABLE)
                .placement(cm.LegendPlacement.RIGHT).calcs(["sum"]))
    )  # fmt: skip


def now_row(dashboard: db.Dashboard) -> db.Dashboard:
    """Generation now, share of capacity, energy in the range, meters reporting."""
    capacity: gauge.Panel = on_datasource(
        gauge.Panel(), "Share of capacity", "Generation now over the rated power of the co-op's meters.", 6, 4
    )
    return (
        dashboard.with_row(db.Row("Now"))
        .with_panel(stat_panel("energy/generation_now", "Generation now",
                               "Sum of each meter's last power reading (older than 15 min: 0).", "kwatt"))
        .with_panel(capacity.with_target(table_target("energy/capacity_share")).unit("percent").min(0).max(100)
                    .reduce_options(reduce_last())
                    .thresholds(thresholds((0, "blue"), (20, "yellow"), (60, "green"))))
        .with_panel(stat_panel("energy/energy_total", "Energy in range",
                               "Energy generated in the range (counter resets credit nothing).", "kwatth"))
        .with_panel(stat_panel("energy/meters_reporting", "Meters reporting",
                               "Meters with at least one reading in the time range.", "none"))
    )  # fmt: skip


def over_time_row(dashboard: db.Dashboard) -> db.Dashboard:
    """Energy per hour or day for the co-op and per meter, and power per meter."""
    power: timeseries.Panel = series_panel(
        "Power per meter",
        "Average power of each meter per hour (per day, from its energy, beyond 31 days).",
        24,
        8,
    )
    return (
        dashboard.with_row(db.Row("Energy over time"))
        .with_panel(energy_chart("energy/coop_energy", "Co-op energy per $resolution",
                                 "Energy the co-op generated per hour or day (rollups).", stacked=True))
        .with_panel(energy_chart("energy/meter_energy", "Energy per meter per $resolution",
                                 "Each meter's energy per hour or day (rollups; days beyond 31 days).",
                                 stacked=True))
        .with_panel(power.with_target(target("energy/meter_power")).unit("kwatt").min(0).fill_opacity(10))
    )  # fmt: skip


def meters_row(dashboard: db.Dashboard) -> db.Dashboard:
    """Top producers and each meter's generation now."""
    top: bargauge.Panel = on_datasource(
        bargauge.Panel(), "Top producers", "The ten meters that generated most in the time range.", 12, 9
    )
    meters: table.Panel = table_panel(
        "Meters now",
        "Each meter's last power reading and its share of the meter's rating.",
        12,
        9,
    )
    return (
        dashboard.with_row(db.Row("Meters"))
        .with_panel(top.with_target(table_target("energy/top_producers")).unit("kwatth").min(0)
                    .orientation(cm.VizOrientation.HORIZONTAL).display_mode(cm.BarGaugeDisplayMode.GRADIENT)
                    .reduce_options(common.ReduceDataOptions().values(True).calcs(["lastNotNull"]).fields("/^kWh$/")))
        .with_panel(meters.with_target(table_target("energy/meter_now")))
    )  # fmt: skip


def credits_row(dashboard: db.Dashboard) -> db.Dashboard:
    """GRN minted per hour and members' GRN this month."""
    minted: timeseries.Panel = series_panel(
        "GRN minted per $resolution",
        "Green credits minted for the co-op, less corrections.",
        12,
        9,
    )
    members: table.Panel = table_panel(
        "Members' GRN this month", "Each account's green credits this calendar month.", 12, 9
    )
    return (
        dashboard.with_row(db.Row("Green credits"))
        .with_panel(stat_panel("energy/grn_total", "GRN minted in range",
                               "Green credits minted, less corrections.", "none", width=24))
        .with_panel(minted.with_target(target("energy/grn_minted")).unit("none").min(0)
                    .draw_style(cm.GraphDrawStyle.BARS).fill_opacity(70))
        .with_panel(members.with_target(table_target("energy/members_grn")).time_from("now/M")
                    .hide_time_override(False))
    )  # fmt: skip


def certificates_row(dashboard: db.Dashboard) -> db.Dashboard:
    """EnergyTag certificates issued, claimed and held for the energy produced in the range."""
    holders: table.Panel = table_panel(
        "Certificates by holder",
        "Who holds the certificates (1 Wh each) for energy produced in the range, in kWh per status.",
        12,
        8,
    )
    return (
        dashboard.with_row(db.Row("Energy certificates"))
        .with_panel(stat_panel("energy/certificates_issued", "Certificates issued",
                               "Energy produced in the range that certificates were issued for (withdrawn "
                               "ones left out).", "kwatth", width=4))
        .with_panel(stat_panel("energy/certificates_claimed", "Certificates claimed",
                               "Of that, certificates whose attributes were claimed for a beneficiary.",
                               "kwatth", width=4))
        .with_panel(stat_panel("energy/certificates_held", "Certificates held",
                               "Of that, certificates still active and not expired: they can be sold or "
                               "claimed.", "kwatth", width=4))
        .with_panel(holders.with_target(table_target("energy/certificates_by_holder")))
    )  # fmt: skip


def dashboard() -> db.Dashboard:
    """The co-op energy dashboard."""
    board = new_dashboard(
        UID,
        "Circulo · Co-op energy",
        "Solar generation of the co-op's meters, the green credits (GRN) it earned and the energy "
        "certificates issued for it.",
        resolutions=("hour", "day"),
    )
    return certificates_row(credits_row(meters_row(over_time_row(now_row(board)))))
