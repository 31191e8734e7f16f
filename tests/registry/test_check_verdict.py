"""The commissioning verdict, from tables of snapshots (pure: no database, no broker)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from circulo.registry.check import (
    CheckSnapshot,
    LastMessage,
    QuarantinedMessage,
    Readings,
    Verdict,
    evaluate,
    first_data_arrived,
    measured_skew_ms,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def msg(channel: str, age_s: float, skew_s: float | None = 0.0) -> LastMessage:
    received = NOW - age_s * S
    return LastMessage(channel, received, None if skew_s is None else received + skew_s * S)


def rejected(age_s: float, reason: str = "schema", detail: str = "energy_wh: missing") -> QuarantinedMessage:
    return QuarantinedMessage(NOW - age_s * S, reason, detail, "circulo/v1/meter/m1/telemetry")


# a meter that is online and delivering good telemetry
HEALTHY_METER = CheckSnapshot(
    device_id="m1",
    kind="meter",
    coop_id="c1",
    status="registered",
    now=NOW,
    rated_power_w=5000,
    online=True,
    state_changed_at=NOW - 300 * S,
    fw="1.2.0",
    last_messages=(msg("telemetry", 10), msg("status", 300)),
    valid_last_hour=30,
    clock_skew_ms=400,
    seq_received=30,
    readings=Readings(energy_wh=12_000, power_w=830.0),
)
HEALTHY_BIN = replace(
    HEALTHY_METER,
    device_id="b1",
    kind="bin",
    rated_power_w=None,
    readings=Readings(fill_pct=40, weight_g=12_000, battery_pct=80, rssi_dbm=-70),
)
NOTHING_YET = CheckSnapshot(device_id="m1", kind="meter", coop_id="c1", status="registered", now=NOW)


def statuses(snapshot: CheckSnapshot) -> dict[str, str]:
    return {c.name: str(c.status) for c in evaluate(snapshot).checks}


@pytest.mark.parametrize(
    ("snapshot", "verdict", "failing"),
    [
        # before the first message: nothing connected, no data
        (NOTHING_YET, Verdict.FAIL, {"connection": "FAIL", "data": "FAIL"}),
        (HEALTHY_METER, Verdict.PASS, {}),
        (HEALTHY_BIN, Verdict.PASS, {}),
        # the newest message was quarantined after valid ones: WARN naming the reason
        (replace(HEALTHY_METER, last_rejection=rejected(2), rejected_last_hour=1), Verdict.WARN,
         {"validation": "WARN"}),
        # quarantined an hour ago, fine since: PASS
        (replace(HEALTHY_METER, last_rejection=rejected(7200)), Verdict.PASS, {}),
        # some quarantined in the last hour although the newest message is valid
        (replace(HEALTHY_METER, last_rejection=rejected(600), rejected_last_hour=3), Verdict.WARN,
         {"validation": "WARN"}),
        # only quarantined messages, never a valid one: the device delivers nothing
        (replace(NOTHING_YET, last_rejection=rejected(5), rejected_last_hour=1), Verdict.FAIL,
         {"connection": "WARN", "data": "FAIL", "validation": "WARN"}),
        (replace(HEALTHY_METER, status="retired", retired_at=NOW - 60 * S), Verdict.FAIL,
         {"registry": "FAIL"}),
        (replace(HEALTHY_METER, online=False), Verdict.WARN, {"connection": "WARN"}),
        (replace(HEALTHY_METER, online=None, last_messages=(msg("telemetry", 10),)), Verdict.WARN,
         {"connection": "WARN"}),
        (replace(HEALTHY_METER, last_messages=(msg("telemetry", 3600), msg("status", 300))), Verdict.WARN,
         {"data": "WARN"}),
        (replace(HEALTHY_METER, clock_skew_ms=45_000), Verdict.WARN, {"clock": "WARN"}),
        (replace(HEALTHY_METER, clock_skew_ms=-45_000), Verdict.WARN, {"clock": "WARN"}),
        (replace(HEALTHY_METER, clock_skew_ms=400_000), Verdict.FAIL, {"clock": "FAIL"}),
        (replace(HEALTHY_METER, clock_skew_ms=-7_200_000), Verdict.WARN, {"clock": "WARN"}),
        (replace(HEALTHY_METER, readings=Readings(energy_wh=1, power_w=5600.0)), Verdict.WARN,
         {"energy": "WARN"}),
        (replace(HEALTHY_METER, readings=Readings(energy_wh=1, power_w=5500.0)), Verdict.PASS, {}),
        (replace(HEALTHY_METER, seq_received=100, seq_missing=5), Verdict.WARN, {"loss": "WARN"}),
        (replace(HEALTHY_METER, seq_received=100, seq_missing=2), Verdict.PASS, {}),
        (replace(HEALTHY_BIN, readings=Readings(battery_pct=12)), Verdict.WARN, {"battery": "WARN"}),
        (replace(HEALTHY_BIN, readings=Readings(rssi_dbm=-104)), Verdict.WARN, {"signal": "WARN"}),
        # a repair station logs events only when a repair happens: status alone is a warning
        (replace(HEALTHY_METER, kind="repair", last_messages=(msg("status", 30),), readings=Readings()),
         Verdict.WARN, {"data": "WARN"}),
        (replace(HEALTHY_METER, kind="repair", last_messages=(msg("status", 30), msg("event", 7200)),
                 readings=Readings()), Verdict.PASS, {}),
    ],
)  # fmt: skip
def test_the_verdict_is_the_worst_check(
    snapshot: CheckSnapshot, verdict: Verdict, failing: dict[str, str]
) -> None:
    report = evaluate(snapshot)
    assert report.verdict is verdict
    assert {name: s for name, s in statuses(snapshot).items() if s != "PASS"} == failing


def test_a_warning_after_a_schema_rejection_names_the_reason_and_detail_and_what_to_do() -> None:
    snapshot = replace(HEALTHY_METER, last_rejection=rejected(2), rejected_last_hour=1)
    validation = next(c for c in evaluate(snapshot).checks if c.name == "validation")
    assert "schema: energy_wh: missing" in validation.summary
    assert "firmware" in validation.next_step
    assert validation.data["reason"] == "schema"


def test_every_non_pass_check_says_what_to_do_next() -> None:
    for snapshot in (NOTHING_YET, replace(HEALTHY_METER, online=False, clock_skew_ms=400_000)):
        report = evaluate(snapshot)
        assert report.next_steps
        assert all(c.next_step for c in report.checks if c.status is not Verdict.PASS and c.name != "data")


def test_a_passing_report_says_there_is_nothing_to_do() -> None:
    assert evaluate(HEALTHY_METER).next_steps == ("nothing to do: the device is delivering valid data",)


def test_the_json_form_has_the_spec_fields() -> None:
    document = evaluate(HEALTHY_METER).as_dict()
    assert document["device_id"] == "m1"
    assert document["verdict"] == "PASS"
    assert {"name", "status", "summary"} <= set(document["checks"][0])


def test_clock_skew_falls_back_to_the_newest_message_when_the_ingest_measured_none() -> None:
    snapshot = replace(HEALTHY_METER, clock_skew_ms=None, last_messages=(msg("telemetry", 5, skew_s=-2.5),))
    assert measured_skew_ms(snapshot) == -2500
    assert measured_skew_ms(replace(snapshot, last_messages=(msg("status", 5, skew_s=None),))) is None


@pytest.mark.parametrize(
    ("snapshot", "arrived"),
    [
        (NOTHING_YET, False),
        (replace(NOTHING_YET, last_messages=(msg("status", 1),)), False),
        (replace(NOTHING_YET, last_messages=(msg("telemetry", 1),)), True),
        (replace(NOTHING_YET, kind="repair", last_messages=(msg("status", 1),)), True),
        (replace(NOTHING_YET, last_rejection=rejected(1)), False),
    ],
)
def test_wait_stops_at_the_first_valid_data_message(snapshot: CheckSnapshot, arrived: bool) -> None:
    assert first_data_arrived(snapshot) is arrived
