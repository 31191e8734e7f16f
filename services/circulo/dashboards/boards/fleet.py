"""Fleet health for installers: online state, last seen, battery, signal, loss, quarantine, and
transport security (certificate expiry, the CRL's age: SPEC §9)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, common, statetimeline, table, timeseries
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

UID = "circulo-fleet"
ONLINE_MAPPING = dm.ValueMap(
    options={
        "0": dm.ValueMappingResult(text="offline", color="red", index=0),
        "1": dm.ValueMappingResult(text="online", color="green", index=1),
    }
)


def state_row(dashboard: db.Dashboard) -> db.Dashboard:
    """Online counts, message loss, the device table and online history."""
    devices: table.Panel = table_panel(
        "Devices", "Every device in service: state, last seen, firmware, message loss.", 24, 10
    )
    history: statetimeline.Panel = on_datasource(
        statetimeline.Panel(), "Online history", "Status changes (last will: offline) per device.", 24, 8
    )
    return (
        dashboard.with_row(db.Row("State"))
        .with_panel(stat_panel("fleet/online", "Devices online", "Devices in service online, and the rest.",
                               "none", width=12))
        .with_panel(stat_panel("fleet/message_loss_total", "Message loss",
                               "Messages missing from sequence-number gaps, over all received and missing.",
                               "percent", width=12)
                    .thresholds(thresholds((0, "green"), (1, "yellow"), (5, "red"))))
        .with_panel(devices.with_target(table_target("fleet/devices")))
        .with_panel(history.with_target(target("fleet/online_history")).mappings([ONLINE_MAPPING])
                    .show_value(cm.VisibilityMode.NEVER).merge_values(True))
    )  # fmt: skip


def radio_row(dashboard: db.Dashboard) -> db.Dashboard:
    """Loss by device, battery and signal of the bins."""
    loss: bargauge.Panel = on_datasource(
        bargauge.Panel(), "Message loss by device", "Share of each device's messages lost in transit.", 8, 9
    )
    battery: timeseries.Panel = series_panel(
        "Battery per $resolution", "Lowest battery level of each bin.", 8, 9
    )
    signal: timeseries.Panel = series_panel(
        "Signal per $resolution", "Average received signal strength of each bin.", 8, 9
    )
    return (
        dashboard.with_row(db.Row("Radio and power"))
        .with_panel(loss.with_target(table_target("fleet/message_loss")).unit("percent").min(0)
                    .orientation(cm.VizOrientation.HORIZONTAL)
                    .reduce_options(common.ReduceDataOptions().values(True).calcs(["lastNotNull"]))
                    .thresholds(thresholds((0, "green"), (1, "yellow"), (5, "red"))))
        .with_panel(battery.with_target(target("fleet/battery")).unit("percent").min(0).max(100)
                    .thresholds(thresholds((0, "red"), (20, "yellow"), (40, "green"))))
        .with_panel(signal.with_target(target("fleet/signal")).unit("dBm"))
    )  # fmt: skip


def quarantine_row(dashboard: db.Dashboard) -> db.Dashboard:
    """Quarantined messages by reason over time and by device."""
    by_reason: timeseries.Panel = series_panel(
        "Quarantined by reason per $resolution", "Messages the ingest refused.", 12, 9
    )
    by_device: table.Panel = table_panel(
        "Quarantined by device", "Which devices send what the ingest refuses, and why.", 12, 9
    )
    return (
        dashboard.with_row(db.Row("Quarantine"))
        .with_panel(by_reason.with_target(target("fleet/quarantine_by_reason")).unit("none").min(0)
                    .draw_style(cm.GraphDrawStyle.BARS).fill_opacity(70)
                    .stacking(common.StackingConfig().mode(cm.StackingMode.NORMAL)))
        .with_panel(by_device.with_target(table_target("fleet/quarantine_by_device")))
    )  # fmt: skip


def security_row(dashboard: db.Dashboard) -> db.Dashboard:
    """Days left of the broker's certificate, the CRL's age, and every certificate in use."""
    certificates: table.Panel = table_panel(
        "Certificates: days left",
        "CAs, servers and this co-op's devices, soonest expiry first (renew 30 days ahead).",
        24, 8,
    )  # fmt: skip
    return (
        dashboard.with_row(db.Row("Transport security"))
        .with_panel(stat_panel("fleet/broker_certificate_days", "Broker certificate",
                               "Days until the broker's certificate expires: devices cannot connect after.",
                               "d", width=12)
                    .thresholds(thresholds((0, "red"), (14, "yellow"), (30, "green"))))
        .with_panel(stat_panel("fleet/crl_age", "Revocation list",
                               "Hours since the CRL was issued: re-issued daily, it expires after 7 days.",
                               "none", width=12)
                    .thresholds(thresholds((0, "green"), (48, "yellow"), (120, "red"))))
        .with_panel(certificates.with_target(table_target("fleet/certificates")))
    )  # fmt: skip


def dashboard() -> db.Dashboard:
    """The fleet health dashboard."""
    board = new_dashboard(
        UID,
        "Circulo · Fleet health",
        "For installers: which devices are online, how well their messages arrive, and what is refused.",
        resolutions=("hour", "day"),
    )
    return security_row(quarantine_row(radio_row(state_row(board))))
