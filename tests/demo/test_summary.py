"""The summary's arithmetic, checks and renderings (text, JSON, HTML report), from tables."""

from __future__ import annotations

import base64
import json
import re
from decimal import Decimal

import pytest

from circulo.demo.checks import green_check, ledger_check, outcome_check, quarantine_check, stored_rows_check
from circulo.demo.report import charts, filled, filled_splits, render_report, window_hours
from circulo.demo.summary import CountLine, Energy, HourSplit, LedgerCheck, LedgerState, summary_json
from circulo.demo.text import clip, micro_units, render_summary
from tests.demo.samples import AMOUNTS, summary, traffic


def test_member_lines_add_up_each_accounts_ledger_amounts_by_reason() -> None:
    s = summary()
    amara, bram = s.members
    assert (amara.grn_micro, amara.rcy_deposit_micro, amara.rcy_repair_micro) == (4_500_000, 2_000_000, 0)
    assert (bram.grn_micro, bram.rcy_deposit_micro, bram.rcy_repair_micro) == (4_500_001, 0, 750_000)
    assert amara.energy_wh == Decimal("4500")  # 1 GRN per kWh: 1000 µGRN per Wh
    assert s.treasury.grn_micro == 1_000_000
    assert sum(a.amount_micro for a in AMOUNTS if a.token == "GRN") == 10_000_001


def test_copies_beyond_the_distinct_messages_are_qos1_resends() -> None:
    t = traffic()
    assert (t.reached_ingest, t.accounted, t.redelivered, t.data_rows) == (999, 1003, 4, 950)


@pytest.mark.parametrize(
    ("outcomes", "meter_rows", "ok"),
    [
        ({"stored": 993, "duplicate": 9, "quarantined": 1}, 900, True),
        ({"stored": 993, "duplicate": 5, "quarantined": 1}, 900, True),  # no re-sends at all
        ({"stored": 992, "duplicate": 10, "quarantined": 1}, 899, False),  # a reading lost as a "duplicate"
        ({"stored": 993, "duplicate": 0, "quarantined": 1}, 900, False),  # fewer outcomes than messages
        ({"stored": 994, "duplicate": 9, "quarantined": 1}, 901, False),  # a message stored twice
    ],
)
def test_every_message_must_have_one_outcome(outcomes: dict[str, int], meter_rows: int, ok: bool) -> None:
    rows = dict(traffic().stored_rows, meter_reading=meter_rows)
    assert outcome_check(traffic(outcomes=outcomes, stored_rows=rows)).ok is ok


def test_stored_and_quarantined_counts_must_match_the_rows() -> None:
    assert stored_rows_check(traffic()).ok
    rows = dict(traffic().stored_rows, meter_reading=899)
    assert not stored_rows_check(traffic(stored_rows=rows)).ok


def test_quarantine_reasons_must_match_the_faults() -> None:
    assert quarantine_check(traffic(), (CountLine("clock_skew", 1),)).ok
    assert not quarantine_check(traffic(), (CountLine("clock_skew", 1), CountLine("schema", 1))).ok
    assert not quarantine_check(traffic(), ()).ok


@pytest.mark.parametrize(
    ("credited_wh", "rate", "minted", "ledger", "ok"),
    [
        (10_000, Decimal(1), 10_000_000, 10_000_000, True),
        (10_000, Decimal("2.5"), 25_000_000, 25_000_000, True),
        (10_000, Decimal(1), 10_000_000, 9_999_999, False),  # a mint missing from the ledger
        (10_000, Decimal(1), 10_000_001, 10_000_001, False),  # a µ too many
    ],
)
def test_grn_must_equal_credited_energy_times_the_rate(
    credited_wh: int, rate: Decimal, minted: int, ledger: int, ok: bool
) -> None:
    assert green_check(Energy(credited_wh, minted, rate, 1), ledger).ok is ok


