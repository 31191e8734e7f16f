"""The live view: samples rendered as a block on a terminal or plain lines; what it reads from."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from circulo.demo.live import outcome_counts, queue_depth
from circulo.demo.options import DemoOptions, DemoWindow, FleetSize
from circulo.demo.paths import DemoPaths
from circulo.demo.progress import ProgressSample, ProgressView, clock_fraction, message_rate, render_block
from circulo.demo.simulator import parse_progress, sim_args, totals_from_summary

START = datetime(2026, 6, 1, tzinfo=UTC)
WINDOW = DemoWindow(START, START + timedelta(days=1))

METRICS = """# HELP circulo_ingest_messages_total Messages by outcome and quarantine reason
# TYPE circulo_ingest_messages_total counter
circulo_ingest_messages_total{outcome="stored",reason=""} 120.0
circulo_ingest_messages_total{outcome="duplicate",reason=""} 3.0
circulo_ingest_messages_total{outcome="duplicate",reason="schema"} 1.0
circulo_ingest_messages_total{outcome="quarantined",reason="schema"} 2.0
circulo_ingest_messages_total{outcome="quarantined",reason="clock_skew"} 4.0
# HELP circulo_ingest_messages_created Messages by outcome and quarantine reason
# TYPE circulo_ingest_messages_created gauge
circulo_ingest_messages_created{outcome="stored",reason=""} 1.7e+09
# HELP circulo_ingest_queue_depth Messages received and not yet committed
# TYPE circulo_ingest_queue_depth gauge
circulo_ingest_queue_depth 7.0
"""


def sample(at: float, accounted: int, hour: int | None = 6) -> ProgressSample:
    clock = None if hour is None else START + timedelta(hours=hour)
    return ProgressSample(at, clock, accounted, {"stored": accounted}, 1500, 1_350_000, 2_000_000, 9)


def test_outcomes_are_read_from_the_ingests_counters_summed_over_reasons() -> None:
    assert outcome_counts(METRICS) == {"stored": 120, "duplicate": 4, "quarantined": 6}
    assert queue_depth(METRICS) == 7
    assert outcome_counts("") == {}
    assert queue_depth("") is None


def test_the_rate_is_messages_settled_per_second_between_samples() -> None:
    assert message_rate(None, sample(1, 100)) == 0
    assert message_rate(sample(1, 100), sample(3, 500)) == 200
    assert message_rate(sample(3, 500), sample(3, 900)) == 0


def test_the_clock_fraction_stays_within_the_window() -> None:
    assert clock_fraction(WINDOW, None) == 0
    assert clock_fraction(WINDOW, START + timedelta(hours=6)) == 0.25
    assert clock_fraction(WINDOW, START + timedelta(days=2)) == 1


def test_the_block_shows_clock_counts_energy_and_tokens() -> None:
    text = "\n".join(render_block(sample(65, 1234), 321.0, WINDOW))
    for expected in (
        "2026-06-01 06:00 UTC",
        "25%",
        "1:05",
        "1,234 sent",
        "321/s",
        "stored 1,234",
        "1.500 kWh",
        "GRN 1.350",
        "RCY 2.000",
        "ledger 9 entries",
    ):
        assert expected in text


def test_on_a_terminal_the_block_is_redrawn_in_place() -> None:
    out = io.StringIO()
    view = ProgressView(WINDOW, out, tty=True)
    view.show(sample(0, 0))
    view.show(sample(0.25, 10))
    assert out.getvalue().count("\x1b[3F") == 1  # the second draw moved up over the first
    assert out.getvalue().count("sim clock") == 2


def test_elsewhere_plain_lines_come_every_few_seconds_and_at_the_end() -> None:
    out = io.StringIO()
    view = ProgressView(WINDOW, out, tty=False)
    for tick in range(0, 21):
        view.show(sample(tick * 0.5, tick * 10))
    view.finish(sample(11, 300))
    lines = out.getvalue().splitlines()
    assert len(lines) == 4  # at 0 s, 5 s, 10 s, and the final one
    assert "\x1b" not in out.getvalue()
    assert lines[-1].startswith("[0:11] sim 06:00 UTC (25%) sent 300")


def test_the_simulators_progress_line_gives_its_clock_and_count() -> None:
    text = "noise\nsim 2026-06-01 05:59Z  58/58 connected  sent 1,234  buffered 0  faults 3\n"
    text += "sim 2026-06-01 07:30Z  58/58 connected  sent 12,345  buffered 2  faults 9  refused 1\n"
    progress = parse_progress(text)
    assert progress.clock == START + timedelta(hours=7, minutes=30)
    assert progress.published == 12_345
    assert parse_progress("nothing yet").clock is None


def test_the_simulator_runs_the_window_with_bundles_faults_and_a_summary_file() -> None:
    rates = {"duplicate": 0.01, "counter_reset": 0.002, "clock_ahead": 0.0}
    options = DemoOptions(Path("/s"), fleet=FleetSize(4, 3, 1, 2), fault_rates=rates)
    args = sim_args(options, DemoPaths(options.state_dir), WINDOW, None)
    joined = " ".join(args)
    assert args[:2] == ["sim", "run"]
    assert "--from 2026-06-01T00:00:00.000Z --to 2026-06-02T00:00:00.000Z" in joined
    assert "--meters 4 --bins 3 --repairs 1" in joined
    assert "--duplicates 0.01" in joined and "--counter-resets 0.002" in joined
    assert "--clock-ahead" not in joined and "--speed" not in joined
    assert "--speed 720" in " ".join(sim_args(options, DemoPaths(options.state_dir), WINDOW, 720.0))


def test_the_simulators_summary_gives_what_reaches_the_ingest() -> None:
    totals = totals_from_summary(
        {
            "delivery": {"acked": 990, "refused": 3, "dropped": 0, "unacked": 1, "reconnects": 2},
            "faults": {"offline": 2, "impersonate": 3, "duplicate": 4},
            "expected": {"quarantined": {"clock_skew": 1, "schema": 2}},
        }
    )
    assert (totals.published, totals.refused, totals.wills, totals.lost) == (993, 3, 2, 1)
    assert totals.reached_ingest == 992
    assert totals.expected_quarantine == {"clock_skew": 1, "schema": 2}
