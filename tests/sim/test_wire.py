"""Every payload the simulator writes obeys the wire contract; garbled ones fail as planned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.sim.sim_factories import small_fleet, utc

from circulo_schemas import parse_payload, parse_topic
from circulo_schemas.errors import Rejection
from circulo_sim.faults import SCHEMA_BREAKS, FaultRates, malformed
from circulo_sim.plan import build_device, device_messages
from circulo_sim.seeding import stream
from circulo_sim.wire import MESSAGE_TYPES, OFFLINE_WILL, status_payload

NO_FAULTS = FaultRates()


def day_of_messages(seed: int, day_offset: int = 0) -> list:
    fleet = small_fleet(seed=seed, meters=1, bins=2, repairs=2)
    start = utc(2026, 10, 31) + timedelta(days=day_offset)
    out = []
    for spec in fleet.devices:
        device = build_device(spec, fleet.members, seed)
        out += [m for m, _, _ in device_messages(device, start, start + timedelta(days=1), NO_FAULTS, seed)]
    return out


@settings(max_examples=6)
@given(seed=st.integers(0, 2**31), day_offset=st.integers(0, 20))
def test_every_message_of_a_simulated_day_passes_the_contract(seed: int, day_offset: int) -> None:
    messages = day_of_messages(seed, day_offset)
    assert {m.message_type for m in messages} >= {"meter_telemetry", "bin_telemetry", "deposit"}
    for message in messages:
        parsed = parse_payload(parse_topic(message.topic), message.payload())
        assert parsed.seq == message.seq
        assert parsed.ts == message.ts


def test_a_devices_seq_counts_its_messages_from_zero() -> None:
    messages = [m for m in day_of_messages(1) if m.device_id == "b1"]
    assert [m.seq for m in messages] == list(range(len(messages)))


def test_weights_are_written_with_at_most_three_decimals_and_numbers_never_as_floats_noise() -> None:
    for message in day_of_messages(2):
        text = message.payload().decode()
        assert "e-" not in text and "E" not in text.replace("Error", "")
        if '"weight_kg":' in text:
            number = text.split('"weight_kg":')[1].split(",")[0].rstrip("}")
            assert len(number.split(".")[1]) <= 3


@pytest.mark.parametrize("state", ["online", "offline"])
def test_status_messages_and_the_last_will_pass_the_contract(state: str) -> None:
    for kind in ("meter", "bin", "repair"):
        topic = parse_topic(f"circulo/v1/{kind}/x1/status")
        assert parse_payload(topic, status_payload(state, reason="test")).state == state
        assert parse_payload(topic, OFFLINE_WILL).state == "offline"
    assert OFFLINE_WILL == b'{"v":1,"state":"offline"}'


@pytest.mark.parametrize("message_type", sorted(SCHEMA_BREAKS))
def test_a_malformed_payload_is_refused_for_the_reason_the_plan_says(message_type: str) -> None:
    sample = next(m for m in day_of_messages(3) + day_of_messages(3, 5) if m.message_type == message_type)
    for n in range(12):
        payload, reason = malformed(sample, stream(0, "test", n))
        with pytest.raises(Rejection) as refused:
            parse_payload(parse_topic(sample.topic), payload)
        assert refused.value.reason == reason


def test_every_message_type_is_named() -> None:
    types = {m.message_type for m in day_of_messages(4) + day_of_messages(4, 6)}
    assert types <= set(MESSAGE_TYPES)
