"""The emulated Shelly and Tasmota firmwares (SPEC §10), checked against the ingest's translators.

The translators are held to the firmware's documented and captured payloads
(tests/ingest/test_profile_translation.py); here every message a simulated day of each
family publishes must come out of them as what the simulator says it is.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from tests.sim.sim_factories import utc

from circulo.ingest.classify import Limits, RegisteredDevice, classify
from circulo.ingest.records import Ignored, Received, Rejected, Valid
from circulo_schemas.payloads import MeterTelemetry, StatusMessage
from circulo_schemas.topics import address_of
from circulo_sim.faults import FaultRates
from circulo_sim.firmware import shelly, tasmota
from circulo_sim.firmware.common import COPY, INFO, STATUS
from circulo_sim.fleet import DeviceSpec, Fleet, locate
from circulo_sim.plan import build_device, device_actions, device_messages
from circulo_sim.transport import connect_publishes, will_of

DAY = utc(2026, 6, 20)
WIDE_OPEN = Limits(clock_skew=timedelta(days=400), max_age=timedelta(days=3650))


def device_with(profile: str, family: str | None = None) -> DeviceSpec:
    """A meter of ``profile`` (of the Shelly ``family`` asked for)."""
    for n in range(200):
        device_id = f"{profile[:2]}{n}"
        if family is None or shelly.family_of(device_id) == family:
            return DeviceSpec(device_id, "meter", rated_power_w=3000, profile=profile)
    raise AssertionError("no id of that family")


def judge(spec: DeviceSpec, topic: str, payload: bytes) -> object:
    registry = {spec.device_id: RegisteredDevice("meter", False, spec.profile)}
    received = Received(topic, payload, DAY + timedelta(days=1), 1, 0)
    return classify(received, address_of(topic), registry, WIDE_OPEN)


def day_of(spec: DeviceSpec, hours: int = 24, rates: FaultRates | None = None) -> list:  # type: ignore[type-arg]
    fleet = locate(Fleet("c1", (spec,), ("member@c1",)), 1)
    device = build_device(fleet.devices[0], fleet.members, 1)
    return list(device_messages(device, DAY, DAY + timedelta(hours=hours), rates or FaultRates(), 1))


FAMILIES = [("shelly-gen2", f) for f in shelly.FAMILIES] + [("tasmota", None)]


@pytest.mark.parametrize(("profile", "family"), FAMILIES, ids=[f"{p}-{f}" for p, f in FAMILIES])
def test_every_message_of_an_emulated_day_translates_to_what_the_simulator_says_it_is(
    profile: str, family: str | None
) -> None:
    spec = device_with(profile, family)
    readings = 0
    for primary, companions, _fault in day_of(spec):
        stored = judge(spec, primary.topic, primary.payload())
        assert isinstance(stored, Valid) and isinstance(stored.message, MeterTelemetry), stored
        readings += 1
        for companion in companions:
            verdict = judge(spec, companion.message.topic, companion.message.payload())
            if companion.role == COPY:
                assert isinstance(verdict, Valid) and verdict.payload_sha256 == stored.payload_sha256
                assert verdict.message.ts == stored.message.ts
            elif companion.role == INFO:
                assert isinstance(verdict, Ignored), verdict
            else:
                assert companion.role == STATUS
                assert isinstance(verdict, Valid) and isinstance(verdict.message, StatusMessage)
    assert readings == 1440


@pytest.mark.parametrize(("profile", "family"), FAMILIES, ids=[f"{p}-{f}" for p, f in FAMILIES])
def test_the_register_the_ingest_reads_is_the_one_the_firmware_shows(
    profile: str, family: str | None
) -> None:
    spec = device_with(profile, family)
    fleet = locate(Fleet("c1", (spec,), ()), 1)
    device = build_device(fleet.devices[0], (), 1)
    records = list(device.records(DAY + timedelta(hours=11), DAY + timedelta(hours=12)))
    for (primary, _, _), record in zip(day_of(spec, hours=24)[11 * 60 : 12 * 60], records, strict=True):
        verdict = judge(spec, primary.topic, primary.payload())
        assert isinstance(verdict, Valid) and isinstance(verdict.message, MeterTelemetry)
        shown = tasmota.total_wh(record) if profile == "tasmota" else record.energy_wh  # type: ignore[arg-type]
        assert verdict.message.energy_wh == shown


def test_a_shelly_status_is_printed_as_the_captured_firmware_prints_it() -> None:
    spec = device_with("shelly-gen2", "switch")
    primary, (copy, *_), _ = day_of(spec, hours=13)[12 * 60]
    status = primary.payload().decode()
    assert re.fullmatch(
        r'\{"id":0, "source":"init", "output":true, "apower":\d+\.\d, "voltage":\d+\.\d, "freq":\d+\.\d, '
        r'"current":\d+\.\d{3}, "aenergy":\{"total":\d+\.\d{3},'
        r'"by_minute":\[\d+\.\d{3},\d+\.\d{3},\d+\.\d{3}\],'
        r'"minute_ts":\d{10}\},"temperature":\{"tC":-?\d+\.\d, "tF":-?\d+\.\d\}\}',
        status,
    ), status
    frame = json.loads(copy.message.payload())
    assert list(frame) == ["src", "dst", "method", "params"]
    assert frame["dst"] == f"circulo/v1/meter/{spec.device_id}/events" and frame["method"] == "NotifyStatus"
    assert list(frame["params"]["switch:0"]) == sorted(frame["params"]["switch:0"])
    assert re.search(rb'"ts":\d{10}\.\d\d,', copy.message.payload())


def test_a_tasmota_sensor_has_the_documented_fields_in_order_and_a_time_without_an_offset() -> None:
    documented = json.loads(
        '{"Time":"2018-02-15T17:37:10","ENERGY":{"TotalStartTime":"2018-11-14T18:39:40","Total":6.294,'
        '"Yesterday":5.340,"Today":0.954,"Period":217,"Power":2635,"ApparentPower":2650,'
        '"ReactivePower":282,"Factor":0.99,"Voltage":227,"Current":11.661}}'
    )  # tasmota docs/devices/Sonoff-Pow-R2.md
    primary, (state,), _ = day_of(device_with("tasmota"), hours=13)[12 * 60]
    sensor = json.loads(primary.payload())
    assert list(sensor) == list(documented) and list(sensor["ENERGY"]) == list(documented["ENERGY"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT12:00:00", sensor["Time"])
    assert re.search(rb'"Total":\d+\.\d{3},', primary.payload())
    assert json.loads(state.message.payload())["Time"] == sensor["Time"]


@pytest.mark.parametrize("profile", ["shelly-gen2", "tasmota"])
def test_the_boot_messages_will_and_commands_of_a_firmware_are_what_the_ingest_expects(profile: str) -> None:
    spec = device_with(profile)
    for publish in connect_publishes(spec, DAY, first=True):
        verdict = judge(spec, publish.topic, publish.payload)
        if publish.label.expected == "ignored":
            assert isinstance(verdict, Ignored), publish
        elif publish.label.expected == "refused":  # Tasmota's empty cmnd/POWER: the broker refuses it
            assert publish.topic.endswith("/cmnd/POWER") and publish.payload == b""
        else:
            assert isinstance(verdict, Valid) and verdict.message.state == "online"  # type: ignore[union-attr]
    topic, payload = will_of(spec)
    will = judge(spec, topic, payload)
    assert isinstance(will, Valid) and will.message.state == "offline"  # type: ignore[union-attr]


@pytest.mark.parametrize(("profile", "family"), FAMILIES, ids=[f"{p}-{f}" for p, f in FAMILIES])
def test_faults_on_an_emulated_firmware_get_the_outcome_the_plan_labels_them_with(
    profile: str, family: str | None
) -> None:
    spec = device_with(profile, family)
    fleet = locate(Fleet("c1", (spec,), ()), 1)
    device = build_device(fleet.devices[0], (), 1)
    rates = FaultRates(malformed=0.05, clock_ahead=0.05, glitch=0.02)
    limits = Limits()  # judged against the time they are sent
    seen: set[str] = set()
    for action in device_actions(device, DAY, DAY + timedelta(hours=6), seed=1, rates=rates):
        if not hasattr(action, "payload"):
            continue
        registry = {spec.device_id: RegisteredDevice("meter", False, spec.profile)}
        received = Received(action.topic, action.payload, action.at + timedelta(seconds=1), 1, 0)
        verdict = classify(received, address_of(action.topic), registry, limits)
        expected = action.label.expected
        seen.add(action.label.fault or expected)
        if expected.startswith("quarantined:"):
            assert isinstance(verdict, Rejected) and verdict.reason == expected.split(":")[1], verdict
        elif expected == "ignored":
            assert isinstance(verdict, Ignored)
        else:
            assert isinstance(verdict, Valid), (action, verdict)
    assert {"malformed", "clock_ahead", "glitch"} <= seen
