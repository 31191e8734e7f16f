"""Invariants of the wire contract: any input ends in a message or a Rejection; valid messages round-trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from circulo_schemas import encode_payload
from circulo_schemas.errors import Rejection
from circulo_schemas.payloads import (
    MATERIALS,
    BinTelemetry,
    CollectionEvent,
    DepositEvent,
    MeterTelemetry,
    RepairEvent,
    StatusMessage,
)
from circulo_schemas.repair_categories import CATEGORIES
from circulo_schemas.topics import ACCOUNT_PATTERN, DEFINED_PAIRS, Topic, parse_topic
from circulo_schemas.validate import parse_payload

PAYLOAD_REASONS = {"too_large", "not_utf8", "not_json", "schema"}
TOPICS = [Topic(kind, "dev-1", channel) for kind, channel in sorted(DEFINED_PAIRS)]


def outcome(topic: Topic, raw: bytes) -> str:
    """The model name or the rejection reason; anything else raised fails the test."""
    try:
        return type(parse_payload(topic, raw)).__name__
    except Rejection as e:
        assert e.reason in PAYLOAD_REASONS
        assert len(e.detail) <= 300
        return e.reason


@given(st.sampled_from(TOPICS), st.binary(max_size=600))
def test_arbitrary_bytes_end_in_a_message_or_a_rejection(topic: Topic, raw: bytes) -> None:
    outcome(topic, raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
FIELD_NAMES = ["v", "ts", "seq", "type", "event_id", "weight_kg", "weight_g", "state", "power_w", "energy_wh"]


@given(
    st.sampled_from(TOPICS),
    st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), json_values, max_size=8),
)
def test_arbitrary_json_objects_end_in_a_message_or_a_rejection(
    topic: Topic, document: dict[str, Any]
) -> None:
    outcome(topic, json.dumps(document).encode())


@given(st.text(max_size=80))
def test_arbitrary_topics_parse_or_are_rejected_as_topic(text: str) -> None:
    try:
        parse_topic(text)
    except Rejection as e:
        assert e.reason == "topic"


# --- valid messages --------------------------------------------------------------------------

# hypothesis takes naive bounds and attaches the time zones itself
timestamps = st.datetimes(
    min_value=datetime(1970, 1, 1),  # noqa: DTZ001
    max_value=datetime(9999, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
seqs = st.integers(0, 2**32 - 1)
kilograms = st.integers(0, 100_000_000).map(lambda grams: Decimal(grams).scaleb(-3))
positive_kilograms = st.integers(1, 100_000_000).map(lambda grams: Decimal(grams).scaleb(-3))
line = st.text(st.characters(min_codepoint=0x20, exclude_categories=("Cs",), exclude_characters="\x7f"))
accounts = st.from_regex(ACCOUNT_PATTERN.removesuffix("$") + r"\Z")


def measurements(low: str, high: str) -> st.SearchStrategy[Decimal]:
    return st.decimals(Decimal(low), Decimal(high), places=6, allow_nan=False, allow_infinity=False)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


common = {"v": st.just(1), "ts": timestamps, "seq": seqs}
messages: st.SearchStrategy[BaseModel] = st.one_of(
    st.builds(
        MeterTelemetry,
        **common,
        energy_wh=st.integers(0, 2**63 - 1),
        power_w=measurements("0", "1e9"),
        voltage_v=optional(measurements("-1e9", "1e9")),
        frequency_hz=optional(measurements("0", "1e9")),
        temp_c=optional(measurements("-273.15", "1000")),
    ),
    st.builds(
        BinTelemetry,
        **common,
        fill_pct=measurements("0", "100"),
        weight_kg=kilograms,
        battery_pct=optional(measurements("0", "100")),
        rssi_dbm=optional(measurements("-200", "20")),
    ),
    st.builds(
        DepositEvent,
        **common,
        type=st.just("deposit"),
        event_id=line.filter(lambda text: 1 <= len(text) <= 64),
        material=st.sampled_from(MATERIALS),
        weight_g=st.integers(1, 50_000),
        account=optional(accounts),
        items=optional(st.integers(1, 1000)),
        contaminated=st.booleans(),
    ),
    st.builds(
        CollectionEvent,
        **common,
        type=st.just("collection"),
        event_id=st.text("abc-0123456789", min_size=1, max_size=64),
        weight_kg=positive_kilograms,
        collector=optional(line.filter(lambda text: len(text) <= 200)),
    ),
    st.builds(
        RepairEvent,
        **common,
        type=st.just("repair"),
        event_id=st.text("abc-0123456789", min_size=1, max_size=64),
        category=st.sampled_from(sorted(CATEGORIES)),
        status=st.sampled_from(["fixed", "repairable", "end_of_life"]),
        weight_kg=positive_kilograms,
        owner=optional(accounts),
        repairer=optional(accounts),
        age_years=optional(measurements("0", "200")),
        problem=optional(
            st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from("\t\r\n"), max_size=500)
        ),
    ),
    st.builds(
        StatusMessage,
        v=st.just(1),
        state=st.sampled_from(["online", "offline"]),
        ts=optional(timestamps),
        seq=optional(seqs),
        fw=optional(line.filter(lambda text: len(text) <= 64)),
        uptime_s=optional(st.integers(0, 2**63 - 1)),
    ),
)

TOPIC_OF = {
    MeterTelemetry: Topic("meter", "m-1", "telemetry"),
    BinTelemetry: Topic("bin", "b-1", "telemetry"),
    DepositEvent: Topic("bin", "b-1", "event"),
    CollectionEvent: Topic("bin", "b-1", "event"),
    RepairEvent: Topic("repair", "r-1", "event"),
    StatusMessage: Topic("bin", "b-1", "status"),
}


@given(messages)
def test_a_valid_message_survives_encoding_and_parsing_unchanged(message: BaseModel) -> None:
    assert parse_payload(TOPIC_OF[type(message)], encode_payload(message)) == message


@given(messages, st.text(min_size=1, max_size=20))
def test_a_valid_message_with_an_unknown_field_is_a_schema_error(message: BaseModel, key: str) -> None:
    document = json.loads(encode_payload(message))
    if key in document or key in type(message).model_fields:
        return
    document[key] = 1
    assert outcome(TOPIC_OF[type(message)], json.dumps(document).encode()) == "schema"


@given(st.integers(0, 100_000_000))
def test_weight_g_is_exactly_the_grams_of_weight_kg(grams: int) -> None:
    literal = format(Decimal(grams).scaleb(-3), "f")
    raw = f'{{"v":1,"ts":0,"seq":0,"fill_pct":1,"weight_kg":{literal}}}'.encode()
    message = parse_payload(TOPIC_OF[BinTelemetry], raw)
    assert isinstance(message, BinTelemetry)
    assert message.weight_g == grams
