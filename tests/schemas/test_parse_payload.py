"""parse_payload from tables: every message type, every rejection reason, exact decimals, ts forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from tests.schemas.wire_samples import FULL, MINIMAL, STATUS, payload, raw_with

from circulo_schemas import encode_payload
from circulo_schemas.errors import Rejection
from circulo_schemas.payloads import (
    BinTelemetry,
    CollectionEvent,
    DepositEvent,
    MeterTelemetry,
    RepairEvent,
    StatusMessage,
)
from circulo_schemas.topics import Topic, parse_topic
from circulo_schemas.validate import DEFAULT_MAX_PAYLOAD_BYTES, parse_payload

MODELS = {
    "meter telemetry": MeterTelemetry,
    "bin telemetry": BinTelemetry,
    "deposit": DepositEvent,
    "collection": CollectionEvent,
    "repair": RepairEvent,
    "status": StatusMessage,
}


def parse(topic: str, raw: bytes, **limits: int) -> Any:
    return parse_payload(parse_topic(topic), raw, **limits)


def rejection(topic: str, raw: bytes, **limits: int) -> Rejection:
    with pytest.raises(Rejection) as caught:
        parse(topic, raw, **limits)
    return caught.value


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_a_minimal_payload_of_every_type_parses_into_its_model(name: str) -> None:
    topic, fields = MINIMAL[name]
    message = parse(topic, json.dumps(fields).encode())
    assert type(message) is MODELS[name]


@pytest.mark.parametrize("name", sorted(FULL))
def test_a_payload_with_every_optional_field_parses_and_survives_encoding(name: str) -> None:
    topic, text = FULL[name]
    message = parse(topic, text.encode())
    assert type(message) is MODELS[name]
    assert parse(topic, encode_payload(message)) == message


def test_the_last_will_is_a_valid_status() -> None:
    message = parse(STATUS, b'{"v":1,"state":"offline"}')
    assert message == StatusMessage(v=1, state="offline")
    assert message.ts is None
    assert message.seq is None


def test_a_deposit_without_optional_fields_is_anonymous_and_clean() -> None:
    message = parse(*payload("deposit"))
    assert message.account is None
    assert message.items is None
    assert message.contaminated is False


def test_null_for_an_optional_field_means_absent() -> None:
    assert parse(*payload("bin telemetry", temp_c=None)).temp_c is None


def test_a_parsed_message_holds_no_binary_float() -> None:
    for topic, text in FULL.values():
        values = dict(parse(topic, text.encode())).values()
        assert not any(isinstance(value, float) for value in values)


# --- exact decimals -------------------------------------------------------------------------

WEIGHTS = [
    ("0.1", Decimal("0.1"), 100),
    ("41.275", Decimal("41.275"), 41275),
    ("0.001", Decimal("0.001"), 1),
    ("1e-3", Decimal("0.001"), 1),
    ("1E2", Decimal("100"), 100_000),
    ("0.100", Decimal("0.1"), 100),
    ("0.1000000000000000000000", Decimal("0.1"), 100),
    ("99999.999", Decimal("99999.999"), 99_999_999),
    ("0", Decimal(0), 0),
    ("12", Decimal(12), 12_000),
]


@pytest.mark.parametrize(("literal", "kilograms", "grams"), WEIGHTS)
def test_weight_kg_is_read_as_an_exact_decimal_and_whole_grams(
    literal: str, kilograms: Decimal, grams: int
) -> None:
    message = parse(*raw_with("bin telemetry", "weight_kg", literal))
    assert message.weight_kg == kilograms
    assert isinstance(message.weight_kg, Decimal)
    assert message.weight_g == grams
    assert type(message.weight_g) is int


@pytest.mark.parametrize("name", ["collection", "repair"])
def test_event_weights_are_whole_grams_too(name: str) -> None:
    assert parse(*raw_with(name, "weight_kg", "0.1")).weight_g == 100


@pytest.mark.parametrize("literal", ["1.2345", "0.0001", "1.0000000000000000001", "0.30000000000000004"])
def test_a_weight_with_more_than_3_decimal_places_is_a_schema_error(literal: str) -> None:
    caught = rejection(*raw_with("bin telemetry", "weight_kg", literal))
    assert caught.reason == "schema"
    assert caught.detail == "weight_kg: at most 3 decimal places"


def test_a_measurement_with_many_decimals_is_kept_to_six_places() -> None:
    message = parse(*raw_with("meter telemetry", "power_w", "1523.123456789"))
    assert message.power_w == Decimal("1523.123457")
    assert parse(*raw_with("meter telemetry", "power_w", "1523.4")).power_w.as_tuple().exponent == -1


def test_model_validate_json_refuses_numbers_it_would_round_through_floats() -> None:
    with pytest.raises(ValidationError, match="parse_payload"):
        BinTelemetry.model_validate_json(json.dumps(MINIMAL["bin telemetry"][1] | {"weight_kg": 0.1}))


# --- ts ------------------------------------------------------------------------------------

NOON = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TIMESTAMPS = [
    ('"2025-06-01T12:00:00Z"', NOON),
    ('"2025-06-01T12:00:00z"', NOON),
    ('"2025-06-01t12:00:00Z"', NOON),
    ('"2025-06-01T14:00:00+02:00"', NOON),
    ('"2025-06-01T07:30:00-04:30"', NOON),
    ('"2025-06-01T12:00:00+00:00"', NOON),
    ('"2025-06-01T12:00:00.250Z"', NOON.replace(microsecond=250_000)),
    ('"2025-06-01T12:00:00.123456789Z"', NOON.replace(microsecond=123_456)),
    ("1748779200000", NOON),
    ("1748779200250", NOON.replace(microsecond=250_000)),
    ("0", datetime(1970, 1, 1, tzinfo=UTC)),
]


@pytest.mark.parametrize(("literal", "expected"), TIMESTAMPS)
def test_ts_in_every_accepted_form_becomes_an_aware_utc_datetime(literal: str, expected: datetime) -> None:
    ts = parse(*raw_with("meter telemetry", "ts", literal)).ts
    assert ts == expected
    assert ts.tzinfo is UTC


BAD_TIMESTAMPS = [
    ('"2025-06-01T12:00:00"', "ts: needs a UTC offset"),
    ('"2025-06-01 12:00:00"', "ts: needs a UTC offset"),
    ('"2025-06-01T12:00"', "ts: needs a UTC offset"),
    ('"2025-06-01"', "ts: must be an RFC 3339 string"),
    ('"1748779200000"', "ts: must be an RFC 3339 string"),
    ('"2025-06-01T12:00:00 Z"', "ts: must be an RFC 3339 string"),
    ('"2025-02-30T12:00:00Z"', "ts: not a valid date-time"),
    ('"2025-06-01T24:00:00Z"', "ts: not a valid date-time"),
    ('"0001-01-01T00:00:00+01:00"', "ts: not a valid date-time"),
    ("true", "ts: must be an RFC 3339 string"),
    ("1748779200000.0", "ts: must be an RFC 3339 string"),
    ("1.7487792e12", "ts: must be an RFC 3339 string"),
    ("-1", "ts: epoch milliseconds out of range"),
    ("253402300800000", "ts: epoch milliseconds out of range"),
    ("null", "ts: must be an RFC 3339 string"),
]


@pytest.mark.parametrize(("literal", "detail"), BAD_TIMESTAMPS)
def test_ts_in_any_other_form_is_a_schema_error(literal: str, detail: str) -> None:
    caught = rejection(*raw_with("meter telemetry", "ts", literal))
    assert caught.reason == "schema"
    assert caught.detail.startswith(detail)


# --- schema errors, one table per message type ---------------------------------------------

SCHEMA_ERRORS: list[tuple[str, str, str, str]] = [
    # (message type, field, raw JSON literal or ... to drop it, expected detail)
    ("meter telemetry", "v", "2", "v: must be 1"),
    ("meter telemetry", "v", "true", "v: must be an integer"),
    ("meter telemetry", "v", "1.0", "v: must be an integer"),
    ("meter telemetry", "v", '"1"', "v: must be an integer"),
    ("meter telemetry", "v", "...", "v: required"),
    ("meter telemetry", "ts", "...", "ts: required"),
    ("meter telemetry", "seq", "...", "seq: required"),
    ("meter telemetry", "seq", "-1", "seq: must be >= 0"),
    ("meter telemetry", "seq", "4294967296", "seq: must be <= 4294967295"),
    ("meter telemetry", "seq", "1.5", "seq: must be an integer"),
    ("meter telemetry", "energy_wh", "-1", "energy_wh: must be >= 0"),
    ("meter telemetry", "energy_wh", "1.0", "energy_wh: must be an integer"),
    ("meter telemetry", "energy_wh", '"1"', "energy_wh: must be an integer"),
    ("meter telemetry", "energy_wh", "true", "energy_wh: must be an integer"),
    ("meter telemetry", "energy_wh", "9223372036854775808", "energy_wh: must be <= 9223372036854775807"),
    ("meter telemetry", "energy_wh", "...", "energy_wh: required"),
    ("meter telemetry", "power_w", '"1.5"', "power_w: must be a number"),
    ("meter telemetry", "power_w", "false", "power_w: must be a number"),
    ("meter telemetry", "power_w", "-0.5", "power_w: must be >= 0"),
    ("meter telemetry", "power_w", "1e999999", "power_w: must be <= 1000000000"),
    ("meter telemetry", "voltage_v", "[230]", "voltage_v: must be a number"),
    ("meter telemetry", "frequency_hz", "-50", "frequency_hz: must be >= 0"),
    ("meter telemetry", "temp_c", "-300", "temp_c: must be >= -273.15"),
    ("bin telemetry", "fill_pct", "101", "fill_pct: must be <= 100"),
    ("bin telemetry", "fill_pct", "-1", "fill_pct: must be >= 0"),
    ("bin telemetry", "fill_pct", "...", "fill_pct: required"),
    ("bin telemetry", "weight_kg", "-0.001", "weight_kg: must be >= 0"),
    ("bin telemetry", "weight_kg", '"0.1"', "weight_kg: must be a number"),
    ("bin telemetry", "weight_kg", "100000.001", "weight_kg: must be <= 100000"),
    ("bin telemetry", "battery_pct", "100.5", "battery_pct: must be <= 100"),
    ("bin telemetry", "rssi_dbm", '"-70"', "rssi_dbm: must be a number"),
    ("deposit", "type", "...", "type: required"),
    ("deposit", "type", '"dump"', "type: must be one of 'deposit', 'collection'"),
    ("deposit", "event_id", '""', "event_id: at least 1 characters"),
    ("deposit", "event_id", json.dumps("e" * 65), "event_id: at most 64 characters"),
    ("deposit", "event_id", '"e\\u0000"', "event_id: invalid characters or format"),
    ("deposit", "event_id", '"e\\ud800"', "event_id: must be a valid Unicode string"),
    ("deposit", "event_id", "42", "event_id: must be a string"),
    ("deposit", "material", '"gold"', "material: must be 'pet', 'hdpe'"),
    ("deposit", "material", '"PET"', "material: must be 'pet', 'hdpe'"),
    ("deposit", "weight_g", "0", "weight_g: must be >= 1"),
    ("deposit", "weight_g", "50001", "weight_g: must be <= 50000"),
    ("deposit", "weight_g", "120.5", "weight_g: must be an integer"),
    ("deposit", "weight_g", "...", "weight_g: required"),
    ("deposit", "account", '"alice smith"', "account: invalid characters or format"),
    ("deposit", "account", '"@alice"', "account: invalid characters or format"),
    ("deposit", "items", "0", "items: must be >= 1"),
    ("deposit", "contaminated", '"no"', "contaminated: must be true or false"),
    ("deposit", "contaminated", "0", "contaminated: must be true or false"),
    ("collection", "weight_kg", "0", "weight_kg: must be > 0"),
    ("collection", "weight_kg", "0.0005", "weight_kg: at most 3 decimal places"),
    ("collection", "event_id", "...", "event_id: required"),
    ("collection", "collector", '"a\\nb"', "collector: invalid characters or format"),
    ("repair", "type", '"deposit"', "type: must be one of 'repair', 'replay_unavailable'"),
    ("repair", "type", "...", "type: required"),
    ("repair", "category", '"kettle"', "category: 'kettle' is not an allowed value"),
    ("repair", "category", '"Toaster oven"', "category: 'Toaster oven' is not an allowed value"),
    ("repair", "status", '"broken"', "status: must be 'fixed', 'repairable' or 'end_of_life'"),
    ("repair", "weight_kg", "0", "weight_kg: must be > 0"),
    ("repair", "weight_kg", "1.2345", "weight_kg: at most 3 decimal places"),
    ("repair", "owner", '"bob smith"', "owner: invalid characters or format"),
    ("repair", "repairer", '""', "repairer: invalid characters or format"),
    ("repair", "age_years", "-1", "age_years: must be >= 0"),
    ("repair", "problem", json.dumps("p" * 501), "problem: at most 500 characters"),
    ("repair", "problem", '"bell\\u0007"', "problem: invalid characters or format"),
    ("repair", "brand", '""', "brand: at least 1 characters"),
    ("repair", "brand", '"Bosch\\nSiemens"', "brand: invalid characters or format"),
    ("repair", "brand", json.dumps("b" * 101), "brand: at most 100 characters"),
    ("repair", "year_of_manufacture", "1849", "year_of_manufacture: must be >= 1850"),
    ("repair", "year_of_manufacture", '"2011"', "year_of_manufacture: must be an integer"),
    ("repair", "year_of_manufacture", "2026", "year_of_manufacture: after the year of ts (2025)"),
    ("repair", "barrier", '"broken"', "barrier: 'broken' is not an allowed value"),
    ("repair", "barrier", '"no_way_to_open"', "barrier: only with status end_of_life"),
    ("status", "state", '"sleeping"', "state: must be 'online' or 'offline'"),
    ("status", "state", "...", "state: required"),
    ("status", "seq", "-1", "seq: must be >= 0"),
    ("status", "uptime_s", "-1", "uptime_s: must be >= 0"),
    ("status", "uptime_s", "1.5", "uptime_s: must be an integer"),
    ("status", "fw", json.dumps("f" * 65), "fw: at most 64 characters"),
    ("status", "ts", '"2025-06-01T12:00:00"', "ts: needs a UTC offset"),
]


def _variant(name: str, field: str, literal: str) -> tuple[str, bytes]:
    return payload(name, **{field: ...}) if literal == "..." else raw_with(name, field, literal)


@pytest.mark.parametrize(("name", "field", "literal", "detail"), SCHEMA_ERRORS)
def test_a_field_breaking_its_rule_is_a_schema_error_naming_the_field(
    name: str, field: str, literal: str, detail: str
) -> None:
    caught = rejection(*_variant(name, field, literal))
    assert caught.reason == "schema"
    assert caught.detail.startswith(detail), caught.detail


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_an_unknown_field_is_rejected_by_name(name: str) -> None:
    caught = rejection(*raw_with(name, "wieght_kg", "1"))
    assert (caught.reason, caught.detail) == ("schema", "extra field 'wieght_kg' not allowed")


def test_the_detail_names_every_failing_field() -> None:
    topic, raw = raw_with("bin telemetry", "weight_kg", '1.2345, "wieght_kg": 1')
    caught = rejection(topic, raw)
    assert caught.detail == "weight_kg: at most 3 decimal places; extra field 'wieght_kg' not allowed"


def test_the_detail_stays_short_however_many_fields_fail() -> None:
    junk = {f"unknown_field_{i}_{'x' * 60}": i for i in range(40)}
    caught = rejection(*payload("repair", **junk, weight_kg="heavy", status=3, seq=-4))
    assert caught.reason == "schema"
    assert len(caught.detail) <= 300
    assert "more" in caught.detail


def test_a_repeated_key_is_a_schema_error() -> None:
    caught = rejection(STATUS, b'{"v":1,"state":"online","state":"offline"}')
    assert (caught.reason, caught.detail) == ("schema", "state: repeated key")


def test_a_bin_event_detail_names_the_field_not_the_union_branch() -> None:
    caught = rejection(*payload("collection", weight_kg=0))
    assert caught.detail == "weight_kg: must be > 0"


# --- the other reasons, in order -------------------------------------------------------------

OTHER_REJECTIONS = [
    (b" " * (DEFAULT_MAX_PAYLOAD_BYTES + 1), "too_large", "8193 bytes, limit 8192"),
    (b"\xff" * (DEFAULT_MAX_PAYLOAD_BYTES + 1), "too_large", "8193 bytes"),
    (b"\xff", "not_utf8", "invalid UTF-8 at byte 0"),
    (b'{"v":1,"state":"\xc3"}', "not_utf8", "invalid UTF-8 at byte 16"),
    (b"\xed\xa0\x80", "not_utf8", "invalid UTF-8"),
    (b"\xef\xbb\xbf{}", "not_json", "BOM"),
    (b"", "not_json", "Expecting value"),
    (b"{", "not_json", "Expecting property name"),
    (b'{"v":1,}', "not_json", "Expecting property name"),
    (b'{"v":1} x', "not_json", "Extra data"),
    (b"{'v':1}", "not_json", "Expecting property name"),
    (b'{"v":NaN}', "not_json", "NaN is not JSON"),
    (b'{"v":Infinity}', "not_json", "Infinity is not JSON"),
    (b'{"v":-Infinity}', "not_json", "-Infinity is not JSON"),
    (b"[" * 5000, "not_json", "nested too deeply"),
    (b'{"v":' + b"9" * 5000 + b"}", "not_json", "digits"),
    (b"[]", "not_json", "a JSON array, not an object"),
    (b'"v"', "not_json", "a JSON string, not an object"),
    (b"1", "not_json", "a JSON number, not an object"),
    (b"1.5", "not_json", "a JSON number, not an object"),
    (b"null", "not_json", "a JSON null, not an object"),
    (b"true", "not_json", "a JSON boolean, not an object"),
    (b"{}", "schema", "v: required"),
]


@pytest.mark.parametrize(("raw", "reason", "detail"), OTHER_REJECTIONS)
def test_size_encoding_and_json_are_checked_before_the_schema(raw: bytes, reason: str, detail: str) -> None:
    caught = rejection(STATUS, raw)
    assert caught.reason == reason
    assert detail in caught.detail


def test_the_size_limit_is_configurable() -> None:
    raw = b'{"v":1,"state":"offline"}'
    assert parse(STATUS, raw, max_bytes=len(raw)).state == "offline"
    assert rejection(STATUS, raw, max_bytes=len(raw) - 1).reason == "too_large"


@pytest.mark.parametrize(
    ("kind", "channel"), [("meter", "status-x"), ("repair", "telemetry"), ("solar", "status")]
)
def test_a_hand_built_topic_with_an_undefined_pair_is_rejected_as_topic(kind: str, channel: str) -> None:
    with pytest.raises(Rejection) as caught:
        parse_payload(Topic(kind, "dev-1", channel), b'{"v":1,"state":"online"}')
    assert caught.value.reason == "topic"


def test_a_rejection_only_carries_spec_reason_codes() -> None:
    with pytest.raises(ValueError, match="unknown rejection reason"):
        Rejection("bad_vibes", "detail")
