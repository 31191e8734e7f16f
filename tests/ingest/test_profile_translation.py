"""Profiled meters (SPEC §10): firmware payloads become exactly the canonical rows (pure).

The examples and their sources are in :mod:`tests.ingest.firmware_examples`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.ingest.firmware_examples import EXAMPLES, Example

from circulo.ingest.classify import Limits, RegisteredDevice, classify
from circulo.ingest.records import Ignored, Received, Rejected, Valid
from circulo.ingest.tables import STORED_TYPES
from circulo_schemas.errors import REASONS
from circulo_schemas.payloads import MeterTelemetry, StatusMessage
from circulo_schemas.topics import address_of

LIMITS = Limits()
MINUTE_TS = 1757591520  # 2025-09-11T11:52:00Z
AFTER_MINUTE = datetime.fromtimestamp(MINUTE_TS + 30, UTC)


def judge(profile: str, rest: str, payload: bytes, received_at: datetime | None = None) -> object:
    topic = f"circulo/v1/meter/m1/{rest}"
    registry = {"m1": RegisteredDevice("meter", False, profile)}
    at = received_at or datetime.now(UTC)
    return classify(Received(topic, payload, at, 1, 0), address_of(topic), registry, LIMITS)


def expected_time(example: Example) -> datetime | None:
    first = example.expected[0]
    if isinstance(first, datetime):
        return first
    if first == "status" and isinstance(example.expected[2], datetime):
        return example.expected[2]
    return None


def outcome_of(example: Example) -> tuple[object, ...]:
    """The classification of an example, in the shape of its ``expected``."""
    ts = expected_time(example)
    verdict = judge(example.profile, example.rest, example.payload, ts + timedelta(minutes=1) if ts else None)
    if isinstance(verdict, Ignored):
        return ("ignored", verdict.what)
    if isinstance(verdict, Rejected):
        return ("quarantined", verdict.reason, verdict.detail)
    assert isinstance(verdict, Valid)
    message = verdict.message
    if isinstance(message, StatusMessage):
        return ("status", message.state, message.ts, message.uptime_s)
    assert isinstance(message, MeterTelemetry)
    assert verdict.raw_payload == example.payload, "the firmware's bytes are kept with the row"
    return (
        message.ts,
        message.energy_wh,
        message.power_w,
        message.voltage_v,
        message.frequency_hz,
        message.temp_c,
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{e.profile}: {e.name}" for e in EXAMPLES])
def test_a_documented_firmware_message_becomes_exactly_its_canonical_row(example: Example) -> None:
    got = outcome_of(example)
    if example.expected[0] == "quarantined":
        assert got[:2] == example.expected[:2], got
        assert str(example.expected[2]) in str(got[2])
    else:
        assert got == example.expected


def test_the_same_shelly_reading_on_its_status_topic_and_in_a_notification_has_one_canonical_digest() -> None:
    status = judge(
        "shelly-gen2",
        "status/switch:0",
        b'{"id":0, "source":"init", "output":true, "apower":12.5, "aenergy":{"total":1234.567,'
        b'"by_minute":[1.0,2.0,3.0],"minute_ts":1757591520}}',
        AFTER_MINUTE,
    )
    notification = judge(
        "shelly-gen2",
        "events/rpc",
        b'{"src":"s","dst":"circulo/v1/meter/m1/events","method":"NotifyStatus","params":{"ts":1757591520.01,'
        b'"switch:0":{"aenergy":{"by_minute":[1.0,2.0,3.0],"minute_ts":1757591520,"total":1234.567}}}}',
        AFTER_MINUTE,
    )
    assert isinstance(status, Valid) and isinstance(notification, Valid)
    assert status.message.ts == notification.message.ts
    assert status.payload_sha256 == notification.payload_sha256
    assert status.raw_payload != notification.raw_payload


def test_another_register_at_the_same_minute_has_another_digest() -> None:
    def at_total(total: str) -> Valid:
        body = f'{{"id":0,"aenergy":{{"total":{total},"minute_ts":1757591520}}}}'.encode()
        verdict = judge("shelly-gen2", "status/switch:0", body, AFTER_MINUTE)
        assert isinstance(verdict, Valid)
        return verdict

    assert at_total("10.2").payload_sha256 == at_total("10.9").payload_sha256  # both 10 Wh
    assert at_total("10.9").payload_sha256 != at_total("11.0").payload_sha256


@pytest.mark.parametrize(
    ("profile", "rest", "body", "register_wh"),
    [
        ("tasmota", "tele/SENSOR", b'{"Time":"2025-06-01T12:00:00","ENERGY":{"Total":0.0019}}', 1),
        (
            "tasmota",
            "tele/SENSOR",
            b'{"Time":"2025-06-01T12:00:00","ENERGY":{"Total":12345.67891}}',
            12345678,
        ),
        ("tasmota", "tele/SENSOR", b'{"Time":"2025-06-01T12:00:00","ENERGY":{"Total":1e3}}', 1_000_000),
        ("shelly-gen2", "status/switch:0", b'{"aenergy":{"total":0.999,"minute_ts":1748779200}}', 0),
        (
            "shelly-gen2",
            "status/switch:0",
            b'{"aenergy":{"total":99999999.999,"minute_ts":1748779200}}',
            99999999,
        ),
    ],
)
def test_the_register_is_read_as_an_exact_decimal_and_floored_to_whole_wh(
    profile: str, rest: str, body: bytes, register_wh: int
) -> None:
    verdict = judge(profile, rest, body, datetime(2025, 6, 1, 12, 0, 30, tzinfo=UTC))
    assert isinstance(verdict, Valid)
    assert isinstance(verdict.message, MeterTelemetry)
    assert verdict.message.energy_wh == register_wh


@pytest.mark.parametrize(
    ("body", "power"),
    [
        (b'{"Time":"2025-06-01T12:00:00","ENERGY":{"Total":1,"Power":[10,20,5]}}', 35),
        (b'{"Time":"2025-06-01T12:00:00","ENERGY":{"Total":1,"Power":-3}}', 0),
        (b'{"Time":"2025-06-01T12:00:00","ENERGY":{"Total":1}}', None),
    ],
)
def test_tasmota_power_is_summed_over_channels_and_never_negative(body: bytes, power: int | None) -> None:
    verdict = judge("tasmota", "tele/SENSOR", body, datetime(2025, 6, 1, 12, 0, 30, tzinfo=UTC))
    assert isinstance(verdict, Valid) and isinstance(verdict.message, MeterTelemetry)
    assert verdict.message.power_w == power


SENSOR_AT_NOON = '{{"Time":"2025-06-01T12:00:00","ENERGY":{{"Total":{}}}}}'


@pytest.mark.parametrize(
    ("profile", "rest", "body", "reason", "detail"),
    [
        (
            "tasmota",
            "tele/SENSOR",
            SENSOR_AT_NOON.format('"6.2"').encode(),
            "schema",
            "ENERGY.Total: must be a number",
        ),
        (
            "tasmota",
            "tele/SENSOR",
            SENSOR_AT_NOON.format("-1").encode(),
            "schema",
            "ENERGY.Total: must be >= 0",
        ),
        (
            "tasmota",
            "tele/SENSOR",
            b'{"Time":"12:00","ENERGY":{"Total":1}}',
            "schema",
            "Time: must be a time",
        ),
        ("tasmota", "tele/SENSOR", b'{"ENERGY":{"Total":1}}', "schema", "Time: required"),
        ("tasmota", "tele/SENSOR", b"{cut off", "not_json", ""),
        ("tasmota", "tele/SENSOR", b"\xff\xfe", "not_utf8", ""),
        ("tasmota", "tele/LWT", b"Maybe", "schema", "LWT: must be Online or Offline"),
        ("tasmota", "tele/WHATEVER", b"{}", "topic", "unknown Tasmota telemetry topic"),
        ("tasmota", "telemetry", b"{}", "topic", "a circulo topic ('telemetry')"),
        ("shelly-gen2", "status/switch:0", b'{"id":0,"output":true}', "schema", "aenergy.total: required"),
        ("shelly-gen2", "status/switch:0", b'{"aenergy":{"total":true}}', "schema", "aenergy.total: must be"),
        (
            "shelly-gen2",
            "status/switch:0",
            b'{"aenergy":{"total":1}}',
            "schema",
            "aenergy.minute_ts: required",
        ),
        ("shelly-gen2", "events/rpc", b'{"method":"Switch.Set","params":{}}', "schema", "method: must be"),
        (
            "shelly-gen2",
            "events/rpc",
            b'{"method":"NotifyStatus","params":{"switch:0":{"aenergy":{"total":1}}}}',
            "schema",
            "params.ts: required",
        ),
        ("shelly-gen2", "online", b"1", "schema", "online: must be true or false"),
        ("shelly-gen2", "status/toaster:0", b"{}", "topic", "unknown Shelly component"),
        ("shelly-gen2", "debug/log", b"x", "topic", "not a Shelly Gen2 topic"),
    ],
)
def test_an_unreadable_firmware_message_is_quarantined_naming_the_field(
    profile: str, rest: str, body: bytes, reason: str, detail: str
) -> None:
    verdict = judge(profile, rest, body, datetime(2025, 6, 1, 12, 0, 30, tzinfo=UTC))
    assert isinstance(verdict, Rejected), verdict
    assert verdict.reason == reason
    assert detail in verdict.detail


def test_a_firmware_topic_from_a_circulo_device_says_which_profile_it_looks_like() -> None:
    verdict = judge("circulo", "tele/SENSOR", b'{"Time":"2025-06-01T12:00:00","ENERGY":{"Total":1}}')
    assert isinstance(verdict, Rejected) and verdict.reason == "topic"
    assert "a tasmota topic" in verdict.detail and "--profile tasmota" in verdict.detail


def test_a_translated_reading_is_stored_through_the_meter_reading_entry() -> None:
    verdict = judge("tasmota", "tele/SENSOR", b'{"Time":"2025-06-01T12:00:00","ENERGY":{"Total":1.5}}',
                    datetime(2025, 6, 1, 12, 1, tzinfo=UTC))  # fmt: skip
    assert isinstance(verdict, Valid)
    spec = STORED_TYPES[type(verdict.message)]
    row = dict(zip(spec.column_names, spec.row(verdict), strict=True))
    assert spec.table == "meter_reading"
    assert (row["seq"], row["energy_wh"], row["power_w"], row["raw_payload"]) == (
        None,
        1500,
        None,
        verdict.raw_payload,
    )


def test_time_limits_judge_a_translated_reading_by_its_own_time() -> None:
    body = b'{"Time":"2025-06-01T14:00:00","ENERGY":{"Total":1}}'  # Timezone 2: two hours ahead
    verdict = judge("tasmota", "tele/SENSOR", body, datetime(2025, 6, 1, 12, 0, tzinfo=UTC))
    assert isinstance(verdict, Rejected) and verdict.reason == "clock_skew"


# --- every byte string on a profile topic ends in exactly one outcome --------------------------
PROFILE_TOPICS = {
    "shelly-gen2": [
        "status/switch:0", "status/pm1:0", "status/em1data:0", "status/emdata:0", "status/switch:1",
        "status/sys", "status/wifi", "status/x", "events/rpc", "online", "rpc", "command/switch:0", "status",
    ],
    "tasmota": [
        "tele/SENSOR", "tele/STATE", "tele/LWT", "tele/INFO1", "tele/INFO3", "stat/RESULT", "stat/POWER",
        "cmnd/POWER", "tele/OTHER", "telemetry",
    ],
}  # fmt: skip
FRAGMENTS = [
    b'{"Time":"2025-06-01T12:00:00","ENERGY":{"Total":1.234,"Power":[1,2]}}',
    b'{"Time":"2025-06-01T12:00:00+02:00","UptimeSec":5}',
    b'{"method":"NotifyStatus","params":{"ts":1748779200.5,"switch:0":{"aenergy":{"total":5,"minute_ts":1748779200}}}}',
    b'{"method":"NotifyStatus","params":{"ts":1748779200.5,"emdata:0":{"total_act":5}}}',
    b'{"aenergy":{"total":1.5,"minute_ts":1748779200},"apower":-2}',
    b"true", b"false", b"Online", b"Offline", b"",
]  # fmt: skip
payloads = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(FRAGMENTS),
    st.sampled_from(FRAGMENTS).flatmap(lambda f: st.integers(0, len(f)).map(lambda n: f[:n])),
    st.tuples(st.sampled_from(FRAGMENTS), st.binary(max_size=4)).map(lambda t: t[0].replace(b"1", t[1], 1)),
)


@settings(max_examples=600, deadline=None)
@given(
    profile=st.sampled_from(sorted(PROFILE_TOPICS)),
    topic_index=st.integers(0, 20),
    body=payloads,
)
def test_any_bytes_on_a_profile_topic_end_in_exactly_one_verdict(
    profile: str, topic_index: int, body: bytes
) -> None:
    topics = PROFILE_TOPICS[profile]
    verdict = judge(
        profile, topics[topic_index % len(topics)], body, datetime(2025, 6, 1, 12, 0, 30, tzinfo=UTC)
    )
    assert isinstance(verdict, Valid | Ignored | Rejected)
    if isinstance(verdict, Rejected):
        assert verdict.reason in REASONS and verdict.detail
    if isinstance(verdict, Valid):
        assert verdict.raw_payload == body
        assert verdict.channel in ("telemetry", "status")
