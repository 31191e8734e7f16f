"""The summary's human form and the progress line (other tools parse the latter)."""

from __future__ import annotations

import io
import re

from tests.sim.sim_factories import utc

from circulo_sim.plan import Label, Publish
from circulo_sim.progress import ProgressPrinter, progress_line
from circulo_sim.summary import Progress, RunStats, describe, injected_fault

# what circulo demo reads from the simulator's log
DEMO_PATTERN = re.compile(r"sim (\d{4}-\d\d-\d\d \d\d:\d\d)Z .*?sent ([\d,]+)")


def publish(fault: str | None, expected: str, message_type: str = "deposit") -> Publish:
    return Publish(
        utc(2026, 11, 1), "b1", "circulo/v1/bin/b1/event", b"{}", Label(message_type, fault, expected)
    )


def test_the_progress_line_names_the_clock_and_the_counts() -> None:
    line = progress_line(Progress(6, 7, 12345, 3, 17, 0, 2), utc(2026, 11, 22, 14, 3))
    assert line == "sim 2026-11-22 14:03Z  6/7 connected  sent 12,345  buffered 3  faults 17  refused 2"
    assert DEMO_PATTERN.search(line).groups() == ("2026-11-22 14:03", "12,345")  # type: ignore[union-attr]


def test_each_injection_is_counted_once() -> None:
    assert injected_fault(publish("duplicate", "stored")) is None
    assert injected_fault(publish("duplicate", "duplicate")) == "duplicate"
    assert injected_fault(publish("impersonate", "stored")) is None
    assert injected_fault(publish("impersonate", "refused")) == "impersonate"
    assert injected_fault(publish("offline", "stored")) is None  # counted when the outage starts
    assert injected_fault(publish("malformed", "quarantined:schema")) == "malformed"


def test_the_summary_counts_expected_outcomes_of_acknowledged_messages_only() -> None:
    stats = RunStats()
    for p in (
        publish(None, "stored"),
        publish("malformed", "quarantined:not_json"),
        publish("impersonate", "refused"),
    ):
        stats.planned(p)
    stats.acked(publish(None, "stored"))
    stats.acked(publish("malformed", "quarantined:not_json"))
    stats.refused(publish("impersonate", "refused"), "0x87 Not authorized")
    stats.lost(publish(None, "stored", "bin_telemetry"), "dropped")
    summary = stats.summary()
    assert summary["expected"] == {
        "stored": 1,
        "duplicate": 0,
        "quarantined": {"not_json": 1},
        "status": 0,
        "ignored": 0,
    }
    assert summary["delivery"]["refused"] == 1 and summary["delivery"]["dropped"] == 1
    assert summary["surprises"] == {}
    text = describe(
        {**summary, "coop_id": "c1", "seed": 1, "mode": "devices", "devices": {"bin": 1}, "devices_total": 1,
         "window": {"start": "a", "reached": "b", "mode": "backfill"}, "wall_seconds": 1.0}
    )  # fmt: skip
    assert "1 stored, 0 duplicate, 1 quarantined (not_json 1)" in text
    assert "1 refused by the broker" in text and "SURPRISES" not in text


def test_off_a_terminal_the_progress_is_printed_now_and_then_and_the_final_counts_always() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out, every_s=3600)
    for sent in (1, 2, 3):
        printer(Progress(1, 1, sent, 0, 0, 0, 0), utc(2026, 11, 22, 14, 3))
    printer.finish()
    lines = out.getvalue().splitlines()
    assert [DEMO_PATTERN.search(line).group(2) for line in lines] == ["1", "3"]  # type: ignore[union-attr]
