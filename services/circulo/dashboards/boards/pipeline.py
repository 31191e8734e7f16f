"""Pipeline and ledger: ingest rate and lag, commit watermark, rewards cycles, replay, ledger health.

Everything here is read from the database (no Prometheus data source): the ingest's
throughput and delay from the per-minute rollup of receipt times, commit latency bounded
by each worker's low watermark (now - W), the rewards engine's settlements and progress
marks, replay gaps (SPEC §11: pending, recovered, final loss), and the ledger head with a
link check.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common, table, timeseries
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from circulo.dashboards.boards.common import (
    new_dashboard,
    series_panel,
    stat_panel,
    table_panel,
    table_target,
    target,
    thresholds,
)

UID = "circulo-pipeline"
LINKS_MAPPING = dm.ValueMap(
    options={
        "0": dm.ValueMappingResult(text="BROKEN", color="red", index=0),
        "1": dm.ValueMappingResult(text="OK", color="green", index=1),
    }
)


def ingest_row(dashboard: db.Dashboard) -> db.Dashboard:
    """Ingest rate, delay, workers and how far behind W and the rollups are."""
    rate: timeseries.Panel = series_panel(
        "Ingest rate", "Messages committed per minute, by stream (receipt time).", 12, 9
    )
    lag: timeseries.Panel = series_panel(
        "Delay from measurement to receipt", "Worst received_at - ts per bucket.", 12, 9
    )
    workers: table.Panel = table_panel("Ingest workers",
        "Heartbeats and low watermarks; commit lag = now - watermark bounds the commit latency.", 24, 6,
    )  # fmt: skip
    return (
        dashboard.with_row(db.Row("Ingest"))
        .with_panel(stat_panel("pipeline/watermark_lag", "W behind now",
                               "now - W: the oldest receipt time maybe still uncommitted.", "s", width=8)
                    .thresholds(thresholds((0, "green"), (30, "yellow"), (120, "red"))))
        .with_panel(stat_panel("pipeline/rollup_age", "Rollups behind now",
                               "now - the rollups' watermark (refreshed every rewards cycle).", "s", width=8)
                    .thresholds(thresholds((0, "green"), (300, "yellow"), (1800, "red"))))
        .with_panel(stat_panel("pipeline/broker_queue", "Broker queue",
                               "Messages the broker holds for its clients (sampled by circulo monitor).",
                               "none", width=8)
                    .thresholds(thresholds((0, "green"), (10000, "yellow"), (100000, "red"))))
        .with_panel(rate.with_target(target("pipeline/ingest_rate")).unit("none").min(0)
                    .stacking(common.StackingConfig().mode(cm.StackingMode.NORMAL)).fill_opacity(30))
        .with_panel(lag.with_target(target("pipeline/ingest_lag")).unit("s").min(0))
        .with_panel(workers.with_target(table_target("pipeline/workers")))
    )  # fmt: skip


def rewards_row(dashboard: db.Dashboard) -> db.Dashboard:
    """Settlements per bucket and each co-op's settled hours."""
    settlements: timeseries.Panel = series_panel(
        "Rewards settlements",
        "Settlements committed by the rewards engine, by kind.",
        12,
        8,
    )
    progress: table.Panel = table_panel(
        "Green settlement progress", "Each co-op's hours settled so far.", 12, 8
    )
    return (
        dashboard.with_row(db.Row("Rewards"))
        .with_panel(settlements.with_target(target("pipeline/settlements")).unit("none").min(0)
                    .draw_style(cm.GraphDrawStyle.BARS).fill_opacity(70)
                    .stacking(common.StackingConfig().mode(cm.StackingMode.NORMAL)))
        .with_panel(progress.with_target(table_target("pipeline/green_progress")))
    )  # fmt: skip


def replay_row(dashboard: db.Dashboard) -> db.Dashboard:
    """Replay on request (SPEC §11): gaps pending, messages recovered, final loss per day."""
    messages: timeseries.Panel = series_panel(
        "Replay: messages recovered and lost",
        "Messages of closed replay gaps per bucket: recovered (republished by the device) and lost for good.",
        9,
        8,
    )
    loss: timeseries.Panel = series_panel(
        "Final loss per day",
        "Messages whose loss is final, per UTC day and reason (messages_lost_final{reason}).",
        9,
        8,
    )
    gaps: table.Panel = table_panel(
        "Pending replay gaps",
        "Open or requested gaps; the rewards engine holds the hours and collections they cover.",
        24,
        6,
    )
    return (
        dashboard.with_row(db.Row("Replay"))
        .with_panel(stat_panel("pipeline/replay_pending", "Replay gaps pending",
                               "Gaps open (waiting for replay_after) or requested, and what they lack.",
                               "none")
                    .thresholds(thresholds((0, "green"), (1, "yellow"))))
        .with_panel(messages.with_target(target("pipeline/replay_messages")).unit("none").min(0)
                    .draw_style(cm.GraphDrawStyle.BARS).fill_opacity(70)
                    .stacking(common.StackingConfig().mode(cm.StackingMode.NORMAL)))
        .with_panel(loss.with_target(target("pipeline/replay_loss_daily")).unit("none").min(0)
                    .draw_style(cm.GraphDrawStyle.BARS).fill_opacity(70)
                    .stacking(common.StackingConfig().mode(cm.StackingMode.NORMAL)))
        .with_panel(gaps.with_target(table_target("pipeline/replay_gaps")))
    )  # fmt: skip


def ledger_row(dashboard: db.Dashboard) -> db.Dashboard:
    """Ledger length, head age, chain links and the last checkpoint."""
    return (
        dashboard.with_row(db.Row("Ledger"))
        .with_panel(stat_panel("pipeline/ledger_length", "Ledger length", "Entries in the journal.", "none"))
        .with_panel(stat_panel("pipeline/head_age", "Head hash age", "Time since the last append.", "s"))
        .with_panel(stat_panel("pipeline/chain_links", "Chain links",
                               "Seq gapless, each prev_hash the previous hash (signatures: ledger verify).",
                               "none").mappings([LINKS_MAPPING]))
        .with_panel(stat_panel("pipeline/checkpoint_age", "Last checkpoint",
                               "Age and size of the last signed checkpoint.", "s"))
    )  # fmt: skip


def dashboard() -> db.Dashboard:
    """The pipeline and ledger dashboard."""
    board = new_dashboard(
        UID,
        "Circulo · Pipeline and ledger",
        "Operators' view: ingest throughput and delay, commit watermark, rewards cycles, ledger health.",
        resolutions=("minute", "hour"),
    )
    return ledger_row(replay_row(rewards_row(ingest_row(board))))