def test_a_failed_verify_fails_the_run() -> None:
    assert not ledger_check(LedgerState(3, "", False, "entry 2: bad signature")).ok
    assert not summary(checks=(ledger_check(LedgerState(3, "", False, "x")),)).ok


def test_long_details_are_cut_at_a_word() -> None:
    assert clip("short", 10) == "short"
    assert clip("register fell from 19770717 Wh to 19770630 Wh", 30) == "register fell from 19770717…"


@pytest.mark.parametrize(
    ("micro", "text"),
    [(0, "0.000000"), (1, "0.000001"), (12_345_678_901, "12,345.678901"), (-1_500_000, "-1.500000")],
)
def test_micro_units_are_shown_exactly(micro: int, text: str) -> None:
    assert micro_units(micro) == text


def test_the_text_summary_names_every_section_and_member() -> None:
    text = "\n".join(render_summary(summary(checks=(outcome_check(traffic()),))))
    for expected in (
        "Messages",
        "Energy",
        "Members",
        "Recycling",
        "Repairs",
        "Quarantined",
        "Excluded",
        "Ledger",
        "Checks",
        "amara@sunvale",
        "treasury@sunvale",
        "clock_skew",
        "implausible",
        "[ok] every message has one outcome",
        "(the whole UTC day)",
    ):
        assert expected in text


def test_the_json_summary_is_plain_data_with_integer_amounts() -> None:
    data = json.loads(json.dumps(summary_json(summary())))
    assert data["traffic"]["reached_ingest"] == 999
    assert data["members"][0]["grn_micro"] == 4_500_000
    assert data["energy"]["grn_per_kwh"] == "1"
    assert data["window_start"] == "2026-06-01T00:00:00Z"
    assert data["ok"] is True


def test_the_report_is_one_self_contained_html_file_with_a_chart_per_topic() -> None:
    s = summary()
    drawn = charts(s)
    assert [title for title, _ in drawn] == [
        "Co-op generation per hour (credited)",
        "GRN minted per hour",
        "Deposits by material",
        "Repairs by category and outcome",
        "Quarantine by reason",
        "Balances per member",
    ]
    page = render_report(s, drawn)
    images = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 6
    assert all(base64.b64decode(i).lstrip().startswith(b"<?xml") for i in images)
    assert "Sunvale &lt;Energy&gt; Co-op" in page  # names are escaped
    assert "http" not in page.replace("http://www.w3.org", "")  # nothing fetched from elsewhere


def test_charts_of_an_empty_day_still_render() -> None:
    s = summary(generation_per_hour=(), grn_per_hour=(), materials=(), repairs=(), quarantine=())
    assert len(charts(s)) == 6


def test_the_ledger_check_reads_verify_and_checkpoint_outputs() -> None:
    checkpoint = {
        "size": 5,
        "root": "cd" * 32,
        "ts": "2026-06-02T00:00:00.000000Z",
        "key_id": "k",
        "sig": "s",
    }
    good = LedgerCheck.from_outputs({"ok": True, "verified_entries": 5, "root": "cd" * 32}, checkpoint)
    assert (good.verified, good.checkpoint_size, good.checkpoint_root) == (True, 5, "cd" * 32)
    assert good.detail.startswith("5 entries, root cdcd")
    bad = LedgerCheck.from_outputs(
        {
            "ok": False,
            "first_bad_seq": 3,
            "findings": [{"seq": 3, "problem": "signature", "detail": "bad sig"}],
        },
        checkpoint,
    )
    assert not bad.verified
    assert bad.detail == "entry 3: signature bad sig"


def test_hourly_charts_span_every_hour_of_the_window() -> None:
    s = summary()
    hours = window_hours(s)
    assert len(hours) == 24 and hours[0] == s.window_start
    points = filled(s.generation_per_hour, hours)
    assert [p.value for p in points[7:13]] == [0, 8000, 9000, 10000, 11000, 0]
    assert filled_splits((), hours)[5] == HourSplit(hours[5], 0, 0)
