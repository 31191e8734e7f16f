"""The topic grammar (SPEC §1), from tables."""

from __future__ import annotations

import pytest

from circulo_schemas.errors import Rejection
from circulo_schemas.topics import (
    DEFINED_PAIRS,
    Topic,
    device_topic,
    device_topic_filter,
    is_account,
    parse_topic,
)

VALID = [
    ("circulo/v1/meter/meter-0042/telemetry", Topic("meter", "meter-0042", "telemetry")),
    ("circulo/v1/meter/M_1/status", Topic("meter", "M_1", "status")),
    ("circulo/v1/bin/b/telemetry", Topic("bin", "b", "telemetry")),
    ("circulo/v1/bin/bin-0007/event", Topic("bin", "bin-0007", "event")),
    ("circulo/v1/bin/0/status", Topic("bin", "0", "status")),
    ("circulo/v1/repair/repair-cafe-1/event", Topic("repair", "repair-cafe-1", "event")),
    ("circulo/v1/repair/R/status", Topic("repair", "R", "status")),
    (f"circulo/v1/meter/a{'b' * 63}/telemetry", Topic("meter", "a" + "b" * 63, "telemetry")),
]

# topic -> a word the detail must contain
INVALID = [
    ("circulo/v2/meter/m1/telemetry", "circulo/v1"),
    ("circ/v1/meter/m1/telemetry", "circulo/v1"),
    ("/circulo/v1/meter/m1/telemetry", "circulo/v1"),
    ("circulo/v1/meter/m1", "circulo/v1"),
    ("circulo/v1/meter/m1/telemetry/extra", "circulo/v1"),
    ("circulo/v1/meter/m1/telemetry/", "circulo/v1"),
    ("", "circulo/v1"),
    ("circulo/v1/solar/m1/telemetry", "kind"),
    ("circulo/v1/Meter/m1/telemetry", "kind"),
    ("circulo/v1/meter/m1/readings", "channel"),
    ("circulo/v1/meter/m1/+", "channel"),
    ("circulo/v1/meter/-m1/telemetry", "device id"),
    ("circulo/v1/meter/_m1/telemetry", "device id"),
    ("circulo/v1/meter//telemetry", "device id"),
    (f"circulo/v1/meter/a{'b' * 64}/telemetry", "device id"),
    ("circulo/v1/meter/m 1/telemetry", "device id"),
    ("circulo/v1/meter/m.1/telemetry", "device id"),
    ("circulo/v1/meter/mé/telemetry", "device id"),
    ("circulo/v1/meter/m1\n/telemetry", "device id"),
    ("circulo/v1/meter/#/telemetry", "device id"),
    ("circulo/v1/repair/m1/telemetry", "no telemetry messages are defined for kind repair"),
    ("circulo/v1/repair/r1/telemetry", "no telemetry messages are defined for kind repair"),
]


@pytest.mark.parametrize(("topic", "expected"), VALID)
def test_a_topic_on_the_grammar_parses_into_its_parts(topic: str, expected: Topic) -> None:
    parsed = parse_topic(topic)
    assert parsed == expected
    assert parsed.pair == (expected.kind, expected.channel)
    assert str(parsed) == topic


@pytest.mark.parametrize(("topic", "word"), INVALID)
def test_a_topic_off_the_grammar_is_rejected_with_reason_topic(topic: str, word: str) -> None:
    with pytest.raises(Rejection) as caught:
        parse_topic(topic)
    assert caught.value.reason == "topic"
    assert word in caught.value.detail


def test_a_rejected_topic_detail_is_short_and_escaped() -> None:
    with pytest.raises(Rejection) as long_topic:
        parse_topic("x/" * 5000)
    with pytest.raises(Rejection) as control_char:
        parse_topic("circulo/v1/meter/m\x00/telemetry")
    assert len(long_topic.value.detail) <= 300
    assert control_char.value.detail == "invalid device id 'm\\x00'"


def test_exactly_the_spec_pairs_are_defined() -> None:
    assert {
        ("meter", "telemetry"),
        ("bin", "telemetry"),
        ("bin", "event"),
        ("repair", "event"),
        ("meter", "event"),  # v2 replay_unavailable only (SPEC §11)
        ("meter", "status"),
        ("bin", "status"),
        ("repair", "status"),
    } == DEFINED_PAIRS


@pytest.mark.parametrize(("kind", "channel"), sorted(DEFINED_PAIRS))
def test_device_topic_builds_what_parse_topic_reads(kind: str, channel: str) -> None:
    assert parse_topic(device_topic(kind, "dev-1", channel)) == Topic(kind, "dev-1", channel)


def test_the_device_topic_filter_covers_one_device_tree() -> None:
    assert device_topic_filter("bin", "bin-0007") == "circulo/v1/bin/bin-0007/#"


@pytest.mark.parametrize(
    ("account", "valid"),
    [
        ("alice", True),
        ("treasury@coop-1", True),
        ("a.b_c-d@e", True),
        ("A" * 128, True),
        ("A" * 129, False),
        ("@alice", False),
        ("", False),
        ("alice bob", False),
        ("alice\n", False),
    ],
)
def test_account_ids_follow_the_spec_pattern(account: str, valid: bool) -> None:
    assert is_account(account) is valid
