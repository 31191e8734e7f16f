"""The plan: delivery and register faults, labels, order and determinism (pure)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
from tests.sim.sim_factories import small_fleet, utc

from circulo_schemas import parse_payload, parse_topic
from circulo_sim.errors import ConfigError
from circulo_sim.faults import CLOCK_AHEAD, FaultRates
from circulo_sim.plan import GoOffline, GoOnline, Publish, build_device, device_actions, fleet_actions

START, END = utc(2026, 11, 10), utc(2026, 11, 11)


def plan(rates: FaultRates, *, seed: int = 1, device: str | None = None, end=END) -> list:
    fleet = small_fleet(seed=seed)
    if device is None:
        return list(fleet_actions(fleet, START, end, seed=seed, rates=rates))
    spec = next(d for d in fleet.devices if d.device_id == device)
    peers = [f"{d.kind}/{d.device_id}" for d in fleet.devices]
    return list(
        device_actions(
            build_device(spec, fleet.members, seed), START, end, seed=seed, rates=rates, peers=peers
        )
    )


def publishes(actions: list) -> list[Publish]:
    return [a for a in actions if isinstance(a, Publish)]


def doc(publish: Publish) -> dict:
    return json.loads(publish.payload)


def test_without_faults_every_message_is_expected_stored_and_time_ordered() -> None:
    actions = plan(FaultRates())
    assert all(
        isinstance(a, Publish) and a.label.expected == "stored" and a.label.fault is None for a in actions
    )
    assert [a.at for a in actions] == sorted(a.at for a in actions)
    assert Counter(a.label.message_type for a in actions)["meter_telemetry"] == 2 * 1440


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    rates = FaultRates(duplicate=0.01, out_of_order=0.01, malformed=0.01, offline=0.001, counter_reset=0.001)
    assert plan(rates, seed=4) == plan(rates, seed=4)
    assert plan(rates, seed=4) != plan(rates, seed=5)


def test_a_duplicate_is_the_same_bytes_sent_again() -> None:
    sent = publishes(plan(FaultRates(duplicate=0.05), device="b1"))
    copies = [i for i, p in enumerate(sent) if p.label.expected == "duplicate"]
    assert copies
    for i in copies:
        assert sent[i - 1].payload == sent[i].payload and sent[i - 1].label.expected == "stored"


def test_an_out_of_order_message_arrives_after_up_to_three_later_ones() -> None:
    sent = publishes(plan(FaultRates(out_of_order=0.05), device="m1"))
    seqs = [doc(p)["seq"] for p in sent]
    late = [i for i, p in enumerate(sent) if p.label.fault == "out_of_order"]
    assert late
    for i in late:
        assert 1 <= sum(s > seqs[i] for s in seqs[:i]) <= 3
    assert sorted(seqs) == list(range(len(seqs)))  # nothing lost, nothing doubled


def test_a_clock_ahead_message_is_stamped_a_year_ahead_and_expected_in_quarantine() -> None:
    sent = publishes(plan(FaultRates(clock_ahead=0.02), device="m1"))
    ahead = [p for p in sent if p.label.fault == "clock_ahead"]
    assert ahead and all(p.label.expected == "quarantined:clock_skew" for p in ahead)
    for p in ahead:
        ts = parse_payload(parse_topic(p.topic), p.payload).ts
        assert ts - p.at == CLOCK_AHEAD


def test_a_clock_behind_message_keeps_a_timestamp_no_regular_reading_has() -> None:
    sent = publishes(plan(FaultRates(clock_behind=0.05), device="m1"))
    behind = [p for p in sent if p.label.fault == "clock_behind"]
    regular = {doc(p)["ts"] for p in sent if p.label.fault is None}
    assert behind
    for p in behind:
        ts = parse_payload(parse_topic(p.topic), p.payload).ts
        assert timedelta(minutes=2) <= p.at - ts <= timedelta(hours=3, seconds=1)
        assert doc(p)["ts"] not in regular
        assert p.label.expected == "stored"


def test_malformed_messages_expect_not_json_or_schema() -> None:
    sent = publishes(plan(FaultRates(malformed=0.05)))
    reasons = Counter(p.label.expected for p in sent if p.label.fault == "malformed")
    assert set(reasons) == {"quarantined:not_json", "quarantined:schema"}


def test_an_impersonation_goes_to_another_devices_topic_and_expects_refusal() -> None:
    sent = publishes(plan(FaultRates(impersonate=0.02), device="m1"))
    fakes = [i for i, p in enumerate(sent) if p.label.expected == "refused"]
    assert fakes
    for i in fakes:
        assert sent[i].topic.startswith("circulo/v1/meter/m2/")
        assert sent[i - 1].topic.startswith("circulo/v1/meter/m1/") and sent[i - 1].label.expected == "stored"
        assert sent[i].payload == sent[i - 1].payload


def test_an_offline_period_is_announced_then_ended_and_every_message_still_planned() -> None:
    actions = plan(FaultRates(offline=0.003, offline_minutes=30), device="b1")
    downs = [a for a in actions if isinstance(a, GoOffline)]
    ups = [a for a in actions if isinstance(a, GoOnline)]
    assert downs and len(downs) == len(ups)
    for down, up in zip(downs, ups, strict=True):
        assert down.at < up.at <= max(down.until, actions[-1].at)
    seqs = [doc(p)["seq"] for p in publishes(actions)]
    assert seqs == list(range(len(seqs)))


def test_a_counter_reset_restarts_the_register_from_zero() -> None:
    sent = publishes(plan(FaultRates(counter_reset=0.002), device="m1"))
    registers = [doc(p)["energy_wh"] for p in sent]
    resets = [i for i, p in enumerate(sent) if p.label.fault == "counter_reset"]
    assert resets
    for i in resets:
        assert registers[i] == 0
        assert sent[i].label.expected == "stored"
    falls = [i for i in range(1, len(registers)) if registers[i] < registers[i - 1]]
    assert falls == [i for i in resets if i > 0 and registers[i - 1] > 0]


def test_an_implausible_reading_exceeds_the_plausibility_rule_and_the_register_keeps_growing() -> None:
    fleet = small_fleet()
    rated = next(d.rated_power_w for d in fleet.devices if d.device_id == "m1")
    sent = publishes(plan(FaultRates(implausible=0.002), device="m1"))
    spikes = [i for i, p in enumerate(sent) if p.label.fault == "implausible"]
    assert spikes
    for i in spikes[1:]:
        delta_wh = doc(sent[i])["energy_wh"] - doc(sent[i - 1])["energy_wh"]
        delta_ms = 60_000
        assert delta_wh * 360_000_000 > rated * delta_ms * 110 + 360_000_000  # SPEC §4
    registers = [doc(p)["energy_wh"] for p in sent]
    assert registers == sorted(registers)


def test_fault_rates_are_checked() -> None:
    with pytest.raises(ConfigError, match="between 0 and 1"):
        FaultRates(duplicate=1.5)
    with pytest.raises(ConfigError, match="more than 1"):
        FaultRates(duplicate=0.6, malformed=0.6)


def test_a_plan_without_an_end_keeps_going() -> None:
    fleet = small_fleet(meters=1, bins=0, repairs=0)
    actions = fleet_actions(fleet, START, None, seed=1, rates=FaultRates())
    taken = [next(actions) for _ in range(3 * 1440)]
    assert taken[-1].at == START + timedelta(minutes=3 * 1440 - 1)
